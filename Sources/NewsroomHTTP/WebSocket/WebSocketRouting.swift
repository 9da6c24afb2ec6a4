import NIOCore
import NIOHTTP1
import NIOWebSocket
import NewsroomAuth
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

    /// Whether to upgrade: the route must be a valid WebSocket route and, when an allow-list is set, a
    /// browser's `Origin` must be on it (otherwise the request gets its HTTP error). With auth on, the
    /// token is verified now (warming the cache); a missing or bad token still upgrades, so that the
    /// client reads close code 4001 rather than an opaque failed handshake.
    static func shouldUpgrade(_ head: HTTPRequestHead, channel: any Channel, shared: HTTPHandlerContext)
        -> EventLoopFuture<HTTPHeaders?>
    {
        guard self.mode(for: head) != nil else { return channel.eventLoop.makeSucceededFuture(nil) }
        if !shared.configuration.allowedOrigins.isEmpty, let origin = head.headers.first(name: "origin"),
            !shared.allows(origin: origin)
        {
            shared.metrics.authFailed("origin_not_allowed")
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        guard let auth = shared.auth, let token = HTTPRequestHandler.bearerToken(head) else {
            return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
        }
        let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
        promise.completeWithTask {
            _ = await auth.verify(token)
            return HTTPHeaders()
        }
        return promise.futureResult
    }

    /// Who opened the socket: `.anonymous` with auth off, else the cached verification of its token.
    static func principal(for head: HTTPRequestHead, shared: HTTPHandlerContext) -> Result<Principal, AuthError> {
        guard let auth = shared.auth else { return .success(.anonymous) }
        guard let token = HTTPRequestHandler.bearerToken(head) else { return .failure(.missingToken) }
        return auth.cachedResult(for: token)
            ?? .failure(AuthError(code: .unauthenticated, reason: "invalid_token", message: "the token is not valid"))
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
                shared: shared, mode: mode, traceHeaders: traceHeaders, principal: Self.principal(for: head, shared: shared),
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
