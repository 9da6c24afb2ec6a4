import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// Opens WebSocket connections over NIO: an HTTP/1.1 upgrade (RFC 6455 section 4), then a
/// ``WebSocketClientHandler`` on the upgraded channel.
public enum WebSocketClient {
    /// The result of an upgrade attempt.
    public enum Upgrade: Sendable {
        /// The server switched protocols; the channel speaks WebSocket frames.
        case upgraded(any Channel)
        /// The server answered without upgrading (e.g. 400 for a bad topic name, 503 for a limit), with
        /// this body (the hub's `{"error":{"code","message"}}`), or closed without an answer (`nil`).
        case refused(status: Int?, body: String)
    }

    /// Connects to `host:port` and upgrades a GET of `path` to a WebSocket.
    /// - Parameters:
    ///   - headers: Extra request headers (e.g. `authorization`).
    ///   - maxFrameBytes: The largest single frame accepted.
    ///   - tls: Speak TLS with this context (`nil`: cleartext); offer `http/1.1` by ALPN in it.
    ///   - serverHostname: The name for TLS's server name indication and the certificate check (`nil`
    ///     for an IP address: the certificate is checked against the address connected to).
    ///   - onUpdate: Called on the channel's event loop for each message and once at the end.
    /// - Returns: Whether the upgrade happened, and the channel if it did.
    /// - Throws: The connection's error; for a failed TLS handshake, NIOSSL's error (not the closed
    ///   connection that follows it).
    public static func connect(
        host: String, port: Int, path: String, headers: [(String, String)] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, maxFrameBytes: Int = 1 << 20,
        tls: NIOSSLContext? = nil, serverHostname: String? = nil,
        onUpdate: @escaping @Sendable (WebSocketClientHandler.Update) -> Void
    ) async throws -> Upgrade {
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let requestHeaders = headers
        let tlsFailure = TLSFailure()
        let negotiation: EventLoopFuture<Negotiation> = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: serverHostname))
                        try channel.pipeline.syncOperations.addHandler(TLSFailureRecorder(failure: tlsFailure))
                    }
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
                            let status = channel.eventLoop.makePromise(of: Refusal.self)
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
        let result: Negotiation
        do {
            result = try await negotiation.get()
        } catch {
            // A failed handshake closes the connection, and the upgrade fails for that: report the cause.
            throw tlsFailure.error ?? error
        }
        switch result {
        case .upgraded(let channel):
            return .upgraded(channel)
        case .refused(let refusal):
            let refusal = (try? await refusal.get()) ?? Refusal(status: nil, body: "")
            if refusal.status == nil, let error = tlsFailure.error { throw error }
            return .refused(status: refusal.status, body: refusal.body)
        }
    }

    private enum Negotiation: Sendable {
        case upgraded(any Channel)
        case refused(EventLoopFuture<Refusal>)
    }

    fileprivate struct Refusal: Sendable {
        var status: Int?
        var body: String
    }

    /// Sends one text message on an upgraded channel (masked, from any thread).
    public static func send(_ text: String, on channel: any Channel) {
        let frame = WebSocketFrame(
            fin: true, opcode: .text, maskKey: .random(), data: channel.allocator.buffer(string: text))
        channel.writeAndFlush(frame, promise: nil)
    }
}

/// Reads the status and body (up to 64 KiB) of a response that did not upgrade, then closes the
/// connection.
private final class RefusalRecorder: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let refusal: EventLoopPromise<WebSocketClient.Refusal>
    private var status: Int?
    private var body = ByteBuffer()
    private var reported = false

    init(status: EventLoopPromise<WebSocketClient.Refusal>) {
        self.refusal = status
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = Int(head.status.code)
        case .body(var chunk):
            if self.body.readableBytes < 64 << 10 { self.body.writeBuffer(&chunk) }
        case .end:
            self.report()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.report()
        context.fireChannelInactive()
    }

    private func report() {
        guard !self.reported else { return }
        self.reported = true
        self.refusal.succeed(WebSocketClient.Refusal(status: self.status, body: String(buffer: self.body)))
    }
}

/// The error of a failed TLS handshake, kept for the caller: the upgrade only sees the connection close.
private final class TLSFailure: Sendable {
    private let stored = Mutex<(any Error)?>(nil)
    var error: (any Error)? { self.stored.withLock { $0 } }
    func record(_ error: any Error) { self.stored.withLock { $0 = $0 ?? error } }
}

/// Records the first TLS error caught behind the TLS handler, and passes it on.
private final class TLSFailureRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let failure: TLSFailure

    init(failure: TLSFailure) {
        self.failure = failure
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is NIOSSLExtraError { self.failure.record(error) }
        context.fireErrorCaught(error)
    }
}
