import NIOCore
import NIOHTTP1
import NIOPosix
import NewsroomClient
import NewsroomCore
import NewsroomHTTP
import NewsroomTesting
import NewsroomWire
import Testing

/// One reader that stops reading (a real socket with a tiny receive buffer, never read) among fast
/// readers, under each policy.
@Suite(.serialized) struct SlowConsumerLoopbackTests {
    static let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    static let fastReaders = 10
    static let events = 1_000

    struct Outcome {
        var fast: [CollectingSSEClient]
        var stalled: RawHTTPConnection
        var backlogBytes: Int
        var subscribersWhileStalled: Int
        var published: String
    }

    /// Publishes a flood while one subscriber does not read; returns once every fast reader has every event.
    func flood(policy: String, queueEvents: Int, queueBytes: Int, server: TestServer) async throws -> Outcome {
        let topic = "stall-\(policy)"
        let stalled = try await RawHTTPConnection.connect(
            port: server.port, group: Self.clientGroup, receiveBufferBytes: 4096, autoRead: false)
        try await stalled.send("GET /v1/topics/\(topic)/events?policy=\(policy) HTTP/1.1\r\nHost: x\r\n\r\n")
        var fast: [CollectingSSEClient] = []
        for _ in 0..<Self.fastReaders {
            fast.append(try await CollectingSSEClient.connect(
                port: server.port, path: "/v1/topics/\(topic)/events?policy=disconnect", group: Self.clientGroup))
        }
        while await server.hub.subscriberCount() < Self.fastReaders + 1 { try await Task.sleep(for: .milliseconds(5)) }
        var published = ""
        var maxBacklog = 0
        let filler = String(repeating: "x", count: 200)
        for batch in 0..<(Self.events / 10) {
            let texts = (0..<10).map { "[\(batch * 10 + $0)]\(filler)" }
            published += texts.joined()
            try server.hub.publish(texts.map { .textDelta(TextDelta(text: $0)) }, to: topic)
            if batch % 10 == 0 { maxBacklog = max(maxBacklog, await server.hub.backlog().bytes) }
            // The fast readers read as they go: the publisher waits for them to be at most a batch
            // behind, so only the stalled reader ever falls behind (the hub encodes faster than one
            // client thread decodes ten streams, which would otherwise make every reader "slow").
            for client in fast {
                try await client.wait(timeout: .seconds(30), "batch \(batch - 1)") { $0.events.count >= (batch - 1) * 10 }
            }
        }
        // Every fast reader gets every event while the stalled one still has not read a byte.
        for client in fast {
            try await client.wait(timeout: .seconds(30), "all events") { $0.events.count >= Self.events }
            #expect(client.decodedEvents().compactMap(\.seq) == Array(1...Self.events))
        }
        maxBacklog = max(maxBacklog, await server.hub.backlog().bytes)
        let subscribers = server.hub.snapshot(ofTopic: topic)?.subscribers ?? 0
        try server.hub.publish(.streamComplete(StreamComplete(finishReason: .stop)), to: topic)
        return Outcome(
            fast: fast, stalled: stalled, backlogBytes: maxBacklog, subscribersWhileStalled: subscribers,
            published: published)
    }

    func withStallServer(queueEvents: Int, queueBytes: Int, _ body: (TestServer) async throws -> Void) async throws {
        try await withTestServer(
            configureHub: {
                $0.maxQueuedEvents = queueEvents
                $0.maxQueuedBytes = queueBytes
                $0.compactReplay = false
            },
            configureHTTP: {
                $0.socketSendBufferBytes = 4096
                $0.writeBufferHighWaterMark = 16 << 10
                $0.writeBufferLowWaterMark = 8 << 10
            }, body)
    }

    /// The SSE events in a raw HTTP/1.1 chunked response (good enough for blocks that are each one chunk).
    func events(in raw: String) -> [Event] {
        raw.split(separator: "\n").compactMap { line -> Event? in
            guard line.hasPrefix("data: ") else { return nil }
            return try? EventDecoder.decodeBroadcast(Array(line.dropFirst(6).utf8))
        }
    }

    @Test func coalesceMergesForTheStalledReaderAndLosesNoText() async throws {
        try await self.withStallServer(queueEvents: 4096, queueBytes: 1 << 20) { server in
            let outcome = try await self.flood(policy: "coalesce", queueEvents: 4096, queueBytes: 1 << 20, server: server)
            #expect(outcome.backlogBytes <= 1 << 20)
            #expect(outcome.subscribersWhileStalled == Self.fastReaders + 1)
            try await outcome.stalled.resumeReading()
            let raw = try await outcome.stalled.read(until: "stream_complete", timeout: .seconds(30))
            let events = self.events(in: raw)
            let deltas = events.filter { $0.type == .textDelta }
            #expect(deltas.count < Self.events, "the stalled reader should have received merged deltas")
            let text = deltas.compactMap { event -> String? in
                if case .textDelta(let delta) = event.payload { return delta.text }
                return nil
            }.joined()
            #expect(text == outcome.published)
            let seqs = events.compactMap(\.seq)
            #expect(seqs == seqs.sorted() && seqs.last == Self.events + 1)
            await outcome.stalled.close()
        }
    }

    @Test func dropOldestSendsTheStalledReaderAGap() async throws {
        try await self.withStallServer(queueEvents: 16, queueBytes: 1 << 20) { server in
            let outcome = try await self.flood(policy: "drop_oldest", queueEvents: 16, queueBytes: 1 << 20, server: server)
            #expect(outcome.subscribersWhileStalled == Self.fastReaders + 1)
            try await outcome.stalled.resumeReading()
            let raw = try await outcome.stalled.read(until: "stream_complete", timeout: .seconds(30))
            let events = self.events(in: raw)
            let gaps = events.compactMap { event -> Gap? in
                if case .gap(let gap) = event.payload { return gap }
                return nil
            }
            #expect(!gaps.isEmpty)
            // Every seq is either received or named by a gap.
            var covered = Set(events.compactMap(\.seq))
            for gap in gaps { covered.formUnion(gap.from...gap.to) }
            #expect(covered.isSuperset(of: 1...(Self.events + 1)))
            await outcome.stalled.close()
        }
    }

    @Test func disconnectClosesTheStalledReaderOnly() async throws {
        try await self.withStallServer(queueEvents: 16, queueBytes: 1 << 20) { server in
            let outcome = try await self.flood(policy: "disconnect", queueEvents: 16, queueBytes: 1 << 20, server: server)
            #expect(outcome.subscribersWhileStalled == Self.fastReaders, "the stalled subscriber should be gone")
            #expect(outcome.backlogBytes <= 16 * 400)
            try await outcome.stalled.resumeReading()
            let raw = try await outcome.stalled.readUntilClosed(timeout: .seconds(30))
            #expect(!raw.contains("stream_complete"))
            let seqs = self.events(in: raw).compactMap(\.seq)
            #expect(seqs.count < Self.events)
            let expected = seqs.isEmpty ? [] : Array(1...seqs.count)
            #expect(seqs == expected)
        }
    }
}
