import NIOCore
import NIOHTTP1
import NewsroomCore

/// Serves one connection of the ``ReplayUpstream``: reads a request, picks the transcript and the
/// behaviour, and writes the response event by event with scheduled tasks.
///
/// Confined to its channel's event loop; the scheduled tasks that write later events reach it through
/// `NIOLoopBound`.
final class ReplayHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: ReplayUpstream
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    /// The request being answered, while its response is not complete.
    private var current: Int?
    private var scheduled: [Scheduled<Void>] = []
    private var keepAlive: RepeatedTask?
    /// True while an event's pieces are being written (keep-alives wait for the event's end).
    private var midEvent = false
    private var generator = SplitMix(seed: UInt64.random(in: 0...UInt64.max))

    init(server: ReplayUpstream) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body.clear()
        case .body(var chunk):
            self.body.writeBuffer(&chunk)
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            self.handle(head, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stopTimers()
        if let current = self.current {
            let now = NIODeadline.now()
            self.server.update(request: current) { request in
                if !request.cutByServer, request.completedAt == nil { request.clientClosedAt = now }
            }
            self.current = nil
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func stopTimers() {
        for task in self.scheduled { task.cancel() }
        self.scheduled.removeAll()
        self.keepAlive?.cancel()
        self.keepAlive = nil
    }

    // MARK: Choosing the response

    private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let bodyBytes = Array(self.body.readableBytesView)
        let json = try? JSONValue.parse(bodyBytes)
        let path = String(head.uri.prefix { $0 != "?" })
        let headers = head.headers.map { ReplayTranscript.Header(name: $0.name, value: $0.value) }
        if head.method == .GET, path == "/__replay/requests" {
            // For black-box tests in other processes: what the upstream saw (headers included).
            self.respond(status: 200, json: self.server.requestsJSON(), context: context)
            return
        }
        var name = head.headers.first(name: "x-replay-transcript") ?? json?["replay_transcript"]?.stringValue
        if name == nil {
            let key = path.hasPrefix("/v1beta/models/") ? "/v1beta/models" : path
            name = self.server.configuration.defaultTranscripts[key]
        }
        let behaviorText = head.headers.first(name: "x-replay-behavior") ?? json?["replay_behavior"]?.stringValue ?? ""
        let behavior = ReplayBehavior(parsing: behaviorText)
        let id = self.server.record(
            ReplayUpstream.RecordedRequest(
                id: 0, method: head.method.rawValue, uri: head.uri, headers: headers, body: bodyBytes, transcript: name,
                receivedAt: .now()))
        self.current = id

        guard head.method == .POST, let name else {
            self.respond(
                status: 404, json: #"{"error":{"message":"no such endpoint","type":"not_found_error"}}"#,
                context: context)
            return
        }
        if let key = self.server.configuration.requiredAPIKey {
            let bearer = head.headers.first(name: "authorization")
            let presented = [
                bearer.map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : $0 },
                head.headers.first(name: "x-api-key"), head.headers.first(name: "x-goog-api-key"),
            ]
            guard presented.contains(key) else {
                self.respond(
                    status: 401,
                    json:
                        #"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
                    context: context)
                return
            }
        }
        // A request that does not ask for a stream gets the transcript's whole-answer twin, if it has one.
        let streaming = json?["stream"]?.boolValue == true || !Self.wholeAnswerPaths.contains(path)
        let chosen = streaming ? nil : self.server.transcript(named: name + "_json")
        guard let transcript = chosen ?? self.server.transcript(named: name) else {
            self.respond(
                status: 404, json: #"{"error":{"message":"replay: unknown transcript","type":"not_found_error"}}"#,
                context: context)
            return
        }
        if let status = behavior.failStatus, self.server.nextAttempt("\(name)|\(behaviorText)") <= behavior.failCount {
            var extra: [(String, String)] = []
            if let retryAfter = behavior.retryAfter { extra.append(("retry-after", retryAfter)) }
            if let milliseconds = behavior.retryAfterMilliseconds { extra.append(("retry-after-ms", milliseconds)) }
            let type =
                switch status {
                case 429: "rate_limit_error"
                case 529: "overloaded_error"
                case 400..<500: "invalid_request_error"
                default: "api_error"
                }
            self.respond(
                status: status,
                json:
                    #"{"error":{"message":"replay: injected \#(status)","type":"\#(type)","param":null,"code":null}}"#,
                headers: extra, context: context)
            return
        }
        switch transcript.content {
        case .response(let status, let responseHeaders, let body):
            self.respond(
                status: status, body: body, headers: responseHeaders.map { ($0.name, $0.value) }, context: context)
        case .stream(let contentType, _):
            self.stream(transcript.events, contentType: contentType, behavior: behavior, context: context)
        }
    }

    // MARK: Whole responses

    /// The endpoints whose answer is one JSON object unless the request asks for a stream.
    static let wholeAnswerPaths: Set<String> = ["/v1/chat/completions", "/v1/responses", "/v1/messages"]

    private func respond(
        status: Int, json: String, headers: [(String, String)] = [], context: ChannelHandlerContext
    ) {
        self.respond(
            status: status, body: Array(json.utf8), headers: [("content-type", "application/json")] + headers,
            context: context)
    }

    private func respond(status: Int, body: [UInt8], headers: [(String, String)], context: ChannelHandlerContext) {
        var responseHeaders = HTTPHeaders(headers.filter { $0.0.lowercased() != "content-length" })
        responseHeaders.replaceOrAdd(name: "content-length", value: String(body.count))
        let id = self.current
        self.server.update(request: id ?? 0) { $0.status = status }
        context.write(
            self.wrapOutboundOut(
                .head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: responseHeaders))),
            promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        self.end(context: context)
    }

    private func end(context: ChannelHandlerContext) {
        self.stopTimers()
        if let id = self.current {
            let now = NIODeadline.now()
            self.server.update(request: id) { $0.completedAt = now }
        }
        self.current = nil
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    // MARK: Streams

    private func stream(
        _ events: [[UInt8]], contentType: String, behavior: ReplayBehavior, context: ChannelHandlerContext
    ) {
        if let seed = behavior.chunkSeed { self.generator = SplitMix(seed: seed) }
        self.server.update(request: self.current ?? 0) { $0.status = 200 }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "cache-control", value: "no-cache")
        context.writeAndFlush(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
            promise: nil)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        if let interval = behavior.keepAlive {
            let keepAliveBytes: [UInt8] = contentType.contains("ndjson") ? [UInt8(ascii: "\n")] : Array(":\n\n".utf8)
            self.keepAlive = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                let (handler, context) = bound.value
                guard !handler.midEvent, handler.current != nil else { return }
                context.writeAndFlush(
                    handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: keepAliveBytes)))), promise: nil)
            }
        }
        let delay = behavior.eventDelay ?? self.server.configuration.eventDelay
        self.schedule(in: behavior.firstByteDelay ?? .zero, bound: bound) { handler, context in
            handler.send(events, index: 0, delay: delay, behavior: behavior, context: context)
        }
    }

    private func schedule(
        in delay: TimeAmount, bound: NIOLoopBound<(ReplayHandler, ChannelHandlerContext)>,
        _ body: @escaping (ReplayHandler, ChannelHandlerContext) -> Void
    ) {
        let boundBody = NIOLoopBound(body, eventLoop: bound.eventLoop)
        let task = bound.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = bound.value
            boundBody.value(handler, context)
        }
        self.scheduled.append(task)
        if self.scheduled.count > 8 { self.scheduled.removeFirst(self.scheduled.count - 8) }
    }

    private func send(
        _ events: [[UInt8]], index: Int, delay: TimeAmount, behavior: ReplayBehavior, context: ChannelHandlerContext
    ) {
        guard let id = self.current else { return }
        if behavior.cutAfter == index {
            self.server.update(request: id) { $0.cutByServer = true }
            self.stopTimers()
            self.current = nil
            context.close(promise: nil)
            return
        }
        if behavior.stallAfter == index {
            return  // nothing more, ever; keep-alives (if asked for) continue
        }
        guard index < events.count else {
            self.end(context: context)
            return
        }
        let event = events[index]
        if behavior.randomChunks {
            self.midEvent = true
            var start = 0
            while start < event.count {
                let length = Int(self.generator.next() % 7) + 1
                let end = min(event.count, start + length)
                context.writeAndFlush(
                    self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: event[start..<end])))), promise: nil)
                start = end
            }
            self.midEvent = false
        } else {
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: event)))), promise: nil)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.schedule(in: index + 1 < events.count ? delay : .zero, bound: bound) { handler, context in
            handler.send(events, index: index + 1, delay: delay, behavior: behavior, context: context)
        }
    }
}

/// SplitMix64, for reproducible random chunking.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
