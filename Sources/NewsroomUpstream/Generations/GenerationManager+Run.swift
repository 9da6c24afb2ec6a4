import AsyncHTTPClient
import CoreMetrics
import Logging
import NIOCore
import NIOHTTP1
import NewsroomCore
import Tracing
import Synchronization

extension GenerationManager {
    /// The life of one generation: the stream and its watchdog side by side; whichever ends first
    /// ends the other. Then the terminal events an abort calls for, and the bookkeeping.
    func run(_ run: GenerationRun) async {
        // With a broker, batches are sequenced by it: one task forwards them in order (its own life,
        // so the topic's last events still go out after the stream and watchdog end).
        let forwarder = self.broker.map { broker in
            Task { await self.forward(run, through: broker) }
        }
        if let conversation = run.conversationTopic {
            let info = run.info
            await self.announce(
                .generationStarted(
                    GenerationStarted(
                        generation: run.id, answerTopic: run.topic, provider: run.provider, model: info.model,
                        prompt: run.announcedPrompt)),
                on: conversation, run: run)
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                if let proxy = run.proxy {
                    await self.proxyAttempt(run, session: proxy)
                } else {
                    await self.stream(run)
                }
            }
            group.addTask { await self.watch(run) }
            await group.next()
            group.cancelAll()
        }

        // A proxied attempt that failed in a way the caller's SDK retries has left its topic open for
        // that retry; the caller then closes its connection (an SDK may close an error response unread),
        // which cancels this generation — that cancel must not end the topic the retry is about to use.
        // (The retry grace ends it if no retry comes.)
        let leftOpen = run.state.withLock { $0.leftOpen }
        if let reason = run.abortReason, !run.hasEnded, !(leftOpen && reason == .cancelled) {
            self.publish(self.terminalEvents(for: reason, run: run), run: run, receivedAt: .now())
        }
        if !run.hasEnded, !leftOpen {
            // The stream task returned without an ending (it cannot, but the topic must end).
            self.publish(
                [
                    .error(
                        StreamError(
                            code: UpstreamErrorCode.upstreamProtocol, message: "the generation ended unexpectedly",
                            retryable: true)),
                    .streamComplete(StreamComplete(finishReason: .error)),
                ], run: run, receivedAt: .now())
        }
        run.outbox.continuation.finish()
        await forwarder?.value
        if let broker = self.broker {
            await broker.releaseLease(of: run.topic)
            await broker.recordGeneration(run.info)
        }
        if let conversation = run.conversationTopic {
            let info = run.info
            await self.announce(
                .generationEnded(
                    GenerationEnded(
                        generation: run.id, answerTopic: run.topic, finishReason: info.finishReason ?? .error,
                        usage: info.usage)),
                on: conversation, run: run)
        }
        self.finished(run)
        self.metrics.running.decrement()
        let info = run.info
        let outcome =
            switch info.state {
            case .completed: "completed"
            case .cancelled: "cancelled"
            default: "failed"
            }
        self.metrics.generations[run.provider]?[outcome]?.increment()
        self.metrics.duration[run.provider]?.recordNanoseconds((NIODeadline.now() - run.startedAt).nanoseconds)
        var metadata: Logger.Metadata = [
            "newsroom.outcome": "\(outcome)",
            "newsroom.finish_reason": "\(info.finishReason?.rawValue ?? "none")",
        ]
        if let reason = run.abortReason { metadata["newsroom.abort"] = "\(reason)" }
        run.logger.info("generation finished", metadata: metadata)
    }

    /// The events that end a topic after an abort.
    func terminalEvents(for reason: AbortReason, run: GenerationRun) -> [EventPayload] {
        switch reason {
        case .cancelled, .noSubscribers, .shutdown:
            return [.streamComplete(StreamComplete(finishReason: .cancelled))]
        case .timeout(let timeout):
            return [
                .error(
                    StreamError(
                        code: UpstreamErrorCode.upstreamTimeout,
                        message: "the upstream \(timeout.rawValue) timeout fired", retryable: true)),
                .streamComplete(StreamComplete(finishReason: .error)),
            ]
        case .topicEnded:
            return []
        }
    }

    /// Sends a run's batches to the broker in order; a refusal (the topic ended elsewhere, or this node
    /// lost the lease) stops the generation.
    private func forward(_ run: GenerationRun, through broker: any Broker) async {
        for await batch in run.outbox.stream {
            do {
                _ = try await broker.publish(batch, to: run.topic, owner: broker.nodeID)
            } catch {
                run.logger.info("broker refused a generation batch", metadata: ["newsroom.hub.error": "\(error.code)"])
                run.abort(.topicEnded)
                return
            }
        }
    }

    /// Publishes through the run (which keeps the topic's invariants) and reports the publish.
    @discardableResult
    func publish(_ events: [EventPayload], run: GenerationRun, receivedAt: NIODeadline) -> Bool {
        guard !events.isEmpty else { return !run.hasEnded }
        let outcome: GenerationRun.PublishOutcome
        if self.broker != nil {
            outcome = run.publish(events) { batch throws(HubError) in
                run.outbox.continuation.yield(batch)
                return Topic.PublishReceipt(topic: run.topic, firstSeq: 0, lastSeq: 0)  // sequenced by the broker
            }
        } else {
            outcome = run.publish(events) { batch throws(HubError) in try self.hub.publish(batch, to: run.topic) }
        }
        switch outcome {
        case .published(let receipt, let ended):
            let now = NIODeadline.now()
            for case .error(let error) in events {
                self.metrics.errors[error.code]?.increment()
            }
            if let observer = self.publishObserver {
                observer(
                    PublishObservation(
                        generation: run.id, topic: run.topic, provider: run.provider, chunkReceivedAt: receivedAt,
                        publishedAt: now, receipt: receipt))
            }
            return !ended
        case .dropped:
            return false
        }
    }

    // MARK: Stream

    private enum AttemptOutcome {
        /// The topic has its ending (or the run was aborted): stop.
        case done
        /// Failed before the first byte of the body; `error` is published if no retry is allowed.
        case failed(StreamError, retryable: Bool, retryAfter: TimeAmount?)
    }

    /// Sends the request, retrying before the first byte, and streams the response into the topic.
    func stream(_ run: GenerationRun) async {
        var generator = SystemRandomNumberGenerator()
        let retry = self.configuration.retry
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            run.beginAttempt()
            let outcome = await self.attempt(run)
            run.endAttempt()
            guard case .failed(let error, let retryable, let retryAfter) = outcome else { return }
            if Task.isCancelled || run.abortReason != nil { return }
            let deadline = run.startedAt + self.configuration.timeouts.total
            let delay = retryAfter ?? retry.backoff(retry: attempt, using: &generator)
            guard retryable, attempt < retry.maxAttempts, retryAfter.map({ $0 <= retry.maxRetryAfter }) ?? true,
                NIODeadline.now() + delay < deadline
            else {
                self.publish(run.context.failureEvents(error), run: run, receivedAt: .now())
                return
            }
            self.metrics.retries[run.provider]?.increment()
            run.logger.info(
                "upstream attempt failed, retrying",
                metadata: [
                    "newsroom.attempt": "\(attempt)", "newsroom.error.code": "\(error.code)",
                    "newsroom.retry_in_ms": "\(delay.nanoseconds / 1_000_000)",
                ])
            do {
                try await Task.sleep(nanoseconds: UInt64(max(0, delay.nanoseconds)))
            } catch {
                return
            }
        }
    }

    func makeHTTPRequest(_ run: GenerationRun) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: run.request.url)
        request.method = .POST
        for (name, value) in run.request.headers { request.headers.add(name: name, value: value) }
        // With a tracer, AsyncHTTPClient injects the upstream span's context; without one, pass the
        // caller's trace context through unchanged so the trace id still reaches the provider.
        if InstrumentationSystem.tracer is NoOpTracer {
            for (name, value) in run.traceHeaders { request.headers.replaceOrAdd(name: name, value: value) }
        }
        if !request.headers.contains(name: "user-agent") { request.headers.add(name: "user-agent", value: "newsroom") }
        request.body = .bytes(run.request.body)
        return request
    }

    /// One attempt. Returns `.failed` only before the first byte of a 2xx body (or for an HTTP error
    /// response); once the body has started, every ending is published from here.
    private func attempt(_ run: GenerationRun) async -> AttemptOutcome {
        let response: HTTPClientResponse
        do {
            response = try await self.httpClient.execute(
                self.makeHTTPRequest(run), deadline: run.startedAt + self.configuration.timeouts.total,
                logger: run.logger)
        } catch {
            if Task.isCancelled || run.abortReason != nil { return .done }
            return .failed(Self.connectError(error), retryable: true, retryAfter: nil)
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            return await self.httpError(response, status: status, run: run)
        }
        let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
        if contentType.hasPrefix("application/json") {
            // A 2xx JSON body where a stream was asked for: an error object, or a server that ignored
            // `stream`. Either way there is no stream to read.
            let body = await self.collect(response.body, limit: self.configuration.maxErrorBodyBytes)
            if Task.isCancelled || run.abortReason != nil { return .done }
            let error: StreamError
            if let json = try? JSONValue.parse(body.readableBytesView), json.objectValue?.hasError == true {
                error = UpstreamErrorClassifier.streamError(json)
            } else {
                error = StreamError(
                    code: UpstreamErrorCode.upstreamProtocol,
                    message: "the upstream answered with JSON instead of a stream", retryable: false)
            }
            self.publish(run.context.failureEvents(error), run: run, receivedAt: .now())
            return .done
        }

        var decoder = run.adapter.makeDecoder(context: run.context)
        var skipped = 0
        var sawByte = false
        var recordedTTFT = false
        do {
            for try await chunk in response.body {
                guard chunk.readableBytes > 0 else { continue }
                let receivedAt = NIODeadline.now()
                if run.noteChunk(at: receivedAt) { sawByte = true }
                let events = decoder.decode(chunk)
                if decoder.skippedChunks != skipped {
                    skipped = decoder.skippedChunks
                    run.logger.debug("upstream chunk skipped", metadata: ["newsroom.skipped": "\(skipped)"])
                }
                if !events.isEmpty {
                    // An overloaded fan-out holds the generation back: the upstream's body is read no
                    // faster than the hub writes it (AsyncHTTPClient's body stream is back-pressured).
                    while self.hub.isFanOutOverloaded, !Task.isCancelled, run.abortReason == nil {
                        try? await self.hub.waitForFanOutCapacity(timeout: .seconds(1))
                    }
                    guard self.publish(events, run: run, receivedAt: receivedAt) else { return .done }
                    if !recordedTTFT, events.contains(where: { $0.isDelta || $0.type == .toolCall }) {
                        recordedTTFT = true
                        self.metrics.ttft[run.provider]?.recordNanoseconds((receivedAt - run.startedAt).nanoseconds)
                    }
                }
                if decoder.isFinished { return .done }
            }
        } catch {
            if Task.isCancelled || run.abortReason != nil { return .done }
            if !sawByte {
                return .failed(Self.connectError(error), retryable: true, retryAfter: nil)
            }
            self.publish(Self.lostMidStream, run: run, receivedAt: .now())
            return .done
        }
        if Task.isCancelled || run.abortReason != nil { return .done }
        self.publish(decoder.finish(), run: run, receivedAt: .now())
        return .done
    }

    /// Reads and classifies an HTTP error response.
    private func httpError(_ response: HTTPClientResponse, status: Int, run: GenerationRun) async -> AttemptOutcome {
        let body = await self.collect(response.body, limit: self.configuration.maxErrorBodyBytes)
        if Task.isCancelled || run.abortReason != nil { return .done }
        let error = run.adapter.classifyHTTPError(status: status, body: body)
        run.logger.debug("upstream answered an error", metadata: ["newsroom.upstream.status": "\(status)"])
        let veto = response.headers.first(name: "x-should-retry")?.lowercased() == "false"
        let retryable = self.configuration.retry.retryableStatuses.contains(status) && error.retryable && !veto
        return .failed(error, retryable: retryable, retryAfter: RetryAfter.delay(from: response.headers))
    }

    /// Collects up to `limit` bytes of a body (the rest is not read; the connection is then closed).
    private func collect(_ body: HTTPClientResponse.Body, limit: Int) async -> ByteBuffer {
        var collected = ByteBuffer()
        do {
            for try await chunk in body {
                var chunk = chunk
                let take = min(chunk.readableBytes, limit - collected.readableBytes)
                if take > 0, let slice = chunk.readSlice(length: take) {
                    var slice = slice
                    collected.writeBuffer(&slice)
                }
                if collected.readableBytes >= limit { break }
            }
        } catch {
            // Classify what was read.
        }
        return collected
    }

    /// Classifies a failure to get a response (connect errors, connection lost before the first byte).
    static func connectError(_ error: any Error) -> StreamError {
        let timedOut: Bool
        switch error {
        case let error as HTTPClientError:
            timedOut = [.connectTimeout, .getConnectionFromPoolTimeout, .deadlineExceeded, .readTimeout].contains(error)
        case let error as ChannelError:
            if case .connectTimeout = error { timedOut = true } else { timedOut = false }
        default:
            timedOut = false
        }
        if timedOut {
            return StreamError(
                code: UpstreamErrorCode.upstreamTimeout, message: "the upstream connect timeout fired", retryable: true)
        }
        return StreamError(
            code: UpstreamErrorCode.upstreamUnavailable,
            message: "could not get a response from the upstream (\(Self.errorName(error)))", retryable: true)
    }

    /// A short description of a transport error (no request data is in it; the run still scrubs keys).
    static func errorName(_ error: any Error) -> String {
        let text = String(describing: error).replacing("\n", with: " ")
        return text.utf8.count > 120 ? String(text.prefix(120)) + "…" : text
    }

    // MARK: Watchdog

    /// Enforces the first-byte, idle and total timeouts and `cancel_when_idle`; returns only after it
    /// aborted the run, or when cancelled because the stream ended.
    func watch(_ run: GenerationRun) async {
        let timeouts = self.configuration.timeouts
        let poll = self.configuration.idlePollInterval
        // The deadlines move (each chunk pushes the idle deadline, each attempt sets a first-byte
        // deadline), so the watchdog re-reads them at least this often: a tenth of the shortest
        // timeout, between 5 and 250 ms. That is also the timeouts' precision.
        let tick = min(
            max(min(timeouts.firstByte, timeouts.idle, timeouts.total).nanoseconds / 10, 5_000_000), 250_000_000)
        while !Task.isCancelled {
            let now = NIODeadline.now()
            var next = run.startedAt + timeouts.total
            if now >= next {
                run.abort(.timeout(.total))
                return
            }
            let (attemptStartedAt, firstByteAt, lastChunkAt) = run.state.withLock {
                ($0.attemptStartedAt, $0.firstByteAt, $0.lastChunkAt)
            }
            if let attemptStartedAt, firstByteAt == nil {
                let deadline = attemptStartedAt + timeouts.firstByte
                if now >= deadline {
                    run.abort(.timeout(.firstByte))
                    return
                }
                next = min(next, deadline)
            }
            if let lastChunkAt {
                let deadline = lastChunkAt + timeouts.idle
                if now >= deadline {
                    run.abort(.timeout(.idle))
                    return
                }
                next = min(next, deadline)
            }
            if let limit = run.cancelWhenIdle {
                let subscribers = self.hub.snapshot(ofTopic: run.topic)?.subscribers ?? 0
                let unwatchedSince = run.state.withLock { state -> NIODeadline in
                    if subscribers > 0 { state.unwatchedSince = now }
                    return state.unwatchedSince
                }
                if subscribers == 0, now - unwatchedSince >= limit {
                    run.abort(.noSubscribers)
                    return
                }
                next = min(next, now + poll, unwatchedSince + limit)
            }
            let wait = max(min(next - now, .nanoseconds(tick)), .milliseconds(1))
            do {
                try await Task.sleep(nanoseconds: UInt64(wait.nanoseconds))
            } catch {
                return
            }
        }
    }
}

extension GenerationManager {
    /// Publishes an announcement on a conversation topic (through the broker when there is one, so
    /// every node's viewers get it). A refusal (a full hub, an unreachable broker) is logged, never fatal
    /// to the answer.
    func announce(_ payload: EventPayload, on conversation: String, run: GenerationRun) async {
        do {
            if let broker = self.broker {
                _ = try await broker.publish([payload], to: conversation, owner: nil)
            } else {
                _ = try self.hub.publish([payload], to: conversation)
            }
        } catch {
            run.logger.warning(
                "conversation announcement not published",
                metadata: ["newsroom.conversation": "\(conversation)", "error": "\(error)"])
        }
    }
}

/// The prompt's last user message, for a conversation's `generation_started` (opt-in): the last
/// `messages` entry with role `user` (OpenAI Chat, Anthropic, Ollama, TGI's Messages API), the
/// Responses API's `input`, Gemini's last user `contents`, TGI's `inputs`. Text parts are joined; at
/// most 4,096 bytes are kept.
enum ConversationPrompt {
    static let maxBytes = 4096

    static func lastUserMessage(in body: JSONValue) -> String? {
        guard let object = body.objectValue else { return nil }
        var text: String?
        if case .array(let messages)? = object["messages"] {
            text = messages.last { $0.objectValue?["role"]?.stringValue == "user" }.flatMap { Self.text(of: $0.objectValue?["content"]) }
        } else if let input = object["input"] {
            if case .array(let items) = input {
                text = items.last { $0.objectValue?["role"]?.stringValue == "user" }.flatMap { Self.text(of: $0.objectValue?["content"]) }
            } else {
                text = input.stringValue
            }
        } else if case .array(let contents)? = object["contents"] {
            text = contents.last { ($0.objectValue?["role"]?.stringValue ?? "user") == "user" }
                .flatMap { Self.text(of: $0.objectValue?["parts"]) }
        } else {
            text = object["inputs"]?.stringValue
        }
        guard var text, !text.isEmpty else { return nil }
        if text.utf8.count > Self.maxBytes {
            var cut = text.utf8.index(text.utf8.startIndex, offsetBy: Self.maxBytes)
            while !text.unicodeScalars.indices.contains(cut), cut > text.startIndex { cut = text.utf8.index(before: cut) }
            text = String(text[..<cut])
        }
        return text
    }

    /// A content value: a string, or parts with `text` (`{"type":"text","text":…}`, Gemini's `{"text":…}`).
    private static func text(of content: JSONValue?) -> String? {
        switch content {
        case .string(let text)?: return text
        case .array(let parts)?:
            let texts = parts.compactMap { $0.objectValue?["text"]?.stringValue }
            return texts.isEmpty ? nil : texts.joined(separator: "\n")
        default: return nil
        }
    }
}

extension GenerationManager {
    /// How a topic ends when the upstream connection breaks after the answer started.
    static let lostMidStream: [EventPayload] = [
        .error(
            StreamError(
                code: UpstreamErrorCode.upstreamUnavailable,
                message: "the upstream connection was lost mid-stream; the output so far is kept", retryable: true)),
        .streamComplete(StreamComplete(finishReason: .error)),
    ]
}
