import Foundation
import NIOCore
import NIOPosix
import NewsroomCore
import NewsroomDemo
import NewsroomTesting
import NewsroomUpstream
import Synchronization
import Testing

/// Generations through the real path: GenerationManager → AsyncHTTPClient → replay upstream on
/// loopback → decoder → hub → a recording SSE subscriber.
///
/// Serialized: these tests assert timings (a 100 ms abort, timeouts of a few hundred ms), which
/// parallel runs on a 2-core machine would turn into scheduling noise.
@Suite("Generations over the replay upstream", .serialized)
struct GenerationManagerTests {
    /// The transcripts with their own provider as the provider id.
    static let transcripts = TranscriptFixtures.names

    /// What a viewer must see for a transcript: its expected events, with the hub's own generation id,
    /// the key scrubbed from messages, and `stream_start`'s model left out (the hub names the requested
    /// model when the stream does not).
    static func normalize(_ payloads: [EventPayload]) -> [EventPayload] {
        payloads.map { payload in
            switch payload {
            case .streamStart(let start):
                return .streamStart(StreamStart(generation: "gen", provider: start.provider, model: nil))
            case .error(var error):
                error.message = error.message.replacingOccurrences(of: UpstreamHarness.apiKey, with: "[redacted]")
                return .error(error)
            default:
                return payload
            }
        }
    }

    @Test("a viewer receives exactly the transcript's events", arguments: Self.transcripts)
    func viewerSeesTranscript(_ name: String) async throws {
        let transcript = TranscriptFixtures.transcript(name)
        let expected = try TranscriptFixtures.expected(transcript)
        try await UpstreamHarness.run(configure: { $0.retry.maxAttempts = 1 }) { harness in
            let (info, maybeSink) = try await harness.start(
                provider: transcript.provider, transcript: name, behavior: "chunk=random")
            let sink = try #require(maybeSink)
            #expect(try await sink.waitForClose())
            let received = try await sink.payloads()
            #expect(Self.normalize(received) == Self.normalize(expected))
            guard case .streamStart(let start)? = received.first else {
                Issue.record("no stream_start first")
                return
            }
            #expect(start.generation == info.id)
            // A late joiner's (compacted) replay assembles to the same answer.
            let replayed = try await harness.replay(topic: info.topic)
            #expect(AssembledStream(replayed) == AssembledStream(received))
            // GET /v1/generations/{id}.
            let final = try #require(try await harness.waitForEnd(of: info.id))
            let assembled = AssembledStream(expected)
            #expect(final.finishReason == assembled.finishReason)
            #expect(final.usage == assembled.usage)
            #expect(final.state == (assembled.finishReason == .error ? .failed : .completed))
            #expect(final.completedAt != nil)
        }
    }

    @Test("the request carries the key in the provider's header, forced streaming, and trace context")
    func upstreamRequestShape() async throws {
        try await UpstreamHarness.run { harness in
            let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            for (provider, transcript) in [
                ("openai", "openai/text"), ("anthropic", "anthropic/text"), ("gemini", "gemini/text_crlf"),
                ("ollama", "ollama/chat"), ("tgi", "tgi/generate_stream"),
                ("openai-responses", "openai-responses/text"),
            ] {
                let (info, sink) = try await harness.start(
                    provider: provider, transcript: transcript, traceHeaders: [("traceparent", traceparent)])
                try await sink!.waitForClose()
                let request = try #require(
                    harness.upstream.requests.last { $0.json?["replay_transcript"]?.stringValue == transcript })
                #expect(request.header("traceparent") == traceparent)
                let body = try #require(request.json)
                switch provider {
                case "openai":
                    #expect(request.uri == "/v1/chat/completions")
                    #expect(request.header("authorization") == "Bearer \(UpstreamHarness.apiKey)")
                    #expect(body["stream"] == .bool(true))
                    #expect(body["stream_options"]?["include_usage"] == .bool(true))
                case "anthropic":
                    #expect(request.uri == "/v1/messages")
                    #expect(request.header("x-api-key") == UpstreamHarness.apiKey)
                    #expect(request.header("anthropic-version") == AnthropicAdapter.apiVersion)
                    #expect(request.header("authorization") == nil)
                    #expect(body["stream"] == .bool(true))
                case "gemini":
                    #expect(request.uri == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
                    #expect(request.header("x-goog-api-key") == UpstreamHarness.apiKey)
                    #expect(body["model"] == nil)
                case "ollama":
                    #expect(request.uri == "/api/chat")
                    #expect(body["stream"] == .bool(true))
                case "tgi":
                    #expect(request.uri == "/generate_stream")
                    #expect(body["parameters"]?["details"] == .bool(true))
                case "openai-responses":
                    #expect(request.uri == "/v1/responses")
                    #expect(body["stream"] == .bool(true))
                default:
                    break
                }
                #expect(!request.uri.contains(UpstreamHarness.apiKey))
                _ = info
            }
        }
    }

    @Test("cancel(generation:) closes the upstream connection within 100 ms and ends the topic cancelled")
    func cancelAbortsUpstream() async throws {
        try await UpstreamHarness.run { harness in
            let (info, maybeSink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "delay=150")
            let sink = try #require(maybeSink)
            #expect(try await sink.waitFor { $0.type == EventType.textDelta })
            let requestID = try #require(harness.upstream.requests.last?.id)
            let cancelledAt = NIODeadline.now()
            let cancelled = try #require(await harness.manager.cancel(generation: info.id))
            #expect(cancelled.state == .cancelled)
            #expect(cancelled.finishReason == .cancelled)
            let request = try #require(await harness.upstream.waitForEnd(ofRequest: requestID, timeout: .seconds(2)))
            let closedAt = try #require(request.clientClosedAt, "the upstream did not see the connection close")
            let elapsed = closedAt - cancelledAt
            #expect(elapsed < .milliseconds(100), "closed after \(elapsed.nanoseconds / 1_000_000) ms")
            #expect(request.completedAt == nil)
            #expect(try await sink.waitForClose())
            let events = try await sink.payloads()
            guard case .streamComplete(let complete)? = events.last else {
                Issue.record("the topic did not end with stream_complete")
                return
            }
            #expect(complete.finishReason == .cancelled)
            let assembled = AssembledStream(events)
            #expect(!assembled.text.isEmpty)
            #expect("The capital of France is Paris — “la Ville Lumière” ☀️.".hasPrefix(assembled.text))
            #expect(assembled.completes == 1)
            #expect(harness.hub.snapshot(ofTopic: info.topic)?.state == .ended)
            // Idempotent.
            #expect(await harness.manager.cancel(generation: info.id)?.state == .cancelled)
        }
    }

    @Test("cancel(topic:) cancels the topic's running generation")
    func cancelByTopic() async throws {
        try await UpstreamHarness.run { harness in
            let (info, sink) = try await harness.start(
                provider: "anthropic", transcript: "anthropic/text", behavior: "stall-after=5")
            #expect(try await sink!.waitFor { $0.type == EventType.textDelta })
            let requestID = try #require(harness.upstream.requests.last?.id)
            let cancelledAt = NIODeadline.now()
            #expect(await harness.manager.cancel(topic: info.topic)?.state == .cancelled)
            let request = try #require(await harness.upstream.waitForEnd(ofRequest: requestID, timeout: .seconds(2)))
            let closedAt = try #require(request.clientClosedAt)
            #expect(closedAt - cancelledAt < .milliseconds(100))
            #expect(await harness.manager.cancel(topic: info.topic) == nil)
            #expect(await harness.manager.cancel(topic: "no-such-topic") == nil)
            #expect(await harness.manager.cancel(generation: "gen_unknown") == nil)
        }
    }

    @Test("the first-byte timeout fires")
    func firstByteTimeout() async throws {
        try await UpstreamHarness.run(configure: { $0.timeouts.firstByte = .milliseconds(300) }) { harness in
            let (info, sink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "first-byte-delay=3000")
            try await Self.expectTimeout(sink: sink, harness: harness, info: info, partialText: false)
        }
    }

    @Test("the idle timeout fires when the stream stalls, keeping the output before")
    func idleTimeout() async throws {
        try await UpstreamHarness.run(configure: { $0.timeouts.idle = .milliseconds(300) }) { harness in
            let (info, sink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "stall-after=4")
            try await Self.expectTimeout(sink: sink, harness: harness, info: info, partialText: true)
        }
    }

    @Test("keep-alives count as activity: a slow stream with keep-alives outlives the idle timeout")
    func keepAliveResetsIdle() async throws {
        // Margins wide enough for a loaded 2-core machine: a keep-alive every 100 ms against a 500 ms
        // idle timeout, events 700 ms apart (a 250 ms timeout with 400 ms gaps failed once in CI-like load).
        try await UpstreamHarness.run(configure: { $0.timeouts.idle = .milliseconds(500) }) { harness in
            let (_, sink) = try await harness.start(
                provider: "tgi", transcript: "tgi/generate_stream", behavior: "delay=700,keepalive=100")
            try await sink!.waitForClose()
            let assembled = AssembledStream(try await sink!.payloads())
            #expect(assembled.text == "Deep learning is a subset of machine learning.", "\(assembled)")
            #expect(assembled.finishReason == .stop)
        }
    }

    @Test("the total timeout fires")
    func totalTimeout() async throws {
        try await UpstreamHarness.run(configure: { $0.timeouts.total = .milliseconds(800) }) { harness in
            let (info, sink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "delay=60")
            try await Self.expectTimeout(sink: sink, harness: harness, info: info, partialText: true)
        }
    }

    @Test("the connect timeout fires")
    func connectTimeout() async throws {
        let blackhole = try BlackholeListener()
        try await UpstreamHarness.run(configure: { configuration in
            configuration.timeouts.connect = .milliseconds(200)
            configuration.retry.maxAttempts = 1
            configuration.providers["openai"]!.baseURL = "http://127.0.0.1:\(blackhole.port)"
        }) { harness in
            let started = NIODeadline.now()
            let (info, sink) = try await harness.start(provider: "openai", transcript: "openai/text")
            try await Self.expectTimeout(sink: sink, harness: harness, info: info, partialText: false)
            #expect(NIODeadline.now() - started < .seconds(3))
        }
        withExtendedLifetime(blackhole) {}
    }

    static func expectTimeout(
        sink: RecordingSink?, harness: UpstreamHarness, info: GenerationInfo, partialText: Bool
    ) async throws {
        let sink = try #require(sink)
        #expect(try await sink.waitForClose())
        let events = try await sink.payloads()
        let assembled = AssembledStream(events)
        #expect(assembled.errors == ["upstream_timeout"])
        #expect(assembled.finishReason == .error)
        #expect(assembled.completes == 1)
        #expect(assembled.starts == 1)
        #expect(events.first?.type == .streamStart)
        #expect(events.suffix(2).map(\.type) == [.error, .streamComplete])
        if case .error(let error)? = events.dropLast().last { #expect(error.retryable) }
        #expect(assembled.text.isEmpty != partialText)
        let final = try #require(try await harness.waitForEnd(of: info.id))
        #expect(final.state == .failed)
    }

    @Test("a 429 with Retry-After, then 200: retried after the delay, viewers see one clean answer")
    func retryAfter429() async throws {
        try await UpstreamHarness.run { harness in
            let (_, sink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "fail=429x1,retry-after-ms=150,retry-after=7")
            try await sink!.waitForClose()
            let events = try await sink!.payloads()
            let expected = try TranscriptFixtures.expected(TranscriptFixtures.transcript("openai/text"))
            #expect(Self.normalize(events) == Self.normalize(expected))
            let requests = harness.upstream.requests
            #expect(requests.count == 2)
            #expect(requests.map(\.status) == [429, 200])
            if requests.count == 2 {
                #expect(requests[1].receivedAt - requests[0].receivedAt >= .milliseconds(150))
                #expect(requests[1].receivedAt - requests[0].receivedAt < .seconds(5))
            }
        }
    }

    @Test("500 twice, then success: retried with backoff")
    func retry500() async throws {
        try await UpstreamHarness.run { harness in
            let (info, sink) = try await harness.start(
                provider: "anthropic", transcript: "anthropic/tool_use", behavior: "fail=500x2")
            try await sink!.waitForClose()
            let assembled = AssembledStream(try await sink!.payloads())
            #expect(assembled.errors.isEmpty)
            #expect(assembled.calls.map(\.name) == ["get_weather", "get_time"])
            #expect(harness.upstream.requests.map(\.status) == [500, 500, 200])
            #expect(try await harness.waitForEnd(of: info.id)?.state == .completed)
        }
    }

    @Test("529 is retried; retries are bounded and then reported")
    func retriesBounded() async throws {
        try await UpstreamHarness.run(configure: { $0.retry.maxAttempts = 3 }) { harness in
            let (_, sink) = try await harness.start(
                provider: "anthropic", transcript: "anthropic/text", behavior: "fail=529x10")
            try await sink!.waitForClose()
            let assembled = AssembledStream(try await sink!.payloads())
            #expect(assembled.errors == ["overloaded"])
            #expect(assembled.finishReason == .error)
            #expect(harness.upstream.requests.count == 3)
        }
    }

    @Test("a 4xx other than 429 is not retried")
    func badRequestNotRetried() async throws {
        try await UpstreamHarness.run { harness in
            for (transcript, behavior, code) in [
                ("openai/text", "fail=400", "bad_request"), ("openai/http_error_401", nil, "auth_failed"),
            ] {
                let before = harness.upstream.requests.count
                let (_, sink) = try await harness.start(provider: "openai", transcript: transcript, behavior: behavior)
                try await sink!.waitForClose()
                let assembled = AssembledStream(try await sink!.payloads())
                #expect(assembled.errors == [code])
                #expect(harness.upstream.requests.count == before + 1)
            }
        }
    }

    @Test("Retry-After longer than allowed is not waited for")
    func retryAfterTooLong() async throws {
        try await UpstreamHarness.run(configure: { $0.retry.maxRetryAfter = .seconds(1) }) { harness in
            let started = NIODeadline.now()
            let (_, sink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "fail=429x1,retry-after=60")
            try await sink!.waitForClose()
            #expect(AssembledStream(try await sink!.payloads()).errors == ["rate_limited"])
            #expect(NIODeadline.now() - started < .seconds(5))
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("connect errors are retried, then reported as upstream_unavailable")
    func connectErrorsRetried() async throws {
        // A port that was just free: connections are refused.
        let probe = ReplayUpstream(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let port = try await probe.start()
        try await probe.stop()
        try await UpstreamHarness.run(configure: { configuration in
            configuration.providers["openai"]!.baseURL = "http://127.0.0.1:\(port)"
            configuration.retry.maxAttempts = 3
            // AsyncHTTPClient retries a refused connection within the connect timeout.
            configuration.timeouts.connect = .milliseconds(300)
        }) { harness in
            let (_, sink) = try await harness.start(provider: "openai", transcript: "openai/text")
            try await sink!.waitForClose()
            let assembled = AssembledStream(try await sink!.payloads())
            #expect(assembled.errors == ["upstream_unavailable"])
            #expect(harness.logs.all.filter { $0.contains("retrying") }.count == 2)
        }
    }

    @Test("a connection cut mid-stream ends with error then stream_complete, keeping the output")
    func midStreamCut() async throws {
        try await UpstreamHarness.run { harness in
            let (_, sink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "cut-after=5")
            try await sink!.waitForClose()
            let events = try await sink!.payloads()
            #expect(events.suffix(2).map(\.type) == [.error, .streamComplete])
            let assembled = AssembledStream(events)
            #expect(assembled.text == "The capital of France")
            #expect(assembled.finishReason == .error)
            #expect(assembled.errors.count == 1)
            // Never retried once output started.
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("the API key never appears in events, error messages or logs")
    func keyNeverLeaks() async throws {
        try await UpstreamHarness.run(configure: { $0.retry.maxAttempts = 1 }) { harness in
            for name in TranscriptFixtures.names {
                let transcript = TranscriptFixtures.transcript(name)
                let (_, sink) = try await harness.start(provider: transcript.provider, transcript: name)
                try await sink!.waitForClose()
                let bytes = String(decoding: try await sink!.received(), as: UTF8.self)
                #expect(!bytes.contains(UpstreamHarness.apiKey), "\(name) leaked the key to a viewer")
                #expect(!bytes.contains("REPLAYKEY"))
            }
            // The 401 transcript echoes the key; viewers see it scrubbed.
            let (_, sink) = try await harness.start(provider: "openai", transcript: "openai/http_error_401")
            try await sink!.waitForClose()
            let events = try await sink!.payloads()
            let message = events.compactMap { payload -> String? in
                if case .error(let error) = payload { return error.message } else { return nil }
            }.first
            #expect(message?.contains("[redacted]") == true)
            for line in harness.logs.all {
                #expect(!line.contains(UpstreamHarness.apiKey), "a log line holds the key: \(line)")
            }
            #expect(!harness.logs.all.isEmpty)
        }
        // A start error does not echo a key either.
        #expect(
            !"\(ProviderConfiguration(adapter: "openai", baseURL: "x", apiKey: UpstreamHarness.apiKey))".contains(
                UpstreamHarness.apiKey))
    }

    @Test("over the concurrency limit: tooManyGenerations with a retry-after")
    func concurrencyLimit() async throws {
        try await UpstreamHarness.run(configure: { $0.maxConcurrentGenerations = 1 }) { harness in
            let (first, _) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "stall-after=2", subscribe: false)
            await #expect(throws: GenerationError.self) {
                _ = try await harness.start(provider: "openai", transcript: "openai/text", subscribe: false)
            }
            do {
                _ = try await harness.start(provider: "openai", transcript: "openai/text", subscribe: false)
            } catch let error as GenerationError {
                #expect(error.code == .tooManyGenerations)
                #expect((error.retryAfterSeconds ?? 0) >= 1)
            }
            #expect(harness.manager.runningCount == 1)
            _ = await harness.manager.cancel(generation: first.id)
            #expect(harness.manager.runningCount == 0)
            let (second, _) = try await harness.start(provider: "openai", transcript: "openai/text", subscribe: false)
            #expect(try await harness.waitForEnd(of: second.id)?.state == .completed)
        }
    }

    @Test("a topic with a running generation, or that has ended, is busy")
    func topicBusy() async throws {
        try await UpstreamHarness.run { harness in
            let (info, _) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "stall-after=2", topic: "busy:1",
                subscribe: false)
            do {
                _ = try await harness.start(
                    provider: "openai", transcript: "openai/text", topic: "busy:1", subscribe: false)
                Issue.record("a second generation started on a busy topic")
            } catch let error as GenerationError {
                #expect(error.code == .topicBusy)
            }
            _ = await harness.manager.cancel(generation: info.id)
            do {
                _ = try await harness.start(
                    provider: "openai", transcript: "openai/text", topic: "busy:1", subscribe: false)
                Issue.record("a generation started on an ended topic")
            } catch let error as GenerationError {
                #expect(error.code == .topicBusy)
            }
        }
    }

    @Test("bad starts: unknown provider, body not an object, bad topic, gemini without model")
    func badStarts() async throws {
        try await UpstreamHarness.run { harness in
            let cases: [(GenerationRequest, GenerationError.Code)] = [
                (GenerationRequest(provider: "nope", body: .object([:])), .unknownProvider),
                (GenerationRequest(provider: "openai", body: .array([])), .badRequest),
                (GenerationRequest(provider: "openai", body: .object([:]), topic: "bad topic"), .badRequest),
                (GenerationRequest(provider: "gemini", body: .object(["contents": .array([])])), .badRequest),
                (GenerationRequest(provider: "gemini", body: .object(["model": .string("../x")])), .badRequest),
            ]
            for (request, code) in cases {
                do throws(GenerationError) {
                    _ = try await harness.manager.start(request)
                    Issue.record("\(request.provider) started")
                } catch {
                    #expect(error.code == code)
                }
            }
            #expect(harness.manager.runningCount == 0)
        }
    }

    @Test("cancel_when_idle cancels a generation nobody watches, counting from the start")
    func cancelWhenIdle() async throws {
        try await UpstreamHarness.run(configure: { $0.idlePollInterval = .milliseconds(50) }) { harness in
            let started = NIODeadline.now()
            let (info, _) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "delay=200",
                cancelWhenIdle: .milliseconds(300),
                subscribe: false)
            let final = try #require(try await harness.waitForEnd(of: info.id))
            #expect(final.state == .cancelled)
            let elapsed = NIODeadline.now() - started
            #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(2))
            let replayed = try await harness.replay(topic: info.topic)
            if case .streamComplete(let complete)? = replayed.last { #expect(complete.finishReason == .cancelled) }
            let request = try #require(harness.upstream.requests.last)
            #expect(await harness.upstream.waitForEnd(ofRequest: request.id)?.clientClosedAt != nil)
        }
    }

    @Test("cancel_when_idle leaves a watched generation alone")
    func watchedGenerationRuns() async throws {
        try await UpstreamHarness.run(configure: { $0.idlePollInterval = .milliseconds(50) }) { harness in
            let (info, sink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "delay=40", cancelWhenIdle: .milliseconds(200))
            try await sink!.waitForClose()
            #expect(try await harness.waitForEnd(of: info.id)?.state == .completed)
        }
    }

    @Test("shutdown cancels running generations and refuses new ones")
    func shutdownCancels() async throws {
        try await UpstreamHarness.run { harness in
            let (info, sink) = try await harness.start(
                provider: "ollama", transcript: "ollama/chat", behavior: "stall-after=3")
            #expect(try await sink!.waitFor { $0.type == EventType.reasoningDelta })
            await harness.manager.shutdown()
            #expect(try await sink!.waitForClose())
            if case .streamComplete(let complete)? = try await sink!.payloads().last {
                #expect(complete.finishReason == .cancelled)
            } else {
                Issue.record("no stream_complete after shutdown")
            }
            #expect(await harness.manager.info(generation: info.id)?.state == .cancelled)
            do {
                _ = try await harness.start(provider: "openai", transcript: "openai/text", subscribe: false)
                Issue.record("started after shutdown")
            } catch let error as GenerationError {
                #expect(error.code == .shuttingDown)
            }
            let request = try #require(harness.upstream.requests.last)
            #expect(await harness.upstream.waitForEnd(ofRequest: request.id)?.clientClosedAt != nil)
        }
    }

    @Test("info reports state, model, timings and usage")
    func info() async throws {
        try await UpstreamHarness.run { harness in
            let (info, sink) = try await harness.start(provider: "vllm", transcript: "vllm/reasoning")
            #expect(info.state == .running)
            #expect(info.id.hasPrefix("gen_"))
            #expect(info.provider == "vllm")
            try await sink!.waitForClose()
            let final = try #require(try await harness.waitForEnd(of: info.id))
            #expect(final.state == .completed)
            #expect(final.model == "Qwen/Qwen3-8B")
            #expect(final.usage == Usage(inputTokens: 18, outputTokens: 35))
            #expect(final.finishReason == .stop)
            let firstToken = try #require(final.firstTokenAt)
            let completed = try #require(final.completedAt)
            #expect(final.queuedAt <= firstToken && firstToken <= completed)
            let assembled = AssembledStream(try await sink!.payloads())
            #expect(assembled.reasoning.hasPrefix("The user asks for 9.11 vs 9.8."))
            #expect(assembled.text == "9.8 is larger than 9.11.")
        }
    }

    @Test("a generation without a topic gets its own")
    func generatedTopic() async throws {
        try await UpstreamHarness.run { harness in
            let info = try await harness.manager.start(
                GenerationRequest(
                    provider: "openai", body: UpstreamHarness.body(provider: "openai", transcript: "openai/text")))
            #expect(info.topic == info.id)
            let replayed = try await harness.replay(topic: info.topic)
            #expect(AssembledStream(replayed).text == "The capital of France is Paris — “la Ville Lumière” ☀️.")
        }
    }
}

@Suite("Generation metrics and latency", .serialized)
struct GenerationObservabilityTests {
    @Test("metrics count outcomes, retries, errors, running, ttft and duration")
    func metrics() async throws {
        try await UpstreamHarness.run { harness in
            let (ok, okSink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "fail=503x1")
            try await okSink!.waitForClose()
            let (failed, failedSink) = try await harness.start(
                provider: "anthropic", transcript: "anthropic/overloaded")
            try await failedSink!.waitForClose()
            let (cancelled, cancelledSink) = try await harness.start(
                provider: "openai", transcript: "openai/text", behavior: "stall-after=3")
            #expect(try await cancelledSink!.waitFor { $0.type == EventType.textDelta })
            #expect(harness.metrics.total("newsroom_generations_running") == 1)
            _ = await harness.manager.cancel(generation: cancelled.id)
            for id in [ok.id, failed.id] { _ = try await harness.waitForEnd(of: id) }
            let metrics = harness.metrics
            #expect(metrics.total("newsroom_generations_total{provider=openai,outcome=completed}") == 1)
            #expect(metrics.total("newsroom_generations_total{provider=openai,outcome=cancelled}") == 1)
            #expect(metrics.total("newsroom_generations_total{provider=anthropic,outcome=failed}") == 1)
            #expect(metrics.total("newsroom_upstream_retries_total{provider=openai}") == 1)
            #expect(metrics.total("newsroom_errors_total{code=overloaded}") == 1)
            #expect(metrics.total("newsroom_generations_running") == 0)
            #expect(metrics.values("newsroom_upstream_ttft_seconds{provider=openai}").count == 2)
            #expect(metrics.values("newsroom_upstream_duration_seconds{provider=openai}").count == 2)
            // One fixed label set per name; no topic or generation ids in labels.
            #expect(!metrics.keys.contains { $0.contains("gen_") || $0.contains("test:") })
        }
    }

    @Test("hub-added latency: upstream chunk arrival to subscriber write")
    func hubAddedLatency() async throws {
        let arrivals = Mutex<[Int: (NIODeadline, NIODeadline)]>([:])
        try await UpstreamHarness.run(publishObserver: { observation in
            arrivals.withLock { map in
                for seq in observation.receipt.firstSeq...observation.receipt.lastSeq {
                    map[seq] = (observation.chunkReceivedAt, observation.publishedAt)
                }
            }
        }) { harness in
            var toWrite: [Double] = []
            var toPublish: [Double] = []
            for _ in 0..<5 {
                arrivals.withLock { $0.removeAll() }
                let (_, sink) = try await harness.start(
                    provider: "anthropic", transcript: "anthropic/thinking", behavior: "delay=5")
                try await sink!.waitForClose()
                let writes = try await sink!.writeTimes()
                for (seq, (arrived, published)) in arrivals.withLock({ $0 }) {
                    guard let written = writes[seq] else { continue }
                    toWrite.append(Double((written - arrived).nanoseconds) / 1000)
                    toPublish.append(Double((published - arrived).nanoseconds) / 1000)
                }
            }
            func percentile(_ values: [Double], _ p: Double) -> Double {
                let sorted = values.sorted()
                return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
            }
            #expect(toWrite.count >= 40)
            print(
                "hub-added latency over \(toWrite.count) events (µs): chunk→publish p50 \(Int(percentile(toPublish, 0.5))) "
                    + "p99 \(Int(percentile(toPublish, 0.99))); chunk→subscriber write p50 \(Int(percentile(toWrite, 0.5))) "
                    + "p99 \(Int(percentile(toWrite, 0.99))) max \(Int(toWrite.max() ?? 0))")
            #expect(percentile(toWrite, 0.5) < 20_000)
        }
    }
}
