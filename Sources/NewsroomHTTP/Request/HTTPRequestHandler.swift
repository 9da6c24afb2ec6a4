import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import Tracing

/// Reads requests on one HTTP/1.1 connection (or one HTTP/2 stream) and writes their answers.
///
/// Reading is ``StateMachine``'s job; answering is ``APIResponder``'s (and through it the
/// ``ControlService``'s). This handler does the I/O between them: it authenticates the caller (from the
/// token cache on the event loop, or off it the first time a token is seen), writes responses, runs
/// deferred answers as tasks whose results hop back to the loop, keeps the request timer, and hands the
/// connection to an ``StreamingResponseHandler`` when a Server-Sent Events subscription starts.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let dependencies: HTTPDependencies
    private let responder: APIResponder
    let isHTTP2: Bool
    let statistics: ConnectionStatistics?
    var machine: StateMachine
    /// The context of the connection's first handler: pre-framed bytes written here pass below NIO's
    /// encoders (HTTP/1.1 only).
    var belowEncoders: ChannelHandlerContext?
    private var requestTimer: Scheduled<Void>?
    /// The route of the request being answered (a metric label) and its span, if traced.
    private var currentRoute = "unknown"
    /// The current request's target, parsed once when its head arrives.
    private var currentTarget: RequestTarget?
    var currentSpan: (any Span)?
    /// A proxied request's relay and its generation (cancelled if the caller leaves).
    var proxyRelay: HTTPProxyRelay?
    var proxiedGeneration: String?
    /// A held Engine.IO poll: told to the session if the connection closes before it is answered.
    var pendingPoll: (session: EngineIOSession, answer: EventLoopFuture<HTTPResponse>)?
    /// The timer of an operator's console stream (`/v1/admin/stream`).
    var adminTimer: RepeatedTask?
    var adminSnapshotInFlight = false

    init(dependencies: HTTPDependencies, isHTTP2: Bool, statistics: ConnectionStatistics?) {
        self.dependencies = dependencies
        self.responder = APIResponder(dependencies: dependencies)
        self.isHTTP2 = isHTTP2
        self.statistics = statistics
        self.machine = StateMachine(
            maxBodyBytes: dependencies.configuration.maxBodyBytes,
            maxDiscardedBytes: dependencies.configuration.maxDiscardedBodyBytes
        ) { route, method in
            switch (route, method) {
            case (.topicEvents, .POST), (.generations, .POST), (.grpc, .POST), (.proxy, .POST), (.socketIO, .POST): true
            default: false
            }
        }
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        if !self.isHTTP2 {
            self.belowEncoders = try? context.pipeline.syncOperations.context(handlerType: ConnectionIOHandler.self)
        }
        if context.channel.isActive { self.armRequestTimer(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.requestTimer?.cancel()
        self.requestTimer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.armRequestTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.callerLeft()
        self.pollAbandoned()
        self.adminTimer?.cancel()
        self.adminTimer = nil
        self.requestTimer?.cancel()
        self.machine.closed()
        self.currentSpan?.end()
        self.currentSpan = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A declined WebSocket upgrade (bad topic, origin not allowed): the request itself follows and
        // gets its HTTP error answer.
        if error is NIOWebSocketUpgradeError { return }
        if let parseError = error as? HTTPParserError {
            self.dependencies.metrics.request(route: "unknown", status: .badRequest)
            return self.perform(self.machine.parseFailed(parseError), context: context)
        }
        self.machine.closed()
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.statistics?.bytesSinceLastHead = 0
            self.perform(self.machine.receivedHead(head, route: self.route(head)), context: context)
        case .body(let chunk):
            self.perform(self.machine.receivedBody(chunk), context: context)
        case .end:
            self.requestTimer?.cancel()
            self.requestTimer = nil
            self.perform(self.machine.receivedEnd(), context: context)
        }
    }

    /// The route of a request, or the answer for one that has none (unknown path, method not allowed).
    private func route(_ head: HTTPRequestHead) -> Result<Route, StateMachine.HTTPError> {
        let target = RequestTarget(head.uri)
        self.currentTarget = target
        let segments = target.segments
        let route = self.dependencies.socketIO.matches(segments) ? .socketIO : Route(segments: segments)
        self.currentRoute = route?.metricName ?? "unknown"
        guard let route else { return .failure(.init(response: .notFound())) }
        if route.isTraced {
            self.currentSpan = RequestTracing.startSpan("\(head.method.rawValue) \(route.metricName)", head: head, route: route.metricName)
        }
        guard head.method == .OPTIONS || route.allowedMethods.contains(head.method) else {
            return .failure(.init(response: .methodNotAllowed(route.allowedMethods)))
        }
        return .success(route)
    }

    private func perform(_ action: StateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .dispatch(let head, let route, let body):
            self.dispatch(head, route: route, body: body, context: context)
        case .respond(let head, let response, let close):
            self.respond(context: context, head: head, response: response, forceClose: close)
        case .respondAndDiscard(let head, let response):
            // The rest of the body is read and dropped; the connection closes at its end (or timeout).
            self.write(context: context, head: head, response: response, keepAlive: false)
            self.armRequestTimer(context: context)
        case .respondRaw(let response):
            self.dependencies.metrics.request(route: self.currentRoute, status: response.status)
            guard let belowEncoders = self.belowEncoders else { return context.close(promise: nil) }
            belowEncoders.writeAndFlush(NIOAny(IOData.byteBuffer(response.rawBytes(allocator: context.channel.allocator))))
                .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        case .close:
            context.close(promise: nil)
        }
    }

    // MARK: Answering

    private func dispatch(_ head: HTTPRequestHead, route: Route, body: ByteBuffer, context: ChannelHandlerContext) {
        let target = self.currentTarget ?? RequestTarget(head.uri)
        self.currentTarget = nil
        if head.method == .OPTIONS {
            return self.respond(context: context, head: head, response: self.dependencies.cors.preflight(head, methods: route.allowedMethods))
        }
        let request = APIRequest(
            head: head, route: route, target: target, body: body,
            client: self.statistics?.clientAddress ?? "?", span: self.currentSpan)
        if let refusal = self.responder.preflightAnswer(request) {
            return self.respond(context: context, head: head, response: refusal)
        }
        if case .grpc(let path) = route { return self.grpcWeb(path: path, request: request, context: context) }
        if case .proxy(let endpoint) = route { return self.proxy(endpoint, request: request, context: context) }
        if case .socketIO = route { return self.engineIO(request, context: context) }
        guard self.responder.needsCredentials(route) else {
            return self.answer(request, principal: .anonymous, context: context)
        }
        let control = self.dependencies.control
        let token = HTTPCredentials.token(of: head, target: request.target)
        if let cached = control.cachedAuthentication(token: token) {
            return self.authenticated(cached, request: request, context: context)
        }
        // First sight of this token: verify it off the loop, continue on it.
        let promise = context.eventLoop.makePromise(of: Result<Principal, ControlError>.self)
        promise.completeWithTask { await control.authenticate(token: token) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { result in
            let (handler, context) = loopBound.value
            guard handler.machine.isAnswering else { return }  // the connection closed meanwhile
            handler.authenticated(result, request: request, context: context)
        }
    }

    private func authenticated(_ result: Result<Principal, ControlError>, request: APIRequest, context: ChannelHandlerContext) {
        switch result {
        case .success(let principal): self.answer(request, principal: principal, context: context)
        case .failure(let error): self.respond(context: context, head: request.head, response: HTTPResponse(error))
        }
    }

    private func answer(_ request: APIRequest, principal: Principal, context: ChannelHandlerContext) {
        switch self.responder.answer(request, principal: principal) {
        case .response(let response):
            self.respond(context: context, head: request.head, response: response)
        case .deferred(let work):
            let promise = context.eventLoop.makePromise(of: HTTPResponse.self)
            // The answer runs in the request span's context: its log lines carry the trace id.
            let traceContext = self.currentSpan?.context
            promise.completeWithTask {
                guard let traceContext else { return await work() }
                return await ServiceContext.withValue(traceContext) { await work() }
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = loopBound.value
                guard handler.machine.isAnswering else { return }
                handler.respond(context: context, head: request.head, response: response)
            }
        case .stream(let subscription):
            self.stream(subscription, request: request, principal: principal, context: context)
        case .adminStream(let interval, let snapshot):
            self.adminStream(request, interval: interval, snapshot: snapshot, context: context)
        }
    }

    // MARK: Responses

    /// Counts the request and ends its span.
    func finishRequest(status: HTTPResponseStatus) {
        self.currentTarget = nil
        self.dependencies.metrics.request(route: self.currentRoute, status: status)
        if let span = self.currentSpan {
            span.attributes["http.response.status_code"] = Int(status.code)
            if status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            span.end()
            self.currentSpan = nil
        }
    }

    func respond(context: ChannelHandlerContext, head: HTTPRequestHead, response: HTTPResponse, forceClose: Bool = false) {
        let keepAlive = head.isKeepAlive && !forceClose
        let done = self.write(context: context, head: head, response: response, keepAlive: keepAlive)
        switch self.machine.answered(keepAlive: keepAlive) {
        case .close: done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        default: self.armRequestTimer(context: context)
        }
    }

    @discardableResult
    private func write(
        context: ChannelHandlerContext, head: HTTPRequestHead, response: HTTPResponse, keepAlive: Bool
    ) -> EventLoopFuture<Void> {
        self.finishRequest(status: response.status)
        var headers = HTTPHeaders(response.headers)
        if response.status != .noContent {
            headers.add(name: "content-length", value: String(response.bodyLength))
        }
        if !response.headers.contains(where: { $0.0 == "access-control-allow-origin" }) {
            headers.add(contentsOf: self.dependencies.cors.responseHeaders(for: head))
        }
        if !keepAlive && !self.isHTTP2 { headers.add(name: "connection", value: "close") }
        context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))),
            promise: nil)
        if let body = response.body, head.method != .HEAD, body.readableBytes > 0 {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        if head.method != .HEAD {
            for part in response.bodyParts { context.write(self.wrapOutboundOut(.body(.byteBuffer(part))), promise: nil) }
        }
        return context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
    }

    // MARK: Timeouts

    /// Limits how long a request may take to arrive, and how long a keep-alive connection may idle.
    func armRequestTimer(context: ChannelHandlerContext) {
        self.requestTimer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.requestTimer = context.eventLoop.scheduleTask(in: self.dependencies.configuration.requestTimeout) {
            let (handler, context) = loopBound.value
            handler.requestTimer = nil
            let partial = (handler.statistics?.bytesSinceLastHead ?? 0) > 0
            handler.perform(handler.machine.timedOut(partialHeadArrived: partial), context: context)
        }
    }
}
