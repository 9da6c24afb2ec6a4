import GRPCCore
import NewsroomProto
import GRPCNIOTransportHTTP2
import NIOCore
import NewsroomCore
import NewsroomHTTP
import Synchronization
import Testing

/// Generations and topics over gRPC, with a fake generation service.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ControlTests {
    /// Runs `body` with a hub whose generations come from a ``FakeGenerationService``.
    func withGenerations(
        _ body: (GRPCTestHub, FakeGenerationService) async throws -> Void
    ) async throws {
        // The fake publishes into the hub, which exists only inside withGRPCTestHub: hand it over late.
        let box = FakeBox()
        try await withGRPCTestHub(generations: box) { test in
            let fake = FakeGenerationService(hub: test.hub)
            box.set(fake)
            try await body(test, fake)
        }
    }

    func generationRequest(
        provider: String = "openai", json: String = #"{"model":"m1","messages":[]}"#, topic: String? = nil
    ) -> Newsroom_V1_GenerationRequest {
        var request = Newsroom_V1_GenerationRequest()
        request.provider = provider
        request.request = json
        if let topic { request.topic = topic }
        return request
    }

    @Test func startThenCancelAGeneration() async throws {
        try await withGenerations { test, fake in
            try await test.withClient { client in
                var request = self.generationRequest(topic: "chat:1")
                request.cancelWhenIdleS = 30
                var metadata = Metadata()
                metadata.addString("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", forKey: "traceparent")
                let started = try await client.startGeneration(request, metadata: metadata)
                #expect(started.generation == "gen_1")
                #expect(started.topic == "chat:1")
                #expect(started.provider == "openai")
                #expect(started.model == "m1")
                #expect(started.state == .running)
                #expect(started.finishReason == .unspecified)
                #expect(started.timings.hasQueued && !started.timings.hasCompleted)
                let sent = try #require(fake.requests.first)
                #expect(sent.body == .object(["model": .string("m1"), "messages": .array([])]))
                #expect(sent.cancelWhenIdle == .seconds(30))
                #expect(sent.traceHeaders.first?.0 == "traceparent")

                let viewer = Task {
                    try await client.subscribe(subscribeRequest("chat:1")) { response in
                        var received: [Newsroom_V1_Event] = []
                        for try await event in response.messages { received.append(event) }
                        return received
                    }
                }
                try await test.waitUntil("the viewer") { test.subscribers(of: "chat:1") == 1 }
                var cancel = Newsroom_V1_CancelRequest()
                cancel.generation = "gen_1"
                let cancelled = try await client.cancelGeneration(cancel)
                #expect(cancelled.state == .cancelled)
                #expect(cancelled.finishReason == .cancelled)
                #expect(cancelled.timings.hasCompleted)
                let received = try await viewer.value
                guard case .streamComplete(let end)? = received.last?.payload else {
                    Issue.record("the viewer did not receive stream_complete")
                    return
                }
                #expect(end.finishReason == .cancelled)
                #expect(assembledText(received) == "Hello")

                var get = Newsroom_V1_GetGenerationRequest()
                get.generation = "gen_1"
                #expect(try await client.getGeneration(get).state == .cancelled)
            }
        }
    }

    @Test func cancelByTopic() async throws {
        try await withGenerations { test, _ in
            try await test.withClient { client in
                _ = try await client.startGeneration(self.generationRequest(topic: "by-topic"))
                var cancel = Newsroom_V1_CancelRequest()
                cancel.topic = "by-topic"
                #expect(try await client.cancelGeneration(cancel).state == .cancelled)
                // Idempotent, as DELETE /v1/topics/{topic}: the ended topic answers cancelled again.
                let again = try await client.cancelGeneration(cancel)
                #expect(again.topic == "by-topic" && again.state == .cancelled)
                cancel.topic = "never-existed"
                let error = await #expect(throws: RPCError.self) { try await client.cancelGeneration(cancel) }
                #expect(error?.code == .notFound)
            }
        }
    }

    @Test func generationStatusCodes() async throws {
        try await withGenerations { test, fake in
            try await test.withClient { client in
                func code(_ request: Newsroom_V1_GenerationRequest) async -> RPCError.Code? {
                    do {
                        _ = try await client.startGeneration(request)
                        return nil
                    } catch let error as RPCError {
                        return error.code
                    } catch {
                        return .unknown
                    }
                }
                #expect(await code(self.generationRequest(provider: "")) == .invalidArgument)
                #expect(await code(self.generationRequest(json: "")) == .invalidArgument)
                #expect(await code(self.generationRequest(json: "{not json")) == .invalidArgument)
                #expect(await code(self.generationRequest(json: "[1]")) == .invalidArgument)
                #expect(await code(self.generationRequest(topic: "bad topic")) == .invalidArgument)
                var idle = self.generationRequest()
                idle.cancelWhenIdleS = -1
                #expect(await code(idle) == .invalidArgument)

                let mapping: [(GenerationError.Code, RPCError.Code)] = [
                    (.unknownProvider, .invalidArgument), (.badRequest, .invalidArgument),
                    (.topicBusy, .failedPrecondition), (.tooManyGenerations, .resourceExhausted),
                    (.shuttingDown, .unavailable),
                ]
                for (generationCode, status) in mapping {
                    fake.fail(with: GenerationError(code: generationCode, message: "no", retryAfterSeconds: 1))
                    #expect(await code(self.generationRequest()) == status, "\(generationCode)")
                }
                fake.fail(with: nil)

                var cancel = Newsroom_V1_CancelRequest()
                cancel.generation = "gen_404"
                var error = await #expect(throws: RPCError.self) { try await client.cancelGeneration(cancel) }
                #expect(error?.code == .notFound)
                error = await #expect(throws: RPCError.self) {
                    try await client.cancelGeneration(Newsroom_V1_CancelRequest())
                }
                #expect(error?.code == .invalidArgument)
                var get = Newsroom_V1_GetGenerationRequest()
                get.generation = "gen_404"
                error = await #expect(throws: RPCError.self) { try await client.getGeneration(get) }
                #expect(error?.code == .notFound)
            }
        }
    }

    @Test func withoutAGenerationServiceTheGenerationMethodsAreUnimplemented() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                var error = await #expect(throws: RPCError.self) {
                    try await client.startGeneration(self.generationRequest())
                }
                #expect(error?.code == .unimplemented)
                var cancel = Newsroom_V1_CancelRequest()
                cancel.generation = "gen_1"
                error = await #expect(throws: RPCError.self) { try await client.cancelGeneration(cancel) }
                #expect(error?.code == .unimplemented)
                // Ending a topic needs no generation service (as DELETE /v1/topics/{topic}).
                try test.hub.publish(text("x"), to: "t")
                cancel.topic = "t"
                #expect(try await client.cancelGeneration(cancel).state == .cancelled)
                #expect(test.hub.snapshot(ofTopic: "t")?.state == .ended)
            }
        }
    }

    @Test func listAndGetTopics() async throws {
        try await withGRPCTestHub { test in
            try test.hub.publish([text("a"), text("b")], to: "b-topic")
            try test.hub.publish([text("a"), complete], to: "a-topic")
            try test.hub.createTopic(named: "c-topic")
            try await test.withClient { client in
                let list = try await client.listTopics(Newsroom_V1_ListTopicsRequest())
                #expect(list.topics.map(\.name) == ["a-topic", "b-topic", "c-topic"])
                #expect(list.topics.map(\.state) == [.ended, .streaming, .waiting])
                var get = Newsroom_V1_GetTopicRequest()
                get.topic = "b-topic"
                let topic = try await client.getTopic(get)
                #expect(topic.lastSeq == 2 && topic.firstSeq == 1 && topic.subscribers == 0)
                #expect(topic.historyEvents == 2 && topic.historyBytes > 0)

                get.topic = "nope"
                var error = await #expect(throws: RPCError.self) { try await client.getTopic(get) }
                #expect(error?.code == .notFound)
                get.topic = "no pe"
                error = await #expect(throws: RPCError.self) { try await client.getTopic(get) }
                #expect(error?.code == .invalidArgument)
            }
        }
    }
}

/// A generation service whose implementation is set once the hub exists.
final class FakeBox: GenerationService {
    private let fake = Mutex<FakeGenerationService?>(nil)

    func set(_ fake: FakeGenerationService) { self.fake.withLock { $0 = fake } }

    private var service: FakeGenerationService { self.fake.withLock { $0! } }

    func start(_ request: GenerationRequest) async throws(GenerationError) -> GenerationInfo {
        try await self.service.start(request)
    }
    func cancel(generation id: String) async -> GenerationInfo? { await self.service.cancel(generation: id) }
    func cancel(topic: String) async -> GenerationInfo? { await self.service.cancel(topic: topic) }
    func info(generation id: String) async -> GenerationInfo? { await self.service.info(generation: id) }
}
