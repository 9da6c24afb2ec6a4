import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import NewsroomAuth
import NewsroomCore
import NewsroomWire
import Synchronization
import Tracing

/// Answers the HTTP API on one HTTP/1.1 connection (or one HTTP/2 stream): routing, the control API,
/// publishing, and Server-Sent Events subscriptions.
///
/// Requests arrive one at a time (`HTTPServerPipelineHandler` holds pipelined ones back). Small control
/// requests are answered on the event loop; generation requests, which await the generation service,
/// are answered from a task whose result hops back to the loop. An SSE subscription turns the
/// connection into a ``SSESink`` for the hub, which writes shared frames to it directly.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Action {
        case route(Route)
        case fail(APIError)
    }

    private enum State {
        /// Waiting for a request head.
        case idle
        /// Reading a request's body (kept only for routes that use it).
        case receiving(HTTPRequestHead, Action, ByteBuffer?, received: Int)
        /// Waiting for an asynchronous answer (generations).
        case responding(keepAlive: Bool)
        /// An SSE response is open.
        case streaming(SSEStream)
        /// The connection is being closed; ignore everything.
        case closing
    }

    /// An open SSE response.
    final class SSEStream {
        let sink: SSESink
        let keepAlive: Bool
        let topic: String
        var subscriber: Subscriber?
        var expiry: Scheduled<Void>?
        init(sink: SSESink, keepAlive: Bool, topic: String) {
            self.sink = sink
            self.keepAlive = keepAlive
            self.topic = topic
        }
    }

    private let shared: HTTPHandlerContext
    private let isHTTP2: Bool
    private var state = State.idle
    private var io: ConnectionIOHandler?
    private var rawContext: ChannelHandlerContext?
    private var requestTimer: Scheduled<Void>?
    /// The route of the request being answered (a metric label) and its span, if traced.
    private var currentRoute = "unknown"
    private var currentSpan: (any Span)?

    init(shared: HTTPHandlerContext, isHTTP2: Bool) {
        self.shared = shared
        self.isHTTP2 = isHTTP2
    }

    private var hub: Hub { self.shared.hub }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        if !self.isHTTP2, let raw = try? context.pipeline.syncOperations.context(handlerType: ConnectionIOHandler.self) {
            self.rawContext = raw
            self.io = raw.handler as? ConnectionIOHandler
        }
        if context.channel.isActive {
            self.armRequestTimer(context: context)
        }
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
        if case .streaming(let stream) = self.state, let subscriber = stream.subscriber {
            subscriber.cancel()
            self.io?.eventsDelivered += subscriber.delivered
        }
        self.currentSpan?.end()
        self.currentSpan = nil
        self.state = .closing
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .streaming(let stream) = self.state {
            stream.subscriber?.writabilityChanged()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOWebSocketUpgradeError {
            // A declined WebSocket upgrade (bad topic, origin not allowed): the request itself follows and
            // gets its HTTP error answer.
            return
        }
        if case .streaming(let stream) = self.state {
            stream.subscriber?.cancel()
        }
        if let parseError = error as? HTTPParserError, case .idle = self.state {
            // A request that cannot be parsed: answer it (431 for headers over the limits) and close.
            self.state = .closing
            let apiError =
                parseError == .headerOverflow
                ? APIError(.requestHeaderFieldsTooLarge, "headers_too_large", "the request headers exceed the limits")
                : APIError(.badRequest, "bad_request", "the request is not valid HTTP/1.1")
            self.shared.metrics.request(route: "unknown", status: apiError.status)
            self.writeRawResponse(context: context, error: apiError)
            return
        }
        self.state = .closing
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.receiveHead(head, context: context)
        case .body(let chunk):
            self.receiveBody(chunk, context: context)
        case .end:
            self.receiveEnd(context: context)
        }
    }

    // MARK: Request reading

    private func receiveHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard case .idle = self.state else {
            // A client sending a second request while the first streams (only possible without the
            // pipelining handler, i.e. on a misbehaving HTTP/2 stream): refuse by closing.
            self.state = .closing
            context.close(promise: nil)
            return
        }
        self.io?.requestHeadReceived()
        let target = RequestTarget(head.uri)
        let action: Action
        let parsedRoute = Route(segments: target.segments)
        self.currentRoute = parsedRoute?.metricName ?? "unknown"
        if let route = parsedRoute, route.isTraced {
            self.currentSpan = RequestTracing.startSpan("\(head.method.rawValue) \(route.metricName)", head: head, route: route.metricName)
        }
        if let route = parsedRoute {
            if head.method == .OPTIONS {
                action = .route(route)  // CORS preflight, answered in dispatch
            } else if route.allowedMethods.contains(head.method) {
                action = .route(route)
            } else {
                action = .fail(.methodNotAllowed(route.allowedMethods))
            }
        } else {
            action = .fail(.notFound())
        }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init),
            length > self.shared.configuration.maxBodyBytes
        {
            self.rejectOversizedBody(context: context, head: head)
            return
        }
        var body: ByteBuffer?
        if case .route(let route) = action, Self.usesBody(route, method: head.method) {
            body = context.channel.allocator.buffer(capacity: 0)
        }
        self.state = .receiving(head, action, body, received: 0)
    }

    private static func usesBody(_ route: Route, method: HTTPMethod) -> Bool {
        switch (route, method) {
        case (.topicEvents, .POST), (.generations, .POST): true
        default: false
        }
    }

    private func receiveBody(_ chunk: ByteBuffer, context: ChannelHandlerContext) {
        guard case .receiving(let head, let action, var body, let received) = self.state else { return }
        let total = received + chunk.readableBytes
        guard total <= self.shared.configuration.maxBodyBytes else {
            self.rejectOversizedBody(context: context, head: head)
            return
        }
        self.state = .closing  // drop our reference to `body` so the append below does not copy it
        if body != nil {
            var chunk = chunk
            body!.writeBuffer(&chunk)
        }
        self.state = .receiving(head, action, body, received: total)
    }

    private func receiveEnd(context: ChannelHandlerContext) {
        guard case .receiving(let head, let action, let body, _) = self.state else { return }
        self.requestTimer?.cancel()
        self.requestTimer = nil
        switch action {
        case .fail(let error):
            self.respond(context: context, head: head, error: error)
        case .route(let route):
            self.authenticate(route, head: head, body: body ?? ByteBuffer(), context: context)
        }
    }

    // MARK: Authentication

    /// The bearer token of a request: `Authorization: Bearer …`, or `?token=` (EventSource and browser
    /// WebSockets cannot set headers).
    static func bearerToken(_ head: HTTPRequestHead) -> String? {
        if let authorization = head.headers.first(name: "authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]) }
        }
        return RequestTarget(head.uri).query["token"]
    }

    /// Finds who is asking, then dispatches; answers 401 without a valid token when auth is on.
    private func authenticate(_ route: Route, head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        switch route {
        case .topicWebSocket, .multiplexWebSocket:
            // A WebSocket from a foreign origin is refused before anything else (cross-site requests).
            do {
                try self.checkWebSocketOrigin(head)
            } catch {
                return self.respond(context: context, head: head, error: error)
            }
        default:
            break
        }
        guard let auth = self.shared.auth, head.method != .OPTIONS,
            route.needsAuth(metricsPrivate: self.shared.configuration.metricsRequireAdmin)
        else {
            return self.dispatch(route, head: head, body: body, principal: .anonymous, context: context)
        }
        guard let token = Self.bearerToken(head) else {
            return self.refuse(AuthError.missingToken, head: head, context: context)
        }
        if let cached = auth.cachedResult(for: token) {
            return self.proceed(cached, route: route, head: head, body: body, context: context)
        }
        // First sight of this token: verify off the loop, continue on it.
        self.state = .responding(keepAlive: head.isKeepAlive)
        let promise = context.eventLoop.makePromise(of: Result<Principal, AuthError>.self)
        promise.completeWithTask { await auth.verify(token) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { result in
            let (handler, context) = loopBound.value
            guard case .responding = handler.state else { return }  // the connection closed meanwhile
            handler.proceed(result, route: route, head: head, body: body, context: context)
        }
    }

    private func proceed(
        _ result: Result<Principal, AuthError>, route: Route, head: HTTPRequestHead, body: ByteBuffer,
        context: ChannelHandlerContext
    ) {
        switch result {
        case .success(let principal):
            self.dispatch(route, head: head, body: body, principal: principal, context: context)
        case .failure(let error):
            self.refuse(error, head: head, context: context)
        }
    }

    private func refuse(_ error: AuthError, head: HTTPRequestHead, context: ChannelHandlerContext) {
        self.shared.metrics.authFailed(error.reason)
        let apiError =
            error.code == .forbidden
            ? APIError(.forbidden, "forbidden", error.message)
            : APIError(.unauthorized, error.reason == "token_expired" ? "token_expired" : "unauthorized", error.message,
                headers: [("www-authenticate", "Bearer")])
        self.respond(context: context, head: head, error: apiError)
    }

    /// Throws 403 unless `principal` may do `action` on `topic`.
    private func require(_ principal: Principal, _ action: Capabilities.Action, topic: String) throws(APIError) {
        guard principal.capabilities.allows(action, topic: topic) else {
            self.shared.metrics.authFailed("forbidden")
            throw APIError(.forbidden, "forbidden", AuthError.forbidden(action, topic: topic).message)
        }
    }

    private func requireAdmin(_ principal: Principal) throws(APIError) {
        guard principal.capabilities.admin else {
            self.shared.metrics.authFailed("forbidden")
            throw APIError(.forbidden, "forbidden", AuthError.forbidden("the management endpoints (admin)").message)
        }
    }

    // MARK: CORS

    private func checkWebSocketOrigin(_ head: HTTPRequestHead) throws(APIError) {
        if !self.shared.configuration.allowedOrigins.isEmpty, let origin = head.headers.first(name: "origin"),
            !self.shared.allows(origin: origin)
        {
            throw APIError(.forbidden, "origin_not_allowed", "this origin may not open WebSockets")
        }
    }

    /// The CORS response headers for the request's `Origin`, if it is allowed.
    private func corsHeaders(_ head: HTTPRequestHead) -> [(String, String)] {
        guard !self.shared.configuration.allowedOrigins.isEmpty, let origin = head.headers.first(name: "origin"),
            self.shared.allows(origin: origin)
        else { return [] }
        return [("access-control-allow-origin", origin), ("vary", "Origin")]
    }

    private func preflight(_ route: Route, head: HTTPRequestHead, context: ChannelHandlerContext) {
        let cors = self.corsHeaders(head)
        guard !cors.isEmpty else {
            return self.respond(
                context: context, head: head, error: APIError(.forbidden, "origin_not_allowed", "this origin may not call the API"))
        }
        let methods = (route.allowedMethods + [.OPTIONS]).map(\.rawValue).joined(separator: ", ")
        self.respond(
            context: context, head: head, status: .noContent, body: nil, contentType: nil,
            headers: cors + [
                ("access-control-allow-methods", methods),
                ("access-control-allow-headers", "authorization, content-type, last-event-id, traceparent, tracestate"),
                ("access-control-max-age", "600"),
            ])
    }

    private func rejectOversizedBody(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let error = APIError(
            .payloadTooLarge, "body_too_large", "the body exceeds \(self.shared.configuration.maxBodyBytes) bytes")
        self.respond(context: context, head: head, error: error, forceClose: true)
    }

    // MARK: Timeouts

    /// Limits how long a request may take to arrive, and how long a keep-alive connection may idle.
    private func armRequestTimer(context: ChannelHandlerContext) {
        self.requestTimer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.requestTimer = context.eventLoop.scheduleTask(in: self.shared.configuration.requestTimeout) {
            let (handler, context) = loopBound.value
            handler.requestTimedOut(context: context)
        }
    }

    private func requestTimedOut(context: ChannelHandlerContext) {
        self.requestTimer = nil
        switch self.state {
        case .idle where (self.io?.bytesSinceLastHead ?? 0) == 0:
            // An idle keep-alive connection: just close it.
            self.state = .closing
            context.close(promise: nil)
        case .receiving(let head, _, _, _):
            // The body arrives too slowly: answer 408 and close.
            let error = APIError(.requestTimeout, "request_timeout", "the request took too long to arrive")
            self.respond(context: context, head: head, error: error, forceClose: true)
        case .idle:
            // Part of a request head arrived, too slowly (a slowloris): answer 408 and close.
            self.state = .closing
            let error = APIError(.requestTimeout, "request_timeout", "the request took too long to arrive")
            self.writeRawResponse(context: context, error: error)
        default:
            break
        }
    }

    /// Writes a complete response below the HTTP encoder, for the one case where there is no request
    /// head to answer (a request head that never completed).
    private func writeRawResponse(context: ChannelHandlerContext, error: APIError) {
        let body = error.body(allocator: context.channel.allocator)
        var buffer = context.channel.allocator.buffer(capacity: 160 + body.readableBytes)
        buffer.writeString(
            "HTTP/1.1 \(error.status.code) \(error.status.reasonPhrase)\r\ncontent-type: application/json\r\n"
                + "content-length: \(body.readableBytes)\r\nconnection: close\r\n\r\n")
        buffer.writeImmutableBuffer(body)
        if let raw = self.rawContext {
            raw.writeAndFlush(NIOAny(IOData.byteBuffer(buffer))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }

    // MARK: Dispatch

    private func dispatch(
        _ route: Route, head: HTTPRequestHead, body: ByteBuffer, principal: Principal, context: ChannelHandlerContext
    ) {
        let target = RequestTarget(head.uri)
        let allocator = context.channel.allocator
        if head.method == .OPTIONS {
            return self.preflight(route, head: head, context: context)
        }
        do {
            switch route {
            case .healthz:
                self.respond(context: context, head: head, status: .ok, json: APIJSON.status("ok", allocator: allocator))
            case .readyz:
                let ready = self.shared.ready.load(ordering: .relaxed)
                self.respond(
                    context: context, head: head, status: ready ? .ok : .serviceUnavailable,
                    json: APIJSON.status(ready ? "ready" : "draining", allocator: allocator))
            case .metrics:
                if self.shared.auth != nil, self.shared.configuration.metricsRequireAdmin { try self.requireAdmin(principal) }
                guard let metrics = self.shared.metricsText else { throw APIError.notFound("metrics are not enabled") }
                self.respond(
                    context: context, head: head, status: .ok, body: metrics(),
                    contentType: "text/plain; version=0.0.4; charset=utf-8")
            case .topics:
                try self.requireAdmin(principal)
                self.respond(
                    context: context, head: head, status: .ok,
                    json: APIJSON.topics(self.hub.snapshots(), allocator: allocator))
            case .topic(let name):
                try Self.validateTopic(name)
                if head.method == .DELETE {
                    try self.require(principal, .cancel, topic: name)
                    self.cancelTopic(name, head: head, context: context)
                } else {
                    try self.require(principal, .subscribe, topic: name)
                    if let snapshot = self.hub.snapshot(ofTopic: name) {
                        self.respond(
                            context: context, head: head, status: .ok, json: APIJSON.topic(snapshot, allocator: allocator))
                    } else if let broker = self.shared.broker {
                        // Shared through the broker but not held here yet: mirror it, as a first viewer would.
                        self.respondAsync(context: context, head: head) {
                            let snapshot: Topic.Snapshot?
                            do throws(HubError) {
                                snapshot = try await broker.sharedSnapshot(ofTopic: name)
                            } catch {
                                throw APIError(error)
                            }
                            guard let snapshot else { throw APIError.notFound("no topic named '\(name)'") }
                            return (.ok, APIJSON.topic(snapshot, allocator: ByteBufferAllocator()), [])
                        }
                    } else {
                        throw APIError.notFound("no topic named '\(name)'")
                    }
                }
            case .topicEvents(let name):
                try Self.validateTopic(name)
                if head.method == .POST {
                    try self.require(principal, .publish, topic: name)
                    try self.publish(to: name, head: head, body: body, principal: principal, context: context)
                } else {
                    try self.require(principal, .subscribe, topic: name)
                    try self.subscribe(to: name, head: head, target: target, principal: principal, context: context)
                }
            case .generations:
                try self.startGeneration(head: head, body: body, principal: principal, context: context)
            case .generation(let id):
                self.generation(id: id, head: head, principal: principal, context: context)
            case .topicWebSocket(let name):
                // Reached only when the request was not upgraded: say why.
                try self.checkWebSocketOrigin(head)
                try Self.validateTopic(name)
                if let value = target.query["after"], Int(value).map({ $0 >= 0 }) != true {
                    throw APIError.badRequest("'after' must be a non-negative integer", code: "invalid_resume")
                }
                if let name = target.query["policy"], SlowConsumerPolicy(name: name) == nil {
                    throw APIError.badRequest(
                        "'policy' must be one of \(SlowConsumerPolicy.names.joined(separator: ", "))", code: "invalid_policy")
                }
                throw APIError(
                    .upgradeRequired, "upgrade_required", "this endpoint needs a WebSocket upgrade (HTTP/1.1)",
                    headers: [("upgrade", "websocket")])
            case .multiplexWebSocket:
                try self.checkWebSocketOrigin(head)
                throw APIError(
                    .upgradeRequired, "upgrade_required", "this endpoint needs a WebSocket upgrade (HTTP/1.1)",
                    headers: [("upgrade", "websocket")])
            case .viewer(let file):
                guard let asset = ViewerAssets.files[file] else {
                    throw APIError.notFound("no such file")
                }
                self.respond(
                    context: context, head: head, status: .ok, body: ByteBuffer(string: asset.body),
                    contentType: asset.contentType, headers: [("cache-control", "no-cache")])
            }
        } catch let error as APIError {
            self.respond(context: context, head: head, error: error)
        } catch let error as HubError {
            self.respond(context: context, head: head, error: APIError(error))
        } catch {
            self.respond(context: context, head: head, error: APIError(.internalServerError, "internal", "internal error"))
        }
    }

    private static func validateTopic(_ name: String) throws(APIError) {
        guard TopicName.isValid(name) else {
            throw APIError(.badRequest, "invalid_topic", HubError.invalidTopicName(name).message)
        }
    }

    // MARK: Publish

    private func publish(
        to topic: String, head: HTTPRequestHead, body: ByteBuffer, principal: Principal, context: ChannelHandlerContext
    ) throws {
        let contentType = head.headers.first(name: "content-type")?.lowercased() ?? ""
        let ndjson = contentType.hasPrefix("application/x-ndjson") || contentType.hasPrefix("application/jsonl")
        guard body.readableBytes > 0 else { throw APIError.badRequest("the body is empty", code: "invalid_event") }
        let payloads: [EventPayload]
        do {
            payloads = try EventDecoder.decodeBody(body, ndjson: ndjson)
        } catch {
            throw APIError.badRequest(error.message, code: "invalid_event")
        }
        let key = self.shared.auth == nil ? (self.io?.clientAddress ?? "?") : principal.subject
        if let wait = self.shared.publishRate.take(payloads.count, key: key) {
            self.shared.metrics.limitRejected("publish_rate")
            throw APIError(
                .tooManyRequests, "rate_limited", "publish rate limit reached",
                headers: [("retry-after", String(max(1, (wait.nanoseconds + 999_999_999) / 1_000_000_000)))])
        }
        if let broker = self.shared.broker {
            // Sequenced and stored by the broker for every node; this node's viewers get it as its mirror.
            self.respondAsync(context: context, head: head) {
                let receipt = try await broker.publish(payloads, to: topic, owner: nil)
                return (.accepted, APIJSON.receipt(receipt, allocator: ByteBufferAllocator()), [])
            }
            return
        }
        let receipt = try self.hub.publish(payloads, to: topic)
        self.respond(
            context: context, head: head, status: .accepted,
            json: APIJSON.receipt(receipt, allocator: context.channel.allocator))
    }

    // MARK: Subscribe (SSE)

    private func subscribe(
        to topic: String, head: HTTPRequestHead, target: RequestTarget, principal: Principal,
        context: ChannelHandlerContext
    ) throws {
        if let broker = self.shared.broker, !broker.isMirrored(topic) {
            // First viewer of this topic on this node: mirror it (live events + history), then attach.
            self.state = .responding(keepAlive: head.isKeepAlive)
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.completeWithTask { try await broker.prepareSubscription(to: topic) }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenComplete { result in
                let (handler, context) = loopBound.value
                guard case .responding = handler.state else { return }
                do {
                    try result.get()
                    handler.state = .idle
                    try handler.attach(to: topic, head: head, target: target, principal: principal, context: context)
                } catch let error as HubError {
                    handler.respond(context: context, head: head, error: APIError(error))
                } catch let error as APIError {
                    handler.respond(context: context, head: head, error: error)
                } catch {
                    handler.respond(context: context, head: head, error: APIError(.internalServerError, "internal", "internal error"))
                }
            }
            return
        }
        try self.attach(to: topic, head: head, target: target, principal: principal, context: context)
    }

    private func attach(
        to topic: String, head: HTTPRequestHead, target: RequestTarget, principal: Principal,
        context: ChannelHandlerContext
    ) throws {
        var after: Int?
        if let header = head.headers.first(name: "last-event-id") {
            // The browser's EventSource resends the original URL with the id it last saw: the header wins.
            guard let value = Int(header.filter { $0 != " " && $0 != "\t" }), value >= 0 else {
                throw APIError.badRequest("Last-Event-ID must be a non-negative integer", code: "invalid_resume")
            }
            after = value
        } else if let query = target.query["after"] {
            guard let value = Int(query), value >= 0 else {
                throw APIError.badRequest("'after' must be a non-negative integer", code: "invalid_resume")
            }
            after = value
        }
        var policy: SlowConsumerPolicy?
        if let name = target.query["policy"] {
            guard let parsed = SlowConsumerPolicy(name: name) else {
                throw APIError.badRequest(
                    "'policy' must be one of \(SlowConsumerPolicy.names.joined(separator: ", "))", code: "invalid_policy")
            }
            policy = parsed
        }
        let framing: SSESink.Framing
        let format: WireFormat
        if let raw = self.rawContext {
            framing = .chunkedBelowEncoder(raw)
            format = self.shared.sseHTTP1Format
        } else {
            framing = .bodyParts
            format = self.shared.sseFormat
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        // On HTTP/1.1 the connection is dedicated to the stream (its request handlers are shed below to
        // save memory), so it closes when the stream ends.
        let connectionHeader: [(String, String)] = self.isHTTP2 ? [] : [("connection", "close")]
        let sink = SSESink(
            context: context, framing: framing, retryMilliseconds: self.shared.configuration.sseRetryMilliseconds,
            extraHeaders: self.corsHeaders(head) + connectionHeader
        ) { subscriber, reason in
            let (handler, context) = loopBound.value
            handler.endStream(subscriber: subscriber, reason: reason, context: context)
        }
        let stream = SSEStream(sink: sink, keepAlive: head.isKeepAlive && self.isHTTP2, topic: topic)
        self.state = .streaming(stream)
        do {
            let subscriber = try self.hub.subscribe(to: topic, after: after, policy: policy, format: format, sink: sink)
            self.currentSpan?.attributes["newsroom.topic"] = topic
            self.currentSpan?.attributes["newsroom.resume.after"] = after ?? 0
            self.finishRequest(status: .ok)
            if case .streaming(let current) = self.state, current === stream {
                stream.subscriber = subscriber
                sink.flush()  // the head goes out now even if there is nothing to replay
                if !self.isHTTP2 { self.shedRequestHandlers(context: context) }
                if let expiry = principal.expiresAt {
                    // The token's end is the subscription's end: the client refreshes it and resumes.
                    let delay = TimeAmount.milliseconds(max(0, expiry.millisecondsSince1970 - Timestamp.now().millisecondsSince1970))
                    let expire = NIOLoopBound((self, context, stream), eventLoop: context.eventLoop)
                    stream.expiry = context.eventLoop.scheduleTask(in: delay) {
                        let (handler, context, stream) = expire.value
                        handler.expire(stream, context: context)
                    }
                }
            }
        } catch {
            if !sink.headWritten {
                self.state = .receiving(head, .route(.topicEvents(topic)), nil, received: 0)
            }
            if error.code == .nothingAfterEnd {
                // EventSource stops reconnecting on 204: the client has everything.
                self.respond(context: context, head: head, status: .noContent, body: nil, contentType: nil)
                return
            }
            throw error
        }
    }

    /// Removes the handlers a streaming HTTP/1.1 connection no longer needs — the request decoder, the
    /// pipelining helper, the response-head validator — so an idle subscriber costs less memory. The
    /// response encoder stays (it writes the final chunk); bytes the client sends from now on are
    /// dropped by ``ConnectionIOHandler`` (an `EventSource` sends none).
    private func shedRequestHandlers(context: ChannelHandlerContext) {
        self.io?.discardInbound = true
        let sync = context.pipeline.syncOperations
        if let decoder = try? sync.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self) {
            sync.removeHandler(context: decoder, promise: nil)
        }
        if let pipelining = try? sync.context(handlerType: HTTPServerPipelineHandler.self) {
            sync.removeHandler(context: pipelining, promise: nil)
        }
        if let validator = try? sync.context(handlerType: NIOHTTPResponseHeadersValidator.self) {
            sync.removeHandler(context: validator, promise: nil)
        }
    }

    /// Ends a stream whose token expired, with a retryable `token_expired` error.
    private func expire(_ stream: SSEStream, context: ChannelHandlerContext) {
        guard case .streaming(let current) = self.state, current === stream, let subscriber = stream.subscriber else {
            return
        }
        subscriber.cancel()
        self.endStream(
            subscriber: subscriber,
            reason: DisconnectReason(
                code: "token_expired", message: "the token expired; refresh it and resume from the last id", retryable: true),
            context: context)
    }

    /// Ends an SSE response: normally with the end of the body; otherwise after an `error` event naming
    /// the reason (slow consumer, shutdown), closing the connection.
    private func endStream(subscriber: Subscriber, reason: DisconnectReason, context: ChannelHandlerContext) {
        guard case .streaming(let stream) = self.state else { return }
        stream.expiry?.cancel()
        self.io?.eventsDelivered += subscriber.delivered
        if !reason.isNormal {
            self.io?.closeReason = reason.code
            let notice = Event(
                seq: nil, topic: stream.topic, timestamp: .now(),
                payload: .error(
                    StreamError(code: reason.code, message: reason.message, retryable: reason.retryable, terminal: true)))
            stream.sink.write(self.hub.encode(notice, format: subscriber.format))
        }
        stream.sink.writeHeadIfNeeded()
        let keepAlive = stream.keepAlive && reason.isNormal
        self.state = keepAlive ? .idle : .closing
        let end = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if keepAlive {
            self.armRequestTimer(context: context)
        } else {
            end.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            if reason == .slowConsumer {
                // A stalled reader may never take the last bytes: don't wait for them.
                context.close(promise: nil)
            }
        }
    }

    // MARK: Topics and generations

    private func cancelTopic(_ name: String, head: HTTPRequestHead, context: ChannelHandlerContext) {
        let hub = self.hub
        if let broker = self.shared.broker {
            let generations = self.shared.generations
            self.respondAsync(context: context, head: head) {
                _ = await generations?.cancel(topic: name)  // runs here: abort it directly
                guard let snapshot = try await broker.cancelTopic(name) else {
                    throw APIError.notFound("no topic named '\(name)'")
                }
                return (.ok, APIJSON.topic(snapshot, allocator: ByteBufferAllocator()), [])
            }
            return
        }
        guard let generations = self.shared.generations else {
            do {
                guard let snapshot = try hub.cancelTopic(named: name) else {
                    return self.respond(context: context, head: head, error: .notFound("no topic named '\(name)'"))
                }
                self.respond(
                    context: context, head: head, status: .ok,
                    json: APIJSON.topic(snapshot, allocator: context.channel.allocator))
            } catch {
                self.respond(context: context, head: head, error: APIError(error))
            }
            return
        }
        self.respondAsync(context: context, head: head) {
            // A running generation is cancelled through its runner, so the upstream request is aborted too.
            _ = await generations.cancel(topic: name)
            guard let snapshot = try hub.cancelTopic(named: name) else {
                throw APIError.notFound("no topic named '\(name)'")
            }
            return (.ok, APIJSON.topic(snapshot, allocator: ByteBufferAllocator()), [])
        }
    }

    private func startGeneration(
        head: HTTPRequestHead, body: ByteBuffer, principal: Principal, context: ChannelHandlerContext
    ) throws {
        guard let generations = self.shared.generations else {
            throw APIError(.notImplemented, "unsupported", "generations are not enabled on this hub")
        }
        var parsed = try GenerationRequestParser.parse(body, headers: head.headers)
        guard principal.capabilities.generate || principal.capabilities.admin else {
            self.shared.metrics.authFailed("forbidden")
            throw APIError(.forbidden, "forbidden", AuthError.forbidden("starting generations").message)
        }
        if let topic = parsed.topic { try self.require(principal, .publish, topic: topic) }
        if self.shared.auth != nil { parsed.owner = principal.subject }
        if let span = self.currentSpan {
            parsed.traceHeaders = RequestTracing.propagationHeaders(for: span, fallback: parsed.traceHeaders)
            span.attributes["newsroom.provider"] = parsed.provider
        }
        let request = parsed
        let host = head.headers.first(name: "host") ?? "\(self.shared.configuration.host):\(self.shared.configuration.port)"
        let scheme = "http"
        self.respondAsync(context: context, head: head) {
            let info: GenerationInfo
            do {
                info = try await generations.start(request)
            } catch let error as GenerationError {
                throw APIError(error)
            }
            var json = JSONWriter(buffer: ByteBuffer())
            json.beginObject()
            json.field("generation", info.id)
            json.field("topic", info.topic)
            json.field("events_url", "\(scheme)://\(host)/v1/topics/\(info.topic)/events")
            json.field("ws_url", "ws://\(host)/v1/topics/\(info.topic)/ws")
            json.endObject()
            return (.created, json.buffer, [("location", "/v1/generations/\(info.id)")])
        }
    }

    private func generation(id: String, head: HTTPRequestHead, principal: Principal, context: ChannelHandlerContext) {
        guard let generations = self.shared.generations else {
            return self.respond(
                context: context, head: head,
                error: APIError(.notImplemented, "unsupported", "generations are not enabled on this hub"))
        }
        let cancel = head.method == .DELETE
        self.respondAsync(context: context, head: head) {
            // The generation's topic decides: cancel needs `cancel`, reading its state `subscribe`.
            guard let current = await generations.info(generation: id) else {
                throw APIError.notFound("no generation '\(id)'")
            }
            guard principal.capabilities.allows(cancel ? .cancel : .subscribe, topic: current.topic) else {
                throw APIError(
                    .forbidden, "forbidden",
                    AuthError.forbidden(cancel ? .cancel : .subscribe, topic: current.topic).message)
            }
            let info = cancel ? await generations.cancel(generation: id) : current
            guard let info else { throw APIError.notFound("no generation '\(id)'") }
            return (.ok, APIJSON.generation(info, allocator: ByteBufferAllocator()), [])
        }
    }

    // MARK: Responses

    /// Counts the request and ends its span.
    private func finishRequest(status: HTTPResponseStatus) {
        self.shared.metrics.request(route: self.currentRoute, status: status)
        if let span = self.currentSpan {
            span.attributes["http.response.status_code"] = Int(status.code)
            if status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            span.end()
            self.currentSpan = nil
        }
    }

    private func respondAsync(
        context: ChannelHandlerContext, head: HTTPRequestHead,
        _ work: @escaping @Sendable () async throws -> (HTTPResponseStatus, ByteBuffer, [(String, String)])
    ) {
        self.state = .responding(keepAlive: head.isKeepAlive)
        let promise = context.eventLoop.makePromise(of: (HTTPResponseStatus, ByteBuffer, [(String, String)]).self)
        promise.completeWithTask(work)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { result in
            let (handler, context) = loopBound.value
            guard case .responding = handler.state else { return }
            switch result {
            case .success(let (status, body, headers)):
                handler.respond(context: context, head: head, status: status, json: body, headers: headers)
            case .failure(let error as APIError):
                handler.respond(context: context, head: head, error: error)
            case .failure(let error as HubError):
                handler.respond(context: context, head: head, error: APIError(error))
            case .failure:
                handler.respond(
                    context: context, head: head, error: APIError(.internalServerError, "internal", "internal error"))
            }
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, error: APIError, forceClose: Bool = false) {
        if error.status == .noContent {
            return self.respond(context: context, head: head, status: .noContent, body: nil, contentType: nil)
        }
        self.respond(
            context: context, head: head, status: error.status, body: error.body(allocator: context.channel.allocator),
            contentType: "application/json", headers: error.headers, forceClose: forceClose)
    }

    private func respond(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, json: ByteBuffer,
        headers: [(String, String)] = []
    ) {
        self.respond(context: context, head: head, status: status, body: json, contentType: "application/json", headers: headers)
    }

    private func respond(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, body: ByteBuffer?,
        contentType: String?, headers extra: [(String, String)] = [], forceClose: Bool = false
    ) {
        let keepAlive = head.isKeepAlive && !forceClose
        self.finishRequest(status: status)
        var headers = HTTPHeaders()
        if let contentType { headers.add(name: "content-type", value: contentType) }
        if status != .noContent {
            headers.add(name: "content-length", value: String(body?.readableBytes ?? 0))
        }
        headers.add(contentsOf: extra)
        if !extra.contains(where: { $0.0 == "access-control-allow-origin" }) {
            headers.add(contentsOf: self.corsHeaders(head))
        }
        if !keepAlive && !self.isHTTP2 { headers.add(name: "connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if let body, head.method != .HEAD, body.readableBytes > 0 {
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        }
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if keepAlive {
            self.state = .idle
            self.armRequestTimer(context: context)
        } else {
            self.state = .closing
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
