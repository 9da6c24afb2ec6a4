import NIOCore
import NIOHTTP1
import NIOWebSocket
import NewsroomAuth
import NewsroomControl
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
            do throws(ControlError) {
                let after = try target.query["after"].map { value throws(ControlError) in try SubscriptionRequest.resumePoint(value) }
                let policy = try target.query["policy"].map { name throws(ControlError) in try SubscriptionRequest.policy(named: name) }
                let maxDelay = try target.query["max_delay"].map { value throws(ControlError) in
                    try ControlService.duration(value, name: "max_delay")
                }
                return .single(SubscriptionRequest(topic: topic, after: after, policy: policy, maxDelay: maxDelay))
            } catch {
                return nil
            }
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
    static func shouldUpgrade(_ head: HTTPRequestHead, channel: any Channel, dependencies: HTTPDependencies)
        -> EventLoopFuture<HTTPHeaders?>
    {
        let target = RequestTarget(head.uri)
        if dependencies.socketIO.matches(target.segments) {
            return channel.eventLoop.makeSucceededFuture(
                Self.isEngineIOUpgrade(target, dependencies: dependencies) && dependencies.cors.allowsWebSocket(head)
                    ? HTTPHeaders() : nil)
        }
        guard self.mode(for: head) != nil else { return channel.eventLoop.makeSucceededFuture(nil) }
        guard dependencies.cors.allowsWebSocket(head) else {
            dependencies.control.recordAuthFailure("origin_not_allowed")
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let control = dependencies.control
        let token = HTTPCredentials.token(of: head)
        guard control.requiresCredentials, let token else { return channel.eventLoop.makeSucceededFuture(HTTPHeaders()) }
        let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
        promise.completeWithTask {
            await control.prepareAuthentication(token: token)
            return HTTPHeaders()
        }
        return promise.futureResult
    }

    /// Whether a request to the Socket.IO path may become its WebSocket: Engine.IO v4, the `websocket`
    /// transport, and an open session when it names one (otherwise it is answered with the Engine.IO
    /// error over HTTP).
    private static func isEngineIOUpgrade(_ target: RequestTarget, dependencies: HTTPDependencies) -> Bool {
        guard target.query["EIO"] == "4", target.query["transport"] == "websocket" else { return false }
        if let sid = target.query["sid"] { return dependencies.socketIO.session(sid) != nil }
        return true
    }

    static func configureUpgraded(channel: any Channel, head: HTTPRequestHead, dependencies: HTTPDependencies) throws {
        let target = RequestTarget(head.uri)
        if dependencies.socketIO.matches(target.segments) {
            return try Self.configureEngineIO(channel: channel, head: head, target: target, dependencies: dependencies)
        }
        guard let mode = Self.mode(for: head) else { throw ChannelError.inappropriateOperationForState }
        let sync = channel.pipeline.syncOperations
        let io = try sync.handler(type: ConnectionIOHandler.self)
        io.setTransport("ws")
        // The HTTP request handler has no more work on this connection.
        if let context = try? sync.context(handlerType: HTTPRequestHandler.self) {
            sync.removeHandler(context: context, promise: nil)
        }
        try sync.addHandler(MaskedFrameEnforcer())
        try sync.addHandler(
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 1024,
                maxAccumulatedFrameSize: dependencies.configuration.webSocketMaxMessageBytes))
        // Verified in `shouldUpgrade`: the cache answers.
        let authentication =
            dependencies.control.cachedAuthentication(token: HTTPCredentials.token(of: head))
            ?? .failure(ControlError(.unauthenticated, code: "unauthorized", message: "the token is not valid"))
        try sync.addHandler(
            WebSocketHandler(
                dependencies: dependencies, mode: mode, traceHeaders: HTTPCredentials.traceHeaders(of: head),
                authentication: authentication, keepalive: dependencies.keepalive(for: channel.eventLoop),
                statistics: io.statistics))
    }
}

extension WebSocketRouting {
    /// Installs the Engine.IO handler on an upgraded Socket.IO connection.
    static func configureEngineIO(
        channel: any Channel, head: HTTPRequestHead, target: RequestTarget, dependencies: HTTPDependencies
    ) throws {
        let sync = channel.pipeline.syncOperations
        let io = try sync.handler(type: ConnectionIOHandler.self)
        io.setTransport("socketio")
        if let context = try? sync.context(handlerType: HTTPRequestHandler.self) {
            sync.removeHandler(context: context, promise: nil)
        }
        let server = dependencies.socketIO
        try sync.addHandler(MaskedFrameEnforcer())
        try sync.addHandler(
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 1024, maxAccumulatedFrameSize: server.settings.maxPayload))
        let mode: EngineIOWebSocketHandler.Mode = target.query["sid"].map { .upgrade(sid: $0) } ?? .open
        try sync.addHandler(
            EngineIOWebSocketHandler(
                server: server, mode: mode, handshake: SocketIOHandshake(head: head, client: io.statistics.clientAddress),
                eventLoop: channel.eventLoop))
    }
}

extension WebSocketHandler.Mode: Equatable {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.multiplexed, .multiplexed): true
        case (.single(let a), .single(let b)): a == b
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
