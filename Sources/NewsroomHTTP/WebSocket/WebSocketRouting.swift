import NIOCore
import NIOHTTP1
import NIOWebSocket
import NewsroomCore

/// Which HTTP/1.1 requests become WebSockets, and what is installed after the upgrade.
enum WebSocketRouting {
    /// The socket kind for an upgrade request, or `nil` when the request is not a valid WebSocket
    /// request for us (it then goes to ``HTTPRequestHandler``, which answers it with an error).
    static func mode(for head: HTTPRequestHead) -> WebSocketHandler.Mode? {
        let target = RequestTarget(head.uri)
        switch Route(segments: target.segments) {
        case .topicWebSocket(let topic)?:
            guard TopicName.isValid(topic) else { return nil }
            var after: Int?
            if let value = target.query["after"] {
                guard let seq = Int(value), seq >= 0 else { return nil }
                after = seq
            }
            var policy: SlowConsumerPolicy?
            if let name = target.query["policy"] {
                guard let parsed = SlowConsumerPolicy(name: name) else { return nil }
                policy = parsed
            }
            return .single(topic: topic, after: after, policy: policy)
        case .multiplexWebSocket?:
            return .multiplexed
        default:
            return nil
        }
    }

    static func shouldUpgrade(_ head: HTTPRequestHead) -> HTTPHeaders? {
        self.mode(for: head) == nil ? nil : HTTPHeaders()
    }

    static func configureUpgraded(channel: any Channel, head: HTTPRequestHead, shared: HTTPHandlerContext) throws {
        guard let mode = Self.mode(for: head) else { throw ChannelError.inappropriateOperationForState }
        let sync = channel.pipeline.syncOperations
        try sync.handler(type: ConnectionIOHandler.self).setTransport("ws")
        // The HTTP request handler has no more work on this connection.
        if let context = try? sync.context(handlerType: HTTPRequestHandler.self) {
            sync.removeHandler(context: context, promise: nil)
        }
        try sync.addHandler(MaskedFrameEnforcer())
        try sync.addHandler(
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 1024,
                maxAccumulatedFrameSize: shared.configuration.webSocketMaxMessageBytes))
        let traceHeaders = ["traceparent", "tracestate"].compactMap { name in
            head.headers.first(name: name).map { (name, $0) }
        }
        try sync.addHandler(
            WebSocketHandler(
                shared: shared, mode: mode, traceHeaders: traceHeaders,
                keepalive: shared.keepalive(for: channel.eventLoop)))
    }
}

extension WebSocketHandler.Mode: Equatable {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.multiplexed, .multiplexed): true
        case (.single(let a, let b, let c), .single(let d, let e, let f)): a == d && b == e && c == f
        default: false
        }
    }
}

/// Rejects unmasked client frames (RFC 6455 section 5.1: "a server MUST close the connection upon
/// receiving a frame that is not masked"). It sits before the fragment aggregator, which unmasks
/// fragments as it joins them.
final class MaskedFrameEnforcer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    /// A client sent a frame without a masking key.
    struct UnmaskedFrame: Error {}

    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.failed else { return }
        guard self.unwrapInboundIn(data).maskKey != nil else {
            self.failed = true
            context.fireErrorCaught(UnmaskedFrame())
            return
        }
        context.fireChannelRead(data)
    }
}
