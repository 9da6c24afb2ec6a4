import GRPCCore
import NewsroomProto
import GRPCNIOTransportHTTP2
import NewsroomCore
import NewsroomHTTP
import NewsroomTesting
import Synchronization
import Testing

/// With a cross-node broker, gRPC publishes go through it and a first subscriber mirrors the topic first,
/// as on the HTTP API.
@Suite(.serialized, .timeLimit(.minutes(1))) struct BrokerTests {
    @Test func publishAndSubscribeGoThroughTheBroker() async throws {
        let broker = FakeBroker()
        try await withGRPCTestHub(broker: broker) { test in
            broker.attach(test.hub)
            try await test.withClient { client in
                let summary = try await client.publish(requestProducer: { writer in
                    try await writer.write(contentsOf: [publishRequest("shared", textEvent("a")), publishRequest("shared", completeEvent())])
                })
                #expect(summary.lastSeq == 2)
                let events = try await client.subscribe(subscribeRequest("shared")) { response in
                    try await response.messages.reduce(into: [Newsroom_V1_Event]()) { $0.append($1) }
                }
                #expect(events.map(\.seq) == [1, 2])
                // A second subscriber finds the mirror in place.
                _ = try await client.subscribe(subscribeRequest("shared")) { try await $0.messages.reduce(0) { n, _ in n + 1 } }
                var cancel = Newsroom_V1_CancelRequest()
                cancel.topic = "elsewhere"
                _ = try? await client.cancelGeneration(cancel)
            }
            // Cancelling a topic goes through the broker, as on every transport (the node running its
            // generation, if any, is asked to cancel it).
            #expect(broker.calls == ["publish shared", "publish shared", "mirror shared", "cancel elsewhere"])
        }
    }

    @Test func anUnreachableBrokerIsUnavailable() async throws {
        let broker = FakeBroker()
        try await withGRPCTestHub(broker: broker) { test in
            broker.attach(test.hub)
            broker.makeUnavailable()
            try await test.withClient { client in
                var error = await #expect(throws: RPCError.self) {
                    try await client.publish(requestProducer: { try await $0.write(publishRequest("t", textEvent("a"))) })
                }
                #expect(error?.code == .unavailable)
                error = await #expect(throws: RPCError.self) {
                    try await client.subscribe(subscribeRequest("t")) { for try await _ in $0.messages {} }
                }
                #expect(error?.code == .unavailable)
            }
            #expect(test.subscribers(of: "t") == 0)
        }
    }

    @Test func cancellingATopicsGenerationRunningOnAnotherNodeGoesThroughTheBroker() async throws {
        let broker = FakeBroker()
        let box = FakeBox()
        try await withGRPCTestHub(generations: box, broker: broker) { test in
            broker.attach(test.hub)
            box.set(FakeGenerationService(hub: test.hub))
            try test.hub.publish(text("remote answer"), to: "remote")
            try await test.withClient { client in
                var cancel = Newsroom_V1_CancelRequest()
                cancel.topic = "remote"
                let cancelled = try await client.cancelGeneration(cancel)
                #expect(cancelled.topic == "remote" && cancelled.state == .cancelled)
            }
            #expect(broker.calls == ["cancel remote"])
            #expect(test.hub.snapshot(ofTopic: "remote")?.state == .ended)
        }
    }
}
