import NIOCore
import NIOHTTP1
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomWire
import Synchronization
import Tracing

/// A request read completely, with what the responder needs to answer it.
struct APIRequest {
    var head: HTTPRequestHead
    var route: Route
    var target: RequestTarget
    var body: ByteBuffer
    /// The client's address (the publish rate-limit key without auth).
    var client: String
    /// The request's server span, when it is traced.
    var span: (any Span)?
}

/// How a request is answered.
enum APIAnswer {
    /// At once.
    case response(HTTPResponse)
    /// After the control service answers (a task; the handler writes the result on its loop).
    case deferred(@Sendable () async -> HTTPResponse)
    /// With a Server-Sent Events stream of a topic.
    case stream(SubscriptionRequest)
    /// With a Server-Sent Events stream of the operator's console snapshots (the caller is an admin).
    case adminStream(interval: TimeAmount, snapshot: @Sendable () async -> HTTPResponse)
}

/// The HTTP API: each route parses its request, calls the ``ControlService`` and turns the result (or
/// its ``ControlError``) into a response. No rule or limit lives here; only the HTTP forms.
struct APIResponder {
    let dependencies: HTTPDependencies

    private var control: ControlService { self.dependencies.control }

    /// Whether a route needs the caller's credentials: every route but the health checks and the viewer's
    /// files, and `/metrics` only when it is private.
    func needsCredentials(_ route: Route) -> Bool {
        guard self.control.requiresCredentials else { return false }
        switch route {
        // gRPC-Web and the provider APIs authenticate themselves (gRPC statuses; providers' error shapes).
        case .healthz, .readyz, .viewer, .grpc, .proxy: return false
        case .metrics: return self.control.configuration.metricsRequireAdmin
        // The console's page needs an admin token (?token=); its scripts and styles hold no data.
        case .adminConsole(let file): return file == "index.html"
        default: return true
        }
    }

    /// The answer to give before anyone is authenticated, if any: a WebSocket from a foreign origin is
    /// refused before anything else (cross-site requests carry the browser's cookies and tokens).
    func preflightAnswer(_ request: APIRequest) -> HTTPResponse? {
        switch request.route {
        case .topicWebSocket, .multiplexWebSocket:
            self.dependencies.cors.allowsWebSocket(request.head) ? nil : Self.originRefused
        default:
            nil
        }
    }

    /// Answers a request made by `principal`.
    func answer(_ request: APIRequest, principal: Principal) -> APIAnswer {
        do throws(ControlError) {
            return try self.route(request, principal: principal)
        } catch {
            return .response(HTTPResponse(error))
        }
    }

    private func route(_ request: APIRequest, principal: Principal) throws(ControlError) -> APIAnswer {
        let control = self.control
        let method = request.head.method
        switch request.route {
        case .healthz:
            return .response(.json(.ok, APIJSON.status("ok", allocator: ByteBufferAllocator())))
        case .readyz:
            let ready = self.dependencies.ready.load(ordering: .relaxed)
            return .response(
                .json(ready ? .ok : .serviceUnavailable, APIJSON.status(ready ? "ready" : "draining", allocator: ByteBufferAllocator())))
        case .metrics:
            try control.authorize(.readMetrics, for: principal)
            guard let metrics = self.dependencies.metricsText else { return .response(.notFound("metrics are not enabled")) }
            return .response(HTTPResponse(status: .ok, body: metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8"))
        case .topics:
            let snapshots = try control.topics(as: principal)
            return .response(.json(.ok, APIJSON.topics(snapshots, allocator: ByteBufferAllocator())))
        case .topic(let name):
            if method == .DELETE {
                return .deferred {
                    do throws(ControlError) {
                        let cancellation = try await control.cancelTopic(name, as: principal)
                        return .json(.ok, APIJSON.topic(cancellation.topic, allocator: ByteBufferAllocator()))
                    } catch {
                        return HTTPResponse(error)
                    }
                }
            }
            return .deferred {
                do throws(ControlError) {
                    return .json(.ok, APIJSON.topic(try await control.topic(name, as: principal), allocator: ByteBufferAllocator()))
                } catch {
                    return HTTPResponse(error)
                }
            }
        case .topicEvents(let name):
            if method == .POST { return try self.publish(request, topic: name, principal: principal) }
            return try self.subscription(request, topic: name, principal: principal)
        case .generations:
            return try self.startGeneration(request, principal: principal)
        case .generation(let id):
            let cancel = method == .DELETE
            return .deferred {
                do throws(ControlError) {
                    let info =
                        cancel ? try await control.cancelGeneration(id, as: principal) : try await control.generation(id, as: principal)
                    return .json(.ok, APIJSON.generation(info, allocator: ByteBufferAllocator()))
                } catch {
                    return HTTPResponse(error)
                }
            }
        case .topicWebSocket(let name):
            // Reached only when the request was not upgraded: say why.
            try ControlService.validateTopic(name)
            if let after = request.target.query["after"] { _ = try SubscriptionRequest.resumePoint(after) }
            if let policy = request.target.query["policy"] { _ = try SubscriptionRequest.policy(named: policy) }
            if let delay = request.target.query["max_delay"] { _ = try ControlService.duration(delay, name: "max_delay") }
            return .response(Self.upgradeRequired)
        case .multiplexWebSocket:
            return .response(Self.upgradeRequired)
        case .grpc, .proxy, .socketIO:
            return .response(.internalError)  // answered by the gRPC-Web and proxy paths of the request handler
        case .viewer(let file):
            guard let asset = ViewerAssets.files[file] else { return .response(.notFound("no such file")) }
            return .response(
                HTTPResponse(
                    status: .ok, headers: [("cache-control", "no-cache")], body: ByteBuffer(string: asset.body),
                    contentType: asset.contentType))
        case .adminConsole(let file):
            if file == "index.html" {
                try control.authorizeAdminConsole(principal)
            } else if !control.adminConsoleEnabled {
                throw ControlService.adminConsoleDisabled
            }
            guard let asset = AdminConsoleAssets.files[file] else { return .response(.notFound("no such file")) }
            // Its buttons cancel answers: never inside another site's frame; its URL holds a token: never
            // sent on as a referrer.
            return .response(
                HTTPResponse(
                    status: .ok,
                    headers: [("cache-control", "no-store"), ("x-frame-options", "DENY"), ("referrer-policy", "no-referrer")],
                    body: ByteBuffer(string: asset.body), contentType: asset.contentType))
        case .admin:
            return .deferred(self.adminSnapshot(principal))
        case .adminStream:
            try control.authorizeAdminConsole(principal)
            return .adminStream(interval: .seconds(1), snapshot: self.adminSnapshot(principal))
        }
    }

    /// The console's snapshot (`GET /v1/admin`, and each event of `/v1/admin/stream`).
    private func adminSnapshot(_ principal: Principal) -> @Sendable () async -> HTTPResponse {
        let (control, metricsText) = (self.control, self.dependencies.metricsText)
        return {
            do throws(ControlError) {
                let snapshot = try await control.adminSnapshot(as: principal)
                let metrics = metricsText.map { MetricsSummary(prometheusText: String(buffer: $0())) }
                return .json(.ok, APIJSON.admin(snapshot, metrics: metrics, allocator: ByteBufferAllocator()))
            } catch {
                return HTTPResponse(error)
            }
        }
    }

    // MARK: Topics

    private func publish(_ request: APIRequest, topic: String, principal: Principal) throws(ControlError) -> APIAnswer {
        let contentType = request.head.headers.first(name: "content-type")?.lowercased() ?? ""
        let ndjson = contentType.hasPrefix("application/x-ndjson") || contentType.hasPrefix("application/jsonl")
        if let format = request.target.query["format"] {
            return try self.publishProviderStream(request, format: format, chunkLines: !contentType.hasPrefix("text/event-stream"), topic: topic, principal: principal)
        }
        try ControlService.validateTopic(topic)
        // Refused before the body is read: a forbidden caller learns nothing about its body.
        try self.control.authorize(.publish(topic), for: principal)
        guard request.body.readableBytes > 0 else { throw ControlError.invalidArgument("the body is empty", code: "invalid_event") }
        let payloads: [EventPayload]
        do {
            payloads = try EventDecoder.decodeBody(request.body, ndjson: ndjson)
        } catch {
            throw ControlError.invalidArgument(error.message, code: "invalid_event")
        }
        let flushInterval = try request.target.query["flush_interval"].map { value throws(ControlError) in
            try ControlService.duration(value, name: "flush_interval")
        }
        let control = self.control
        let client = request.client
        if let receipt = try control.publishAtOnce(payloads, to: topic, as: principal, from: client, flushInterval: flushInterval) {
            return .response(.json(.accepted, APIJSON.receipt(receipt, allocator: ByteBufferAllocator())))
        }
        return .deferred {
            do throws(ControlError) {
                let receipt = try await control.publish(
                    payloads, to: topic, as: principal, from: client, flushInterval: flushInterval)
                return .json(.accepted, APIJSON.receipt(receipt, allocator: ByteBufferAllocator()))
            } catch {
                return HTTPResponse(error)
            }
        }
    }

    /// `POST /v1/topics/{topic}/events?format=<provider format>[&more=true]`: a provider's own stream
    /// teed by an app — one chunk object per line (what its SDK yields) or, as `text/event-stream`, the
    /// raw SSE body — decoded with the generations' adapters. `202 {"topic","first_seq","last_seq"}`,
    /// or `202 {"topic","events":0}` when the post completed no event yet.
    private func publishProviderStream(
        _ request: APIRequest, format: String, chunkLines: Bool, topic: String, principal: Principal
    ) throws(ControlError) -> APIAnswer {
        let final: Bool
        switch request.target.query["more"] {
        case nil, "false"?: final = true
        case "true"?: final = false
        default: throw ControlError.invalidArgument("'more' must be true or false")
        }
        try ControlService.validateTopic(topic)
        try self.control.authorize(.publish(topic), for: principal)
        let control = self.control
        let client = request.client
        let body = request.body
        return .deferred {
            do throws(ControlError) {
                let receipt = try await control.publishProviderStream(
                    body, format: format, chunkLines: chunkLines, final: final, to: topic, as: principal, from: client)
                guard let receipt else {
                    var json = JSONWriter(buffer: ByteBuffer())
                    json.beginObject()
                    json.field("topic", topic)
                    json.field("events", 0)
                    json.endObject()
                    return .json(.accepted, json.buffer)
                }
                return .json(.accepted, APIJSON.receipt(receipt, allocator: ByteBufferAllocator()))
            } catch {
                return HTTPResponse(error)
            }
        }
    }

    /// `GET` (and `HEAD`) `/v1/topics/{topic}/events`: the resume point from `Last-Event-ID` (which a
    /// browser's `EventSource` sends when it reconnects with the original URL, so it wins) or `?after=`.
    private func subscription(_ request: APIRequest, topic: String, principal: Principal) throws(ControlError) -> APIAnswer {
        if request.head.method == .HEAD {
            // What a GET would answer, without subscribing (link checkers, proxies probing the URL).
            try ControlService.validateTopic(topic)
            try self.control.authorize(.subscribe(topic), for: principal)
            return .response(HTTPResponse(status: .ok, headers: StreamingResponseSink.streamHeaders))
        }
        var subscription = SubscriptionRequest(topic: topic)
        if let header = request.head.headers.first(name: "last-event-id") {
            subscription.after = try SubscriptionRequest.resumePoint(header)
        } else if let query = request.target.query["after"] {
            subscription.after = try SubscriptionRequest.resumePoint(query)
        }
        if let name = request.target.query["policy"] {
            subscription.policy = try SubscriptionRequest.policy(named: name)
        }
        if let delay = request.target.query["max_delay"] {
            subscription.maxDelay = try ControlService.duration(delay, name: "max_delay")
        }
        return .stream(subscription)
    }

    // MARK: Generations

    private func startGeneration(_ request: APIRequest, principal: Principal) throws(ControlError) -> APIAnswer {
        let json: JSONValue
        do {
            json = try JSONValue.parse(request.body.readableBytesView)
        } catch {
            throw ControlError.invalidArgument(error.message)
        }
        var generation = try GenerationRequest(json: json, traceHeaders: HTTPCredentials.traceHeaders(of: request.head))
        if let span = request.span {
            generation.traceHeaders = RequestTracing.propagationHeaders(for: span, fallback: generation.traceHeaders)
            span.attributes["newsroom.provider"] = generation.provider
        }
        let control = self.control
        let host =
            request.head.headers.first(name: "host")
            ?? "\(self.dependencies.configuration.host):\(self.dependencies.configuration.port)"
        let started = generation
        return .deferred {
            do throws(ControlError) {
                let info = try await control.startGeneration(started, as: principal)
                var json = JSONWriter(buffer: ByteBuffer())
                json.beginObject()
                json.field("generation", info.id)
                json.field("topic", info.topic)
                json.field("events_url", "http://\(host)/v1/topics/\(info.topic)/events")
                json.field("ws_url", "ws://\(host)/v1/topics/\(info.topic)/ws")
                json.endObject()
                return .json(.created, json.buffer, headers: [("location", "/v1/generations/\(info.id)")])
            } catch {
                return HTTPResponse(error)
            }
        }
    }

    // MARK: Answers

    static let upgradeRequired = HTTPResponse(
        error: .upgradeRequired, code: "upgrade_required", message: "this endpoint needs a WebSocket upgrade (HTTP/1.1)",
        headers: [("upgrade", "websocket")])

    static let originRefused = HTTPResponse(
        error: .forbidden, code: "origin_not_allowed", message: "this origin may not open WebSockets")
}
