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

    private let dependencies: HTTPDependencies
    private let responder: APIResponder
    private let isHTTP2: Bool
    private let statistics: ConnectionStatistics?
    private var machine: StateMachine
    /// The context of the connection's first handler: pre-framed bytes written here pass below NIO's
    /// encoders (HTTP/1.1 only).
    private var belowEncoders: ChannelHandlerContext?
    private var requestTimer: Scheduled<Void>?
    /// The route of the request being answered (a metric label) and its span, if traced.
    private var currentRoute = "unknown"
    private var currentSpan: (any Span)?

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
            case (.topicEvents, .POST), (.generations, .POST), (.grpc, .POST): true
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
        let route = Route(segments: RequestTarget(head.uri).segments)
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
        if head.method == .OPTIONS {
            return self.respond(context: context, head: head, response: self.dependencies.cors.preflight(head, methods: route.allowedMethods))
        }
        let request = APIRequest(
            head: head, route: route, target: RequestTarget(head.uri), body: body,
            client: self.statistics?.clientAddress ?? "?", span: self.currentSpan)
        if let refusal = self.responder.preflightAnswer(request) {
            return self.respond(context: context, head: head, response: refusal)
        }
        if case .grpc(let path) = route { return self.grpcWeb(path: path, request: request, context: context) }
        guard self.responder.needsCredentials(route) else {
            return self.answer(request, principal: .anonymous, context: context)
        }
        let control = self.dependencies.control
        let token = HTTPCredentials.token(of: head)
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
            promise.completeWithTask(work)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = loopBound.value
                guard handler.machine.isAnswering else { return }
                handler.respond(context: context, head: request.head, response: response)
            }
        case .stream(let subscription):
            self.stream(subscription, request: request, principal: principal, context: context)
        }
    }

    // MARK: gRPC-Web

    /// A gRPC-Web call on HTTP/1.1 (gRPC proper needs HTTP/2 and is answered 415).
    private func grpcWeb(path: String, request: APIRequest, context: ChannelHandlerContext) {
        guard let text = GRPCWebResponder.isText(contentType: request.head.headers.first(name: "content-type")),
            !self.isHTTP2
        else {
            return self.respond(
                context: context, head: request.head,
                response: HTTPResponse(
                    error: .unsupportedMediaType, code: "unsupported",
                    message: "gRPC needs HTTP/2 (h2c or TLS with ALPN h2); over HTTP/1.1 use gRPC-Web (application/grpc-web)"))
        }
        let responder = GRPCWebResponder(dependencies: self.dependencies)
        let call = GRPCWebResponder.Request(
            path: path, text: text, body: request.body, authorization: request.head.headers.first(name: "authorization"),
            traceHeaders: HTTPCredentials.traceHeaders(of: request.head), client: request.client,
            cors: self.dependencies.cors.responseHeaders(for: request.head))
        let promise = context.eventLoop.makePromise(of: GRPCWebResponder.Answer.self)
        promise.completeWithTask { await responder.answer(call) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { answer in
            let (handler, context) = loopBound.value
            guard handler.machine.isAnswering else { return }
            switch answer {
            case .response(let response):
                handler.respond(context: context, head: request.head, response: response)
            case .subscribe(let subscription, let principal):
                handler.stream(
                    subscription, flavor: .grpcWeb(text: text), request: request, principal: principal, context: context)
            }
        }
    }

    // MARK: Server-Sent Events

    /// Subscribes the connection to a topic; once attached, an ``StreamingResponseHandler`` takes the connection
    /// over (on HTTP/1.1 together with the removal of the request-side handlers, so an idle subscriber
    /// costs little memory). SSE on HTTP/1.1 and HTTP/2; gRPC-Web `Subscribe` on HTTP/1.1.
    private func stream(
        _ subscription: SubscriptionRequest, flavor: StreamingResponseSink.Flavor? = nil, request: APIRequest,
        principal: Principal, context: ChannelHandlerContext
    ) {
        let flavor = flavor ?? .sse(retryMilliseconds: self.dependencies.configuration.sseRetryMilliseconds)
        let output: StreamingResponseSink.Output
        let format: WireFormat
        var extraHeaders = self.dependencies.cors.responseHeaders(for: request.head)
        switch (flavor, self.belowEncoders) {
        case (.sse, let belowEncoders?):
            output = .chunked(belowEncoders: belowEncoders)
            format = self.dependencies.sseChunkedFormat
        case (.sse, nil):
            output = .stream(context.channel)
            format = self.dependencies.sseFormat
        case (.grpcWeb(let text), let belowEncoders):
            guard let belowEncoders else { return context.close(promise: nil) }  // HTTP/1.1 only, checked before
            output = .chunked(belowEncoders: belowEncoders)
            format = text ? self.dependencies.grpcWebTextChunkedFormat : self.dependencies.grpcWebChunkedFormat
            if !extraHeaders.isEmpty { extraHeaders.append(("access-control-expose-headers", CORSPolicy.grpcWebExposedHeaders)) }
        }
        let sink = StreamingResponseSink(
            output: output, channel: context.channel, topic: subscription.topic, hub: self.dependencies.hub,
            flavor: flavor, extraHeaders: extraHeaders, statistics: self.statistics)
        let loopBound = NIOLoopBound((self, context, sink), eventLoop: context.eventLoop)
        self.dependencies.control.subscribe(subscription, as: principal, format: format, sink: sink)
            .whenComplete { result in
                let (handler, context, sink) = loopBound.value
                switch result {
                case .success(let subscriber):
                    handler.currentSpan?.attributes["newsroom.topic"] = subscription.topic
                    handler.currentSpan?.attributes["newsroom.resume.after"] = subscription.after ?? 0
                    handler.finishRequest(status: .ok)
                    handler.takeOver(subscriber: subscriber, sink: sink, context: context)
                case .failure(let error):
                    guard handler.machine.isAnswering, !sink.headWritten else { return context.close(promise: nil) }
                    let error = error as? ControlError ?? .internalError
                    let response: HTTPResponse
                    if case .grpcWeb(let text) = flavor {
                        response = GRPCWebResponder(dependencies: handler.dependencies).trailersOnly(
                            GRPCStatus(error),
                            request: .init(
                                path: "", text: text, body: ByteBuffer(), traceHeaders: [], client: "",
                                cors: handler.dependencies.cors.responseHeaders(for: request.head)))
                    } else {
                        response = HTTPResponse(error)
                    }
                    handler.respond(context: context, head: request.head, response: response)
                }
            }
    }

    private func takeOver(subscriber: Subscriber, sink: StreamingResponseSink, context: ChannelHandlerContext) {
        self.machine.startedStreaming()
        guard !subscriber.isClosed else { return }  // an ended topic: the replay and the end are written
        guard context.channel.isActive else {
            subscriber.cancel()
            return
        }
        sink.flush()  // the head goes out now even if there is nothing to replay
        let sync = context.pipeline.syncOperations
        do {
            try sync.addHandler(StreamingResponseHandler(subscriber: subscriber, sink: sink), position: .after(self))
            if !self.isHTTP2 {
                // The request side is done for good: only the socket and the stream handler remain.
                (self.belowEncoders?.handler as? ConnectionIOHandler)?.discardInbound = true
                for handlerType in Self.http1RequestHandlers {
                    if let handlerContext = try? sync.context(handlerType: handlerType) {
                        sync.removeHandler(context: handlerContext, promise: nil)
                    }
                }
            }
            sync.removeHandler(context: context, promise: nil)
        } catch {
            subscriber.cancel()
            context.close(promise: nil)
        }
    }

    /// The HTTP/1.1 handlers an SSE connection no longer needs once its response is written below them.
    private static var http1RequestHandlers: [any ChannelHandler.Type] {
        [
            ByteToMessageHandler<HTTPRequestDecoder>.self, HTTPServerPipelineHandler.self,
            NIOHTTPResponseHeadersValidator.self, HTTPResponseEncoder.self,
        ]
    }

    // MARK: Responses

    /// Counts the request and ends its span.
    private func finishRequest(status: HTTPResponseStatus) {
        self.dependencies.metrics.request(route: self.currentRoute, status: status)
        if let span = self.currentSpan {
            span.attributes["http.response.status_code"] = Int(status.code)
            if status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            span.end()
            self.currentSpan = nil
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, response: HTTPResponse, forceClose: Bool = false) {
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
            headers.add(name: "content-length", value: String(response.body?.readableBytes ?? 0))
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
        return context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
    }

    // MARK: Timeouts

    /// Limits how long a request may take to arrive, and how long a keep-alive connection may idle.
    private func armRequestTimer(context: ChannelHandlerContext) {
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
