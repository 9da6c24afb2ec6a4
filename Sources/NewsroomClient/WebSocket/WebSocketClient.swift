import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Opens WebSocket connections over NIO: an HTTP/1.1 upgrade (RFC 6455 section 4), then a
/// ``WebSocketClientHandler`` on the upgraded channel.
public enum WebSocketClient {
    /// The result of an upgrade attempt.
    public enum Upgrade: Sendable {
        /// The server switched protocols; the channel speaks WebSocket frames.
        case upgraded(any Channel)
        /// The server answered without upgrading (e.g. 400 for a bad topic name, 503 for a limit).
        case refused(status: Int?)
    }

    /// Connects to `host:port` and upgrades a GET of `path` to a WebSocket.
    /// - Parameters:
    ///   - headers: Extra request headers (e.g. `authorization`).
    ///   - maxFrameBytes: The largest single frame accepted.
    ///   - onUpdate: Called on the channel's event loop for each message and once at the end.
    /// - Returns: Whether the upgrade happened, and the channel if it did.
    public static func connect(
        host: String, port: Int, path: String, headers: [(String, String)] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, maxFrameBytes: Int = 1 << 20,
        onUpdate: @escaping @Sendable (WebSocketClientHandler.Update) -> Void
    ) async throws -> Upgrade {
        let hostHeader = "\(host):\(port)"
        let requestHeaders = headers
        let negotiation: EventLoopFuture<Negotiation> = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<Negotiation>(
                        maxFrameSize: maxFrameBytes,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    WebSocketClientHandler(onUpdate: onUpdate))
                                return Negotiation.upgraded(channel)
                            }
                        })
                    var headers = HTTPHeaders()
                    headers.add(name: "host", value: hostHeader)
                    headers.add(name: "content-length", value: "0")
                    headers.add(contentsOf: requestHeaders)
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Negotiation>(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            // The refused response is passed on once this completes: read its status.
                            let status = channel.eventLoop.makePromise(of: Int?.self)
                            return channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(RefusalRecorder(status: status))
                                return Negotiation.refused(status.futureResult)
                            }
                        })
                    // The hub sends the replay right behind its 101: keep the bytes that follow the
                    // response in the same read (the default drops them).
                    var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                    pipeline.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: pipeline)
                }
            }
        switch try await negotiation.get() {
        case .upgraded(let channel):
            return .upgraded(channel)
        case .refused(let status):
            return .refused(status: try? await status.get())
        }
    }

    private enum Negotiation: Sendable {
        case upgraded(any Channel)
        case refused(EventLoopFuture<Int?>)
    }

    /// Sends one text message on an upgraded channel (masked, from any thread).
    public static func send(_ text: String, on channel: any Channel) {
        let frame = WebSocketFrame(
            fin: true, opcode: .text, maskKey: .random(), data: channel.allocator.buffer(string: text))
        channel.writeAndFlush(frame, promise: nil)
    }
}

/// Reads the status of a response that did not upgrade, then closes the connection.
private final class RefusalRecorder: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let status: EventLoopPromise<Int?>
    private var reported = false

    init(status: EventLoopPromise<Int?>) {
        self.status = status
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = self.unwrapInboundIn(data) {
            self.report(Int(head.status.code))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.report(nil)
        context.fireChannelInactive()
    }

    private func report(_ status: Int?) {
        guard !self.reported else { return }
        self.reported = true
        self.status.succeed(status)
    }
}
