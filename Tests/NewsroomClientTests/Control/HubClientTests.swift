import NIOCore
import NewsroomClient
import NewsroomCore
import NewsroomProto
import NewsroomTesting
import Synchronization
import Testing

@Suite("HubClient over loopback", .serialized, .timeLimit(.minutes(2)))
struct HubClientTests {
    @Test("publish, list and read topics")
    func topics() async throws {
        try await withTestServer { server in
            let hub = HubClient(baseURL: server.baseURL)
            #expect(try await hub.publish(.streamStart(StreamStart(provider: "p")), to: "a") == 1)
            #expect(try await hub.publish(answer(3), to: "a") == 2...4)
            let topics = try await hub.topics()
            #expect(topics.map(\.name) == ["a"])
            let a = try #require(try await hub.topic("a"))
            #expect(a.state == .streaming && a.lastSeq == 4 && a.subscribers == 0 && !a.createdAt.isEmpty)
            #expect(try await hub.topic("nope") == nil)
            await #expect(throws: HubClientError.self) { try await hub.topic("bad name") }
        }
    }

    @Test("cancel(topic:) ends the topic for its subscribers", arguments: transports)
    func cancelTopic(transport: TestTransport) async throws {
        try await withTestServer { server in
            let hub = HubClient(baseURL: server.baseURL)
            _ = try await hub.publish(answer(2), to: "c")
            let events = Task { try await collect(try hub.subscribe(to: "c", transport: transport.on(server))) }
            for _ in 0..<200 where (try await hub.topic("c"))?.subscribers != 1 {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await hub.cancel(topic: "c")
            let received = try await events.value
            guard case .streamComplete(let complete) = received.last?.payload else {
                Issue.record("no stream_complete: \(received)")
                return
            }
            #expect(complete.finishReason == .cancelled)
            #expect(try await hub.topic("c")?.state == .ended)
        }
    }

    @Test("start a generation, watch it, read its state, cancel one")
    func generations() async throws {
        let generations = ScriptedGenerations()
        try await withTestServer(generations: generations) { server in
            generations.hub.withLock { $0 = server.hub }
            let hub = HubClient(baseURL: server.baseURL)
            let started = try await hub.startGeneration(
                provider: "scripted", request: .object(["prompt": .string("hi")]), topic: "gen-1",
                cancelWhenIdle: .seconds(30))
            #expect(started.topic == "gen-1" && started.id == "gen_1")
            let received = try await collect(try hub.subscribe(to: started.topic))
            #expect(text(of: received) == "Hello, world.")
            #expect(generations.requests.withLock { $0.first?.body } == .object(["prompt": .string("hi")]))
            #expect(generations.requests.withLock { $0.first?.cancelWhenIdle } == .seconds(30))
            let status = try #require(try await hub.generation(started.id))
            #expect(status.state == "completed" && status.topic == "gen-1" && status.provider == "scripted")
            #expect(try await hub.generation("gen_404") == nil)
            try await hub.cancelGeneration(started.id)
            #expect(generations.cancelled.withLock { $0 } == [started.id])
            await #expect(throws: HubClientError.self) {
                _ = try await hub.startGeneration(provider: "unknown", request: .object([:]))
            }
        }
    }

    @Test("an error answer carries the hub's status, code and message")
    func errorAnswer() async throws {
        let tokens = TestTokens()
        try await withTestServer(authenticator: try await tokens.authenticator()) { server in
            let viewer = try await tokens.token(publish: ["open"])
            let hub = HubClient(baseURL: server.baseURL, headers: [("authorization", "Bearer \(viewer)")])
            #expect(try await hub.publish(answer(1), to: "open") == 1...1)
            let error = await #expect(throws: HubClientError.self) { try await hub.publish(answer(1), to: "secret") }
            #expect(error?.status == 403 && error?.code == "forbidden")
            #expect(error?.description.hasPrefix("403 forbidden: ") == true)
        }
    }

    @Test("withHubClient fails at once, naming the URL, when nothing listens")
    func refusedAtOnce() async throws {
        let port = try await withTestServer { $0.port }
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: HubConnectionError.self) {
            try await withHubClient(baseURL: "http://127.0.0.1:\(port)") { hub in
                try await hub.publish(answer(1), to: "t")
            }
        }
        #expect(clock.now - started < .seconds(2))
        #expect(error?.url == "http://127.0.0.1:\(port)/v1/topics/t/events")
        #expect(error?.reason == "connection refused")
    }

    @Test("over TLS with a private certificate authority; the system's trust store refuses the test certificate")
    func overTLS() async throws {
        try await withTestServer(tls: true) { server in
            let certificate = try #require(server.certificate)
            let trusted = HubClient(
                baseURL: server.baseURL, tls: .certificateAuthority(pemFile: certificate.certificatePath))
            #expect(try await trusted.publish(answer(2), to: "tls") == 1...2)
            #expect(try await trusted.topic("tls")?.lastSeq == 2)
            let error = await #expect(throws: HubConnectionError.self) {
                try await withHubClient(baseURL: server.baseURL) { try await $0.topics() }
            }
            #expect(error?.reason.contains("TLS") == true || error?.reason.contains("certificate") == true)
        }
    }
}

/// A generation service that publishes a canned answer into the hub at once.
final class ScriptedGenerations: GenerationService {
    let hub = Mutex<Hub?>(nil)
    let requests = Mutex<[GenerationRequest]>([])
    let cancelled = Mutex<[String]>([])

    func start(_ request: GenerationRequest) async throws(GenerationError) -> GenerationInfo {
        guard request.provider == "scripted" else {
            throw GenerationError(code: .unknownProvider, message: "unknown provider")
        }
        let count = self.requests.withLock { requests in
            requests.append(request)
            return requests.count
        }
        let topic = request.topic ?? "gen-\(count)"
        _ = try? self.hub.withLock { $0 }?.publish(
            [
                .streamStart(StreamStart(generation: "gen_\(count)", provider: "scripted")),
                .textDelta(TextDelta(text: "Hello, ")), .textDelta(TextDelta(text: "world.")), end,
            ],
            to: topic)
        return self.info(id: "gen_\(count)", topic: topic)
    }

    func cancel(generation id: String) async -> GenerationInfo? {
        self.cancelled.withLock { $0.append(id) }
        return self.info(id: id, topic: "gen-1")
    }

    func cancel(topic: String) async -> GenerationInfo? { nil }

    func info(generation id: String) async -> GenerationInfo? {
        id == "gen_1" ? self.info(id: id, topic: "gen-1") : nil
    }

    private func info(id: String, topic: String) -> GenerationInfo {
        GenerationInfo(
            id: id, topic: topic, provider: "scripted", model: nil, state: .completed, queuedAt: .now(),
            completedAt: .now(), finishReason: .stop)
    }
}
