import CoreMetrics
import Logging
import NIOCore

/// The first handler of every connection, next to the socket (or to TLS).
///
/// On HTTP/1.1 its context is where pre-framed bytes are written: an SSE subscriber writes the shared
/// chunk bytes of each event here (a WebSocket subscriber its shared frames), below NIO's encoders,
/// which would otherwise frame every write again per subscriber. It enforces the connection limits,
/// keeps the connection's ``ConnectionStatistics`` (bytes in and out, for the `connection closed` log
/// line) and the `newsroom_connections{transport}` gauge, and drops inbound bytes once the connection
/// is dedicated to a server-to-client stream.
final class ConnectionIOHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// The connection's figures, shared with its other handlers and sinks.
    let statistics = ConnectionStatistics()
    private let metrics: HTTPMetrics?
    private let logger: Logger
    private let limiter: ConnectionLimiter?
    private let onLimit: (String) -> Void
    private var holdsSlot = false
    private var rejected = false
    /// Set once the connection is dedicated to a server-to-client stream: inbound bytes are dropped.
    var discardInbound = false

    init(
        metrics: HTTPMetrics? = nil, logger: Logger = Logger(label: "newsroom.http"), limiter: ConnectionLimiter? = nil,
        onLimit: @escaping (String) -> Void = { _ in }
    ) {
        self.metrics = metrics
        self.logger = logger
        self.limiter = limiter
        self.onLimit = onLimit
    }

    /// Records what the connection speaks (and moves it between `newsroom_connections` gauges).
    func setTransport(_ transport: String) {
        if let previous = self.statistics.transport { self.metrics?.connections[previous]?.decrement() }
        self.statistics.transport = transport
        self.metrics?.connections[transport]?.increment()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.opened(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.opened(context: context)
        context.fireChannelActive()
    }

    private func opened(context: ChannelHandlerContext) {
        let statistics = self.statistics
        statistics.openedAt = .now()
        statistics.remote = context.channel.remoteAddress.map { "\($0)" } ?? "?"
        statistics.clientAddress = context.channel.remoteAddress?.ipAddress ?? "?"
        if let limiter = self.limiter {
            if let limit = limiter.acquire(statistics.clientAddress, channel: context.channel) {
                // Over a connection limit: a short answer, then close (nothing else is read).
                self.rejected = true
                self.onLimit(limit)
                statistics.closeReason = limit
                let body = #"{"error":{"code":"too_many_connections","message":"connection limit reached"}}"#
                let response =
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n"
                    + "content-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
                context.writeAndFlush(NIOAny(IOData.byteBuffer(ByteBuffer(string: response)))).assumeIsolated()
                    .whenComplete { _ in context.close(promise: nil) }
                return
            }
            self.holdsSlot = true
        }
        self.logger.debug("connection opened", metadata: ["newsroom.remote": "\(statistics.remote)"])
    }

    func channelInactive(context: ChannelHandlerContext) {
        let statistics = self.statistics
        if self.holdsSlot {
            self.holdsSlot = false
            self.limiter?.release(statistics.clientAddress, channel: context.channel)
        }
        if let transport = statistics.transport { self.metrics?.connections[transport]?.decrement() }
        self.logger.debug(
            "connection closed",
            metadata: [
                "newsroom.transport": "\(statistics.transport ?? "none")", "newsroom.remote": "\(statistics.remote)",
                "newsroom.duration_ms": "\((NIODeadline.now() - statistics.openedAt).nanoseconds / 1_000_000)",
                "newsroom.bytes_in": "\(statistics.bytesRead)", "newsroom.bytes_out": "\(statistics.bytesWritten)",
                "newsroom.events_delivered": "\(statistics.eventsDelivered)",
                "newsroom.close_reason": "\(statistics.closeReason ?? "peer_or_idle")",
            ])
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.rejected, !self.discardInbound else { return }
        let count = self.unwrapInboundIn(data).readableBytes
        self.statistics.bytesSinceLastHead += count
        self.statistics.bytesRead += count
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.statistics.bytesWritten += self.unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
    }
}
