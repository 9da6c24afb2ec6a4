import NewsroomProto
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOPosix
import NewsroomCore
import NewsroomHTTP
import NewsroomTesting
import Synchronization
import Testing

/// Many gRPC subscribers of one topic over real loopback connections.
@Suite(.serialized, .timeLimit(.minutes(3))) struct GRPCFanOutTests {
    @Test func thousandSubscribersEachReceiveEveryEventInOrder() async throws {
        raiseFileDescriptorLimit()
        let subscribers = 1_000
        let connections = 4
        let batches = 20
        let perBatch = 5
        let total = batches * perBatch + 1
        try await withGRPCTestHub { test in
            let results = FanOutResults(subscribers: subscribers)
            let clock = ContinuousClock()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for connection in 0..<connections {
                    group.addTask {
                        try await test.withClient { client in
                            try await withThrowingTaskGroup(of: Void.self) { calls in
                                for index in stride(from: connection, to: subscribers, by: connections) {
                                    calls.addTask {
                                        try await client.subscribe(subscribeRequest("fan")) { response in
                                            var seqs: [UInt64] = []
                                            var text = ""
                                            for try await event in response.messages {
                                                seqs.append(event.seq)
                                                if case .textDelta(let delta)? = event.payload { text += delta.text }
                                            }
                                            results.received.withLock { $0[index] = seqs }
                                            results.texts.withLock { $0[index] = text }
                                        }
                                        if results.finished.add(1, ordering: .relaxed).newValue == subscribers {
                                            results.doneAt.withLock { $0 = clock.now }
                                        }
                                    }
                                }
                                try await calls.waitForAll()
                            }
                        }
                    }
                }
                // Every subscriber is registered before publishing starts.
                try await test.waitUntil(timeout: .seconds(60), "\(subscribers) subscribers") {
                    test.subscribers(of: "fan") == subscribers
                }
                results.publishedAt.withLock { $0 = clock.now }
                for batch in 0..<batches {
                    try test.hub.publish((0..<perBatch).map { text("b\(batch)e\($0) ") }, to: "fan")
                    try await Task.sleep(for: .milliseconds(5))
                }
                try test.hub.publish(complete, to: "fan")
                try await group.waitForAll()
            }
            let expected = (0..<batches).flatMap { batch in (0..<perBatch).map { "b\(batch)e\($0) " } }.joined()
            let all = results.received.withLock { $0 }
            #expect(all.allSatisfy { $0 == Array(1...UInt64(total)) })
            #expect(results.texts.withLock { $0 }.allSatisfy { $0 == expected })
            let elapsed = results.doneAt.withLock { $0! } - results.publishedAt.withLock { $0! }
            let deliveries = Double(subscribers * total)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(
                "grpc fan-out: \(subscribers) subscribers x \(total) events in \(elapsed): \(Int(deliveries / seconds)) deliveries/s"
            )
        }
    }
}

/// What each fan-out subscriber received, and when the last one finished.
final class FanOutResults: Sendable {
    let received: Mutex<[[UInt64]]>
    let texts: Mutex<[String]>
    let finished = Atomic<Int>(0)
    let publishedAt = Mutex<ContinuousClock.Instant?>(nil)
    let doneAt = Mutex<ContinuousClock.Instant?>(nil)

    init(subscribers: Int) {
        self.received = Mutex(Array(repeating: [], count: subscribers))
        self.texts = Mutex(Array(repeating: "", count: subscribers))
    }
}
