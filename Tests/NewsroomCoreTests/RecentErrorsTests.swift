import NIOCore
import NIOEmbedded
import NewsroomTesting
import NewsroomWire
import Testing

@testable import NewsroomCore

/// What the operator's console reads from the topic layer: the ring of recent errors and the
/// subscribers of a topic per transport.
@Suite struct RecentErrorsTests {
    let loop = EmbeddedEventLoop()

    func entry(_ n: Int) -> RecentErrors.Entry {
        RecentErrors.Entry(
            time: Timestamp(millisecondsSince1970: Int64(n)), topic: "t\(n)", code: "c\(n)", message: "m", source: .event)
    }

    @Test func theRingKeepsTheNewestEntriesFirstUpToItsCapacity() {
        let ring = RecentErrors(capacity: 3)
        #expect(ring.snapshot.isEmpty)
        for n in 1...5 { ring.record(self.entry(n)) }
        #expect(ring.snapshot.map(\.code) == ["c5", "c4", "c3"])
        #expect(RecentErrors().capacity == 50)
    }

    @Test func publishedErrorEventsAreRecordedAndNothingElse() throws {
        let hub = Hub(encoders: [JSONFrameEncoder()], eventLoopGroup: self.loop)
        try hub.publish(
            [
                .textDelta(TextDelta(text: "a")),
                .error(StreamError(code: "upstream_unavailable", message: "the provider did not answer", retryable: true)),
            ], to: "broken")
        try hub.publish(.streamComplete(StreamComplete(finishReason: .cancelled)), to: "broken")
        let entries = hub.recentErrors.snapshot
        #expect(entries.count == 1)
        #expect(entries.first?.topic == "broken")
        #expect(entries.first?.code == "upstream_unavailable")
        #expect(entries.first?.message == "the provider did not answer")
        #expect(entries.first?.source == .event)
        #expect(entries.first?.seq == 2)
    }

    @Test func aSlowConsumerDisconnectIsRecorded() throws {
        let hub = Hub(
            configuration: .defaults { $0.maxQueuedEvents = 3 }, encoders: [JSONFrameEncoder()], eventLoopGroup: self.loop)
        let sink = RecordingSink(eventLoop: self.loop)
        _ = try hub.subscribe(to: "slow", after: nil, policy: .coalesce, format: hub.formats[0], sink: sink)
        sink.isWritable = false
        for index in 0..<5 {  // deltas of different indexes cannot merge: the queue overflows
            try hub.publish(.textDelta(TextDelta(text: "x", index: index)), to: "slow")
        }
        self.loop.run()
        #expect(sink.closeReason == .slowConsumer)
        let entries = hub.recentErrors.snapshot
        #expect(entries.map(\.code) == ["slow_consumer"])
        #expect(entries.first?.source == .subscriber && entries.first?.topic == "slow")
    }

    @Test func subscribersAreCountedPerTransport() throws {
        // Two SSE formats (HTTP/1.1 chunked and HTTP/2) count as one transport.
        let hub = Hub(encoders: [SSEChunkedEncoder(), SSEEncoder(), WebSocketFrameEncoder()], eventLoopGroup: self.loop)
        #expect(hub.transports == ["sse", "ws"])
        let sse1 = try hub.subscribe(
            to: "t", after: nil, policy: nil, format: hub.formats[0], sink: RecordingSink(eventLoop: self.loop))
        _ = try hub.subscribe(to: "t", after: nil, policy: nil, format: hub.formats[1], sink: RecordingSink(eventLoop: self.loop))
        _ = try hub.subscribe(to: "t", after: nil, policy: nil, format: hub.formats[2], sink: RecordingSink(eventLoop: self.loop))
        var counts = hub.subscribersByTransport(of: try #require(hub.snapshot(ofTopic: "t")))
        #expect(counts.map(\.transport) == ["sse", "ws"])
        #expect(counts.map(\.subscribers) == [2, 1])
        sse1.cancel()
        counts = hub.subscribersByTransport(of: try #require(hub.snapshot(ofTopic: "t")))
        #expect(counts.map(\.subscribers) == [1, 1])
        #expect(hub.snapshot(ofTopic: "t")?.subscribers == 2)
    }
}
