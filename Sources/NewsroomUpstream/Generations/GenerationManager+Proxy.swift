import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NewsroomCore
import NewsroomWire
import Synchronization

/// A proxied request's side of its run: where the provider's answer goes, and what the caller asked.
final class ProxySession: Sendable {
    let relay: any ProxyRelay
    let endpoint: ProxyEndpoint
    let stream: Bool
    let detach: Bool
    let topicNamed: Bool
    private let gone = Atomic(false)

    init(relay: any ProxyRelay, endpoint: ProxyEndpoint, stream: Bool, detach: Bool, topicNamed: Bool) {
        self.relay = relay
        self.endpoint = endpoint
        self.stream = stream
        self.detach = detach
        self.topicNamed = topicNamed
    }

    /// The caller closed its connection.
    var callerGone: Bool { self.gone.load(ordering: .relaxed) }

    /// Relays a piece of the body unless the caller is gone; `false` once it is.
    func relay(_ bytes: ByteBuffer) async -> Bool {
        guard !self.callerGone else { return false }
        if await self.relay.body(bytes) { return true }
        self.gone.store(true, ordering: .relaxed)
        return false
    }

    func markGone() {
        self.gone.store(true, ordering: .relaxed)
    }
}

extension GenerationManager {
    /// Starts a proxied generation: the caller's request goes to the provider as it is (with the hub's
    /// key, or the caller's for a bring-your-own-key provider), the answer goes back to the caller as
    /// the provider sent it, and its events are published to the topic.
    ///
    /// One attempt, no retries: the caller's SDK retries as it would against the provider (it sees the
    /// provider's status, headers and body). An error the SDK retries (429, 5xx, 529) on a topic the
    /// caller named leaves the topic open for that retry, with a retryable `error`; it ends with
    /// `stream_complete(error)` if no request continues it within ``Configuration/proxyRetryGrace``.
    public func proxy(_ request: ProxyRequest) async throws(GenerationError) -> GenerationInfo {
        guard let (_, provider) = self.providers[request.provider] else {
            throw GenerationError(
                code: .unknownProvider,
                message: "unknown provider '\(request.provider.prefix(64))'; configured: "
                    + self.providerIDs.joined(separator: ", "))
        }
        if !(self.passesCallerKey(provider: request.provider) && request.callerKey != nil) {
            try Self.requireKey(provider)
        }
        guard let adapter = UpstreamAdapters.adapter(named: request.endpoint.adapter) else {
            throw GenerationError(code: .unknownProvider, message: "no adapter reads \(request.endpoint.path)")
        }
        let id = Self.makeID()
        let topic = request.topic ?? id
        guard TopicName.isValid(topic) else {
            throw GenerationError(
                code: .badRequest, message: "'X-Newsroom-Topic' must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")
        }
        if self.hub.snapshot(ofTopic: topic)?.state == .ended {
            throw GenerationError(code: .topicBusy, message: "topic '\(topic)' has ended")
        }
        let key = self.passesCallerKey(provider: request.provider) ? request.callerKey : provider.apiKey
        let upstream = Self.proxyRequest(request, provider: provider, key: key)
        let session = ProxySession(
            relay: request.relay, endpoint: request.endpoint, stream: request.stream, detach: request.detach,
            topicNamed: request.topicNamed)
        let run = GenerationRun(
            id: id, topic: topic, provider: request.provider, adapter: adapter, request: upstream,
            traceHeaders: request.traceHeaders.filter { ["traceparent", "tracestate"].contains($0.0.lowercased()) },
            cancelWhenIdle: request.cancelWhenIdle, owner: request.owner,
            redactor: SecretRedactor(secrets: [provider.apiKey, request.callerKey]),
            logger: self.logger(for: id, topic: topic, provider: request.provider), proxy: session,
            conversationTopic: request.conversation.map(Conversation.topic),
            announcedPrompt: request.announcePrompt
                ? (try? JSONValue.parse(request.body.readableBytesView)).flatMap(ConversationPrompt.lastUserMessage(in:))
                : nil)
        return try await self.launch(run)
    }

    public func adapterName(ofProvider provider: String) -> String? {
        self.configuration.providers[provider]?.adapter
    }

    public func passesCallerKey(provider: String) -> Bool {
        self.configuration.providers[provider]?.passCallerKey ?? false
    }

    public func decodeProviderStream(
        topic: String, format: String, body: ByteBuffer, chunkLines: Bool, final: Bool
    ) throws(GenerationError) -> [EventPayload] {
        try self.providerStreams.decode(topic: topic, format: format, body: body, chunkLines: chunkLines, final: final)
    }

    /// The provider request of a proxied call: the caller's body unchanged, the endpoint's path on the
    /// provider's base URL, the provider's auth header with `key`, the caller's API-version headers.
    static func proxyRequest(_ request: ProxyRequest, provider: UpstreamProvider, key: String?) -> UpstreamRequest {
        var headers: [(String, String)] = [
            ("content-type", "application/json"), ("accept", request.stream ? "text/event-stream" : "application/json"),
        ]
        switch request.endpoint.errorShape {
        case .anthropic:
            if !request.headers.contains(where: { $0.0 == "anthropic-version" }) {
                headers.append(("anthropic-version", AnthropicAdapter.apiVersion))
            }
            if let key, !key.isEmpty { headers.append(("x-api-key", key)) }
        case .openAI:
            if let key, !key.isEmpty { headers.append(("authorization", "Bearer \(key)")) }
        }
        headers += request.headers
        for (name, value) in provider.headers.sorted(by: { $0.key < $1.key }) {
            headers.removeAll { $0.0.lowercased() == name.lowercased() }
            headers.append((name, value))
        }
        var body = request.body
        if request.rewritesModel, let model = request.model,
            case .object(var object)? = try? JSONValue.parse(request.body.readableBytesView)
        {
            // `provider/model`: the provider is asked for its own name of the model.
            object["model"] = .string(model)
            body = ByteBuffer()
            JSONValue.object(object).write(to: &body)
        }
        return UpstreamRequest(
            url: provider.baseURL + request.endpoint.path, headers: headers, body: body, model: request.model)
    }

    /// The provider's response headers a caller's SDK reads (content type, request ids, rate limits,
    /// retry advice); hop-by-hop and length headers are the hub's own.
    static func relayedHeaders(_ headers: HTTPHeaders) -> [(String, String)] {
        let exact: Set<String> = [
            "content-type", "x-request-id", "request-id", "openai-organization", "openai-processing-ms",
            "openai-version", "anthropic-organization-id", "retry-after", "retry-after-ms", "x-should-retry",
        ]
        return headers.compactMap { name, value in
            let lower = name.lowercased()
            let keep =
                exact.contains(lower) || lower.hasPrefix("x-ratelimit-") || lower.hasPrefix("anthropic-ratelimit-")
            return keep ? (lower, value) : nil
        }
    }

    /// The one attempt of a proxied run.
    func proxyAttempt(_ run: GenerationRun, session: ProxySession) async {
        let ids = [("x-newsroom-topic", run.topic), ("x-newsroom-generation", run.id)]
        let response: HTTPClientResponse
        do {
            response = try await self.httpClient.execute(
                self.makeHTTPRequest(run), deadline: run.startedAt + self.configuration.timeouts.total,
                logger: run.logger)
        } catch {
            if Task.isCancelled || run.abortReason != nil { return await self.endRelay(run, session: session) }
            // As a gateway answers when its upstream cannot be reached: 502, in the endpoint's error shape.
            let failure = Self.connectError(error)
            await session.relay.head(status: 502, headers: [("content-type", "application/json")] + ids)
            _ = await session.relay(Self.errorBody(failure, shape: session.endpoint.errorShape))
            await session.relay.end()
            self.proxyFailed(run, session: session, error: failure, status: 502)
            return
        }
        let status = Int(response.status.code)
        await session.relay.head(status: status, headers: Self.relayedHeaders(response.headers) + ids)
        if !(200..<300).contains(status) {
            // The provider's error reaches the caller unchanged (its SDK raises its own error type), and
            // the viewers as an `error`.
            let body = await self.relayAndCollect(response.body, session: session, limit: self.configuration.maxErrorBodyBytes)
            // The outcome is the provider's error whether or not the caller stayed to read it: an SDK may
            // close an error response unread (its connection with it, which cancels this run) and retry
            // at once — the retry needs the topic left open, and the viewers the retryable `error`.
            let error = run.adapter.classifyHTTPError(status: status, body: body)
            self.proxyFailed(run, session: session, error: error, status: status)
            if Task.isCancelled || run.abortReason != nil { return }
            await session.relay.end()
            return
        }
        let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
        if contentType.hasPrefix("application/json") {
            await self.proxyCompleteAnswer(response, run: run, session: session)
        } else {
            await self.proxyStream(response, run: run, session: session)
        }
    }

    /// A streamed answer: each piece goes to the caller, then through the decoder to the topic.
    private func proxyStream(_ response: HTTPClientResponse, run: GenerationRun, session: ProxySession) async {
        var decoder = run.adapter.makeDecoder(context: run.context)
        do {
            for try await chunk in response.body {
                guard chunk.readableBytes > 0 else { continue }
                let receivedAt = NIODeadline.now()
                _ = run.noteChunk(at: receivedAt)
                if !(await session.relay(chunk)) && !session.detach {
                    run.abort(.cancelled)  // the caller left: the upstream request ends with it
                    return
                }
                let events = decoder.decode(chunk)
                if !events.isEmpty {
                    while self.hub.isFanOutOverloaded, !Task.isCancelled, run.abortReason == nil {
                        try? await self.hub.waitForFanOutCapacity(timeout: .seconds(1))
                    }
                    self.publish(events, run: run, receivedAt: receivedAt)
                }
            }
        } catch {
            if Task.isCancelled || run.abortReason != nil { return await self.endRelay(run, session: session) }
            // The upstream connection broke mid-answer: the caller's stream is cut too, as it would be.
            await session.relay.abort()
            self.publish(Self.lostMidStream, run: run, receivedAt: .now())
            return
        }
        if Task.isCancelled || run.abortReason != nil { return await self.endRelay(run, session: session) }
        await session.relay.end()
        self.publish(decoder.finish(), run: run, receivedAt: .now())
    }

    /// A non-streaming answer: relayed as it arrives, then decoded whole for the viewers.
    private func proxyCompleteAnswer(_ response: HTTPClientResponse, run: GenerationRun, session: ProxySession) async {
        let limit = self.configuration.maxCompleteAnswerBytes
        let body = await self.relayAndCollect(response.body, session: session, limit: limit)
        if session.callerGone && !session.detach {
            run.abort(.cancelled)
            return
        }
        if Task.isCancelled || run.abortReason != nil { return await self.endRelay(run, session: session) }
        await session.relay.end()
        _ = run.noteChunk(at: .now())
        let events: [EventPayload]
        if body.readableBytes >= limit {
            events = run.context.failureEvents(
                StreamError(
                    code: UpstreamErrorCode.upstreamProtocol,
                    message: "the answer is larger than \(limit) bytes and was not broadcast", retryable: false))
        } else if let json = try? JSONValue.parse(body.readableBytesView) {
            events = CompleteResponses.events(adapter: session.endpoint.adapter, json: json, context: run.context)
        } else {
            events = run.context.failureEvents(
                StreamError(
                    code: UpstreamErrorCode.upstreamProtocol, message: "the upstream's answer is not JSON",
                    retryable: false))
        }
        self.publish(events, run: run, receivedAt: .now())
    }

    /// Relays a body to the caller and keeps its first `limit` bytes.
    private func relayAndCollect(
        _ body: HTTPClientResponse.Body, session: ProxySession, limit: Int
    ) async -> ByteBuffer {
        var collected = ByteBuffer()
        do {
            for try await chunk in body {
                if collected.readableBytes < limit {
                    var piece = chunk
                    if let slice = piece.readSlice(length: min(piece.readableBytes, limit - collected.readableBytes)) {
                        collected.writeImmutableBuffer(slice)
                    }
                }
                if !(await session.relay(chunk)) && !session.detach { break }
            }
        } catch {
            // What arrived is classified; the caller's response ends where the upstream's did.
        }
        return collected
    }

    /// The caller's response after the run was stopped from outside (a cancel, a timeout, shutdown):
    /// ended where it is, unless the caller left.
    private func endRelay(_ run: GenerationRun, session: ProxySession) async {
        guard !session.callerGone else { return }
        await session.relay.end()
    }

    /// An error answer (before any of the answer was streamed): what the viewers see. An error the
    /// caller's SDK retries, on a topic the caller named, leaves the topic open for the retry.
    private func proxyFailed(_ run: GenerationRun, session: ProxySession, error: StreamError, status: Int) {
        let retriedBySDK = [408, 409, 429, 500, 502, 503, 504, 529].contains(status) || status >= 500
        if session.topicNamed && retriedBySDK && error.retryable {
            var notice = error
            notice.retryable = true
            notice.terminal = false
            run.state.withLock { $0.leftOpen = true }
            self.publish([.error(notice)], run: run, receivedAt: .now())
            self.endIfNotContinued(topic: run.topic, after: self.configuration.proxyRetryGrace)
        } else {
            self.publish(run.context.failureEvents(error), run: run, receivedAt: .now())
        }
    }

    /// Ends a topic left open for an SDK's retry if no generation continued it in time.
    private func endIfNotContinued(topic: String, after grace: TimeAmount) {
        Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(max(0, grace.nanoseconds)))
            guard let self else { return }
            let continued = self.registry.withLock { $0.runningByTopic[topic] != nil }
            guard !continued, let snapshot = self.hub.snapshot(ofTopic: topic), snapshot.state != .ended else { return }
            let events: [EventPayload] = [.streamComplete(StreamComplete(finishReason: .error))]
            if let broker = self.broker {
                _ = try? await broker.publish(events, to: topic, owner: nil)
            } else {
                _ = try? self.hub.publish(events, to: topic)
            }
        }
    }

    /// An error body in the endpoint's own shape, for failures the hub reports itself (the provider
    /// could not be reached).
    static func errorBody(_ error: StreamError, shape: ProxyEndpoint.ErrorShape) -> ByteBuffer {
        let body: JSONValue
        switch shape {
        case .openAI:
            body = .object([
                "error": .object([
                    "message": .string(error.message), "type": .string("api_error"), "param": .null,
                    "code": .string(error.code),
                ])
            ])
        case .anthropic:
            body = .object([
                "type": .string("error"),
                "error": .object(["type": .string("api_error"), "message": .string(error.message)]),
            ])
        }
        var buffer = ByteBuffer()
        body.write(to: &buffer)
        return buffer
    }
}
