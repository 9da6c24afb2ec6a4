import CoreMetrics
import Logging
import NIOCore

/// The first handler of every connection, next to the socket (or to TLS).
///
/// On HTTP/1.1 its context is where pre-framed bytes are written: an SSE subscriber writes the shared
/// chunk bytes of each event here (a WebSocket subscriber its shared frames), below NIO's encoders,
/// which would otherwise frame every write again per subscriber. It also notes whether bytes of a
/// request arrived since the last complete request head, so a request timeout can tell a slowloris
/// from an idle keep-alive connection; and it keeps the connection's figures for the
/// `connection closed` log line and the `newsroom_connections{transport}` gauge.
final class ConnectionIOHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// Bytes read since ``requestHeadReceived()`` was last called.
    private(set) var bytesSinceLastHead = 0
    /// Bytes read and written over the connection's life.
    private(set) var bytesRead = 0
    private(set) var bytesWritten = 0

    private let metrics: HTTPMetrics?
    private let logger: Logger
    private var openedAt = NIODeadline.now()
    private var remote = "?"
    /// `http1`, `http2` or `ws`, once known.
    private(set) var transport: String?
    /// Events delivered to this connection's subscriptions (added as each ends).
    var eventsDelivered = 0
    /// Why the connection closed, when the hub closed it (otherwise the peer did).
    var closeReason: String?

    private let limiter: ConnectionLimiter?
    private var holdsSlot = false
    private var rejected = false
    /// Set once the connection is dedicated to a server-to-client stream: inbound bytes are dropped.
    var discardInbound = false

    init(metrics: HTTPMetrics? = nil, logger: Logger = Logger(label: "newsroom.http"), limiter: ConnectionLimiter? = nil) {
        self.metrics = metrics
        self.logger = logger
        self.limiter = limiter
    }

    /// Records what the connection speaks (and moves it between `newsroom_connections` gauges).
    func setTransport(_ transport: String) {
        if let previous = self.transport { self.metrics?.connections[previous]?.decrement() }
        self.transport = transport
        self.metrics?.connections[transport]?.increment()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.opened(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.opened(context: context)
        context.fireChannelActive()
    }

    /// The client's address (without the port), the key of the per-address limits.
    private(set) var clientAddress = "?"

    private func opened(context: ChannelHandlerContext) {
        self.openedAt = .now()
        self.remote = context.channel.remoteAddress.map { "\($0)" } ?? "?"
        self.clientAddress = context.channel.remoteAddress?.ipAddress ?? "?"
        if let limiter = self.limiter {
            if let limit = limiter.acquire(self.clientAddress) {
                // Over a connection limit: a short answer, then close (nothing else is read).
                self.rejected = true
                self.metrics?.limitRejected(limit)
                self.closeReason = limit
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
        self.logger.debug("connection opened", metadata: ["newsroom.remote": "\(self.remote)"])
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.holdsSlot {
            self.holdsSlot = false
            self.limiter?.release(self.clientAddress)
        }
        if let transport = self.transport { self.metrics?.connections[transport]?.decrement() }
        self.logger.debug(
            "connection closed",
            metadata: [
                "newsroom.transport": "\(self.transport ?? "none")", "newsroom.remote": "\(self.remote)",
                "newsroom.duration_ms": "\((NIODeadline.now() - self.openedAt).nanoseconds / 1_000_000)",
                "newsroom.bytes_in": "\(self.bytesRead)", "newsroom.bytes_out": "\(self.bytesWritten)",
                "newsroom.events_delivered": "\(self.eventsDelivered)",
                "newsroom.close_reason": "\(self.closeReason ?? "peer_or_idle")",
            ])
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.rejected, !self.discardInbound else { return }
        let count = self.unwrapInboundIn(data).readableBytes
        self.bytesSinceLastHead += count
        self.bytesRead += count
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.bytesWritten += self.unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
    }

    func requestHeadReceived() {
        self.bytesSinceLastHead = 0
    }
}
