import NIOCore
import NIOEmbedded
import NewsroomTesting
import NewsroomWire
import Testing

@testable import NewsroomCore

/// The slow-consumer policies, with a sink whose writability the test controls.
@Suite struct SlowConsumerTests {
    let loop = EmbeddedEventLoop()

    func makeHub(maxEvents: Int = 100, maxBytes: Int = 1 << 20, interval: TimeAmount = .seconds(15)) -> Hub {
        let configuration = Hub.Configuration.defaults {
            $0.maxQueuedEvents = maxEvents
            $0.maxQueuedBytes = maxBytes
            $0.heartbeatInterval = interval
        }
        return Hub(configuration: configuration, encoders: [JSONFrameEncoder()], eventLoopGroup: self.loop)
    }

    func text(_ string: String, index: Int = 0) -> EventPayload { .textDelta(TextDelta(text: string, index: index)) }

    @Test func coalesceMergesDeltasOfTheSameIndexLosslessly() throws {
        let hub = self.makeHub()
        let sink = RecordingSink(eventLoop: self.loop)
        let subscriber = try hub.subscribe(to: "t", after: nil, policy: .coalesce, format: hub.formats[0], sink: sink)
        let fast = RecordingSink(eventLoop: self.loop)
        _ = try hub.subscribe(to: "t", after: nil, policy: .coalesce, format: hub.formats[0], sink: fast)
        sink.isWritable = false
        try hub.publish((1...10).map { self.text("\($0),") }, to: "t")
        try hub.publish(self.text("other-index", index: 1), to: "t")
        try hub.publish(.toolCall(ToolCall(index: 0, callID: "c", name: "f", arguments: "{}")), to: "t")
        try hub.publish((11...12).map { self.text("\($0),") }, to: "t")
        self.loop.run()
        #expect(sink.frames.isEmpty)
        #expect(subscriber.backlog.events == 4)
        #expect(fast.events.count == 14)  // the fast subscriber is not held back
        sink.isWritable = true
        subscriber.writabilityChanged()
        let events = sink.events
        #expect(events.map(\.seq) == [10, 11, 12, 14])
        if case .textDelta(let merged) = events[0].payload {
            #expect(merged.text == (1...10).map { "\($0)," }.joined())
        } else {
            Issue.record("expected a merged text_delta")
        }
        #expect(events[2].type == .toolCall)
        #expect(subscriber.backlog.events == 0)
    }

    @Test func coalesceDisconnectsWhenTheQueueStillOverflows() throws {
        let hub = self.makeHub(maxEvents: 3)
        let sink = RecordingSink(eventLoop: self.loop)
        _ = try hub.subscribe(to: "t", after: nil, policy: .coalesce, format: hub.formats[0], sink: sink)
        sink.isWritable = false
        for index in 0..<5 {  // five events of different indexes cannot merge
            try hub.publish(self.text("x", index: index), to: "t")
        }
        self.loop.run()
        #expect(sink.closeReason == .slowConsumer)
        #expect(hub.snapshot(ofTopic: "t")?.subscribers == 0)
    }

    @Test func dropOldestSendsAGapNamingWhatWasMissed() throws {
        let hub = self.makeHub(maxEvents: 4)
        let sink = RecordingSink(eventLoop: self.loop)
        let subscriber = try hub.subscribe(to: "t", after: nil, policy: .dropOldest, format: hub.formats[0], sink: sink)
        sink.isWritable = false
        try hub.publish((1...10).map { self.text("\($0)") }, to: "t")
        self.loop.run()
        #expect(sink.closeReason == nil)
        sink.isWritable = true
        subscriber.writabilityChanged()
        let events = sink.events
        guard case .gap(let gap) = events.first?.payload else {
            Issue.record("expected a gap first, got \(sink.strings)")
            return
        }
        #expect(events.first?.seq == nil)
        #expect(gap.from == 1)
        #expect(gap.to == events[1].seq! - 1)
        #expect(events.last?.seq == 10)
        #expect(events.count <= 4)
    }

    @Test func dropOldestNeverDropsTheEnd() throws {
        let hub = self.makeHub(maxEvents: 2)
        let sink = RecordingSink(eventLoop: self.loop)
        let subscriber = try hub.subscribe(to: "t", after: nil, policy: .dropOldest, format: hub.formats[0], sink: sink)
        sink.isWritable = false
        try hub.publish((1...5).map { self.text("\($0)") } + [.streamComplete(StreamComplete(finishReason: .stop))], to: "t")
        self.loop.run()
        sink.isWritable = true
        subscriber.writabilityChanged()
        #expect(sink.events.last?.type == .streamComplete)
        #expect(sink.closeReason == .streamEnded)
    }

    @Test func disconnectClosesOnOverflow() throws {
        let hub = self.makeHub(maxEvents: 2)
        let sink = RecordingSink(eventLoop: self.loop)
        _ = try hub.subscribe(to: "t", after: nil, policy: .disconnect, format: hub.formats[0], sink: sink)
        sink.isWritable = false
        try hub.publish(self.text("1"), to: "t")
        try hub.publish(self.text("2"), to: "t")
        self.loop.run()
        #expect(sink.closeReason == nil)
        try hub.publish(self.text("3"), to: "t")
        self.loop.run()
        #expect(sink.closeReason == .slowConsumer)
    }

    @Test func queueIsBoundedInBytes() throws {
        let hub = self.makeHub(maxEvents: 1_000, maxBytes: 4_096)
        let sink = RecordingSink(eventLoop: self.loop)
        let subscriber = try hub.subscribe(to: "t", after: nil, policy: .dropOldest, format: hub.formats[0], sink: sink)
        sink.isWritable = false
        for index in 1...200 {
            try hub.publish(self.text(String(repeating: "z", count: 100), index: index % 2), to: "t")
            self.loop.run()
            #expect(subscriber.backlog.bytes <= 4_096)
        }
    }

    /// Writability is asked once per batch (a batch is bounded; NIO's buffer above its high-water mark
    /// takes the rest of it): a socket that fills during a batch gets the whole batch, and queueing starts
    /// with the next one.
    @Test func aSocketThatFillsMidBatchQueuesFromTheNextBatch() throws {
        let hub = self.makeHub()
        let sink = RecordingSink(eventLoop: self.loop)
        let subscriber = try hub.subscribe(to: "t", after: nil, policy: .disconnect, format: hub.formats[0], sink: sink)
        sink.writableFrameBudget = 2
        try hub.publish((1...5).map { self.text("\($0)") }, to: "t")
        self.loop.run()
        #expect(sink.frames.count == 5)
        #expect(!sink.isWritable)
        try hub.publish((6...8).map { self.text("\($0)") }, to: "t")
        self.loop.run()
        #expect(sink.frames.count == 5)
        #expect(subscriber.backlog.events == 3)
        sink.writableFrameBudget = nil
        sink.isWritable = true
        subscriber.writabilityChanged()
        #expect(sink.events.map(\.seq) == Array(1...8))
    }

    @Test func heartbeatsGoToIdleSubscribersWithoutSeq() throws {
        let hub = self.makeHub(interval: .seconds(1))
        let idle = RecordingSink(eventLoop: self.loop)
        _ = try hub.subscribe(to: "quiet", after: nil, policy: nil, format: hub.formats[0], sink: idle)
        try hub.publish(self.text("a"), to: "quiet")
        self.loop.run()
        self.loop.advanceTime(by: .milliseconds(600))
        #expect(idle.events.filter { $0.type == .heartbeat }.isEmpty)
        self.loop.advanceTime(by: .milliseconds(800))
        let heartbeats = idle.events.filter { $0.type == .heartbeat }
        #expect(heartbeats.count == 1)
        #expect(heartbeats.first?.seq == nil)
        if case .heartbeat(let heartbeat) = heartbeats.first?.payload {
            #expect(heartbeat.lastSeq == 1)
            #expect(heartbeat.state == .streaming)
        }
    }
}
