import NIOCore
import NIOEmbedded
import NewsroomTesting
import NewsroomWire
import Testing

@testable import NewsroomCore

/// The topic layer on an `EmbeddedEventLoop`: publish, replay, resume, end, limits.
@Suite struct HubTests {
    let loop = EmbeddedEventLoop()

    func makeHub(_ configure: (inout Hub.Configuration) -> Void = { _ in }) -> Hub {
        var configuration = Hub.Configuration.defaults
        configuration.compactReplay = false
        configure(&configuration)
        return Hub(configuration: configuration, encoders: [JSONFrameEncoder()], eventLoopGroup: self.loop)
    }

    func text(_ string: String) -> EventPayload { .textDelta(TextDelta(text: string)) }

    func subscribe(_ hub: Hub, _ topic: String, after: Int? = nil, policy: SlowConsumerPolicy? = nil) throws
        -> (RecordingSink, Subscriber)
    {
        let sink = RecordingSink(eventLoop: self.loop)
        let subscriber = try hub.subscribe(to: topic, after: after, policy: policy, format: hub.formats[0], sink: sink)
        return (sink, subscriber)
    }

    @Test func seqsStartAtOneAndIncrease() throws {
        let hub = self.makeHub()
        let first = try hub.publish([self.text("a"), self.text("b")], to: "t")
        let second = try hub.publish(self.text("c"), to: "t")
        #expect(first.firstSeq == 1 && first.lastSeq == 2)
        #expect(second.firstSeq == 3 && second.lastSeq == 3)
        #expect(hub.snapshot(ofTopic: "t")?.state == .streaming)
    }

    @Test func lateJoinerGetsHistoryThenLiveWithoutGapOrDuplicate() throws {
        let hub = self.makeHub()
        try hub.publish([self.text("a"), self.text("b")], to: "t")
        let (sink, _) = try self.subscribe(hub, "t")
        #expect(sink.events.map(\.seq) == [1, 2])
        try hub.publish(self.text("c"), to: "t")
        self.loop.run()
        #expect(sink.events.map(\.seq) == [1, 2, 3])
    }

    @Test func deliveryScheduledBeforeSubscribeIsNotDuplicated() throws {
        let hub = self.makeHub()
        let (other, _) = try self.subscribe(hub, "t")  // makes the loop a target of publishes
        try hub.publish(self.text("a"), to: "t")  // delivery task queued, not yet run
        let (sink, _) = try self.subscribe(hub, "t")  // replays seq 1 from history
        self.loop.run()  // the queued delivery of seq 1 must not reach the new subscriber again
        #expect(sink.events.map(\.seq) == [1])
        #expect(other.events.map(\.seq) == [1])
    }

    @Test func resumeAfterSeqSendsOnlyLaterEvents() throws {
        let hub = self.makeHub()
        try hub.publish((1...5).map { self.text("\($0)") }, to: "t")
        let (sink, _) = try self.subscribe(hub, "t", after: 3)
        #expect(sink.events.map(\.seq) == [4, 5])
    }

    @Test func resumeBeyondHeadGetsResumeUnavailableThenHistory() throws {
        let hub = self.makeHub()
        try hub.publish([self.text("a"), self.text("b")], to: "t")
        let (sink, _) = try self.subscribe(hub, "t", after: 57)
        let events = sink.events
        guard case .error(let error) = events.first?.payload else {
            Issue.record("expected resume_unavailable first, got \(sink.strings)")
            return
        }
        #expect(error.code == "resume_unavailable")
        #expect(events.first?.seq == nil)
        #expect(events.dropFirst().map(\.seq) == [1, 2])
    }

    @Test func evictedResumePointGetsResumeUnavailable() throws {
        let hub = self.makeHub { $0.maxHistoryEvents = 3 }
        try hub.publish((1...10).map { self.text("\($0)") }, to: "t")
        #expect(hub.snapshot(ofTopic: "t")?.firstSeq == 8)
        let (sink, _) = try self.subscribe(hub, "t", after: 2)
        #expect(sink.events.first?.type == .error)
        #expect(sink.events.dropFirst().map(\.seq) == [8, 9, 10])
        let (fresh, _) = try self.subscribe(hub, "t", after: 7)
        #expect(fresh.events.map(\.seq) == [8, 9, 10])
    }

    @Test func endedTopicReplaysEverythingAndCloses() throws {
        let hub = self.makeHub()
        try hub.publish(
            [self.text("a"), .streamComplete(StreamComplete(finishReason: .stop))], to: "t")
        let (sink, subscriber) = try self.subscribe(hub, "t")
        #expect(sink.events.map(\.seq) == [1, 2])
        #expect(sink.closeReason == .streamEnded)
        #expect(subscriber.isClosed)
        #expect(hub.snapshot(ofTopic: "t")?.subscribers == 0)
    }

    @Test func resumeAtTheEndOfAnEndedTopicIsNothingAfterEnd() throws {
        let hub = self.makeHub()
        try hub.publish([self.text("a"), .streamComplete(StreamComplete(finishReason: .stop))], to: "t")
        #expect(throws: HubError.self) { try self.subscribe(hub, "t", after: 2) }
        do {
            _ = try self.subscribe(hub, "t", after: 2)
        } catch let error as HubError {
            #expect(error.code == .nothingAfterEnd)
        }
        let (sink, _) = try self.subscribe(hub, "t", after: 1)
        #expect(sink.events.map(\.seq) == [2])
    }

    @Test func liveSubscriberIsClosedAfterTheTerminalEvent() throws {
        let hub = self.makeHub()
        let (sink, _) = try self.subscribe(hub, "t")
        try hub.publish([self.text("a"), .error(StreamError(code: "boom", message: "x", retryable: false, terminal: true))], to: "t")
        self.loop.run()
        #expect(sink.events.map(\.seq) == [1, 2])
        #expect(sink.closeReason == .streamEnded)
        #expect(hub.snapshot(ofTopic: "t")?.state == .ended)
    }

    @Test func publishingAfterTheEndIsRejected() throws {
        let hub = self.makeHub()
        try hub.publish(.streamComplete(StreamComplete(finishReason: .stop)), to: "t")
        #expect(throws: HubError.self) { try hub.publish(self.text("late"), to: "t") }
    }

    @Test func aBatchThatContinuesPastTheEndStoresNothing() throws {
        let hub = self.makeHub()
        try hub.publish(self.text("a"), to: "t")
        #expect(throws: HubError.self) {
            try hub.publish([.streamComplete(StreamComplete(finishReason: .stop)), self.text("b")], to: "t")
        }
        let snapshot = hub.snapshot(ofTopic: "t")
        #expect(snapshot?.lastSeq == 1)
        #expect(snapshot?.state == .streaming)
    }

    @Test func hubMadeTypesCannotBePublished() throws {
        let hub = self.makeHub()
        #expect(throws: HubError.self) { try hub.publish(.gap(Gap(from: 1, to: 2)), to: "t") }
        #expect(throws: HubError.self) { try hub.publish(.heartbeat(Heartbeat(lastSeq: 0, state: .waiting)), to: "t") }
        #expect(throws: HubError.self) { try hub.publish([], to: "t") }
    }

    @Test(arguments: ["", "has space", "slash/y", String(repeating: "a", count: 129), "ünïcode", "a?b"])
    func invalidTopicNamesAreRejected(_ name: String) throws {
        let hub = self.makeHub()
        #expect(throws: HubError.self) { try hub.publish(self.text("a"), to: name) }
    }

    @Test(arguments: ["a", "chat:42", "demo-1", "A.b_c:d-e", String(repeating: "z", count: 128)])
    func validTopicNamesAreAccepted(_ name: String) throws {
        let hub = self.makeHub()
        #expect(try hub.publish(self.text("a"), to: name).lastSeq == 1)
    }

    @Test func oneFlushPerBatch() throws {
        let hub = self.makeHub()
        let (sink, _) = try self.subscribe(hub, "t")
        try hub.publish((1...5).map { self.text("\($0)") }, to: "t")
        try hub.publish(self.text("6"), to: "t")
        self.loop.run()
        #expect(sink.flushes.suffix(2) == [5, 1])
    }

    @Test func topicLimitIsEnforced() throws {
        let hub = self.makeHub { $0.maxTopics = 2 }
        try hub.publish(self.text("a"), to: "one")
        try hub.publish(self.text("a"), to: "two")
        do {
            try hub.publish(self.text("a"), to: "three")
            Issue.record("a third topic was accepted")
        } catch {
            #expect(error.code == .topicLimitReached)
        }
    }

    @Test func subscriberLimitIsEnforced() throws {
        let hub = self.makeHub { $0.maxSubscribersPerTopic = 1 }
        _ = try self.subscribe(hub, "t")
        #expect(throws: HubError.self) { try self.subscribe(hub, "t") }
    }

    @Test func historyIsBoundedInBytes() throws {
        let hub = self.makeHub { $0.maxHistoryBytes = 2_000 }
        try hub.publish((1...100).map { self.text("event \($0) " + String(repeating: "x", count: 50)) }, to: "t")
        let snapshot = try #require(hub.snapshot(ofTopic: "t"))
        #expect(snapshot.historyBytes <= 2_000)
        #expect(snapshot.lastSeq == 100)
        #expect(snapshot.firstSeq > 1)
    }

    @Test func totalHistoryBudgetRemovesEndedTopicsFirst() throws {
        let hub = self.makeHub { $0.maxTotalHistoryBytes = 6_000 }
        let big = String(repeating: "y", count: 1_000)
        try hub.publish([self.text(big), .streamComplete(StreamComplete(finishReason: .stop))], to: "old")
        try hub.publish([self.text(big), self.text(big)], to: "live")
        try hub.publish([self.text(big), self.text(big), self.text(big)], to: "live")
        #expect(hub.snapshot(ofTopic: "old") == nil)
        #expect(hub.totalHistoryBytes <= 6_000)
        #expect(hub.snapshot(ofTopic: "live")?.lastSeq == 5)
    }

    @Test func endedTopicsExpireAfterRetention() throws {
        let hub = self.makeHub { $0.retention = .seconds(60) }
        try hub.publish(.streamComplete(StreamComplete(finishReason: .stop)), to: "t")
        hub.sweep(now: .now() + .seconds(30))
        #expect(hub.snapshot(ofTopic: "t") != nil)
        hub.sweep(now: .now() + .seconds(61))
        #expect(hub.snapshot(ofTopic: "t") == nil)
    }

    @Test func idleNeverStartedTopicsExpire() throws {
        let hub = self.makeHub { $0.idleTopicTTL = .seconds(10) }
        try hub.createTopic(named: "waiting")
        let (_, subscriber) = try self.subscribe(hub, "watched")
        hub.sweep(now: .now() + .seconds(11))
        #expect(hub.snapshot(ofTopic: "waiting") == nil)
        #expect(hub.snapshot(ofTopic: "watched") != nil)  // a viewer is waiting for it
        subscriber.cancel()
        #expect(hub.snapshot(ofTopic: "watched")?.subscribers == 0)
    }

    @Test func cancelTopicEndsItWithCancelled() throws {
        let hub = self.makeHub()
        let (sink, _) = try self.subscribe(hub, "t")
        try hub.publish(self.text("partial"), to: "t")
        _ = try hub.cancelTopic(named: "t")
        self.loop.run()
        guard case .streamComplete(let complete) = sink.events.last?.payload else {
            Issue.record("no stream_complete")
            return
        }
        #expect(complete.finishReason == .cancelled)
        #expect(try hub.cancelTopic(named: "t")?.state == .ended)  // idempotent
        #expect(try hub.cancelTopic(named: "nope") == nil)
    }

    @Test func compactedReplayMergesRunsAndKeepsLastSeq() throws {
        let hub = self.makeHub { $0.compactReplay = true }
        try hub.publish(
            [.streamStart(StreamStart(provider: "p"))] + (1...5).map { self.text("\($0)") }
                + [.toolCall(ToolCall(index: 0, callID: "c", name: "n", arguments: "{}"))]
                + (6...7).map { self.text("\($0)") }, to: "t")
        let (sink, _) = try self.subscribe(hub, "t")
        let events = sink.events
        #expect(events.map(\.seq) == [1, 6, 7, 9])
        #expect(events.map(\.type) == [.streamStart, .textDelta, .toolCall, .textDelta])
        if case .textDelta(let delta) = events[1].payload { #expect(delta.text == "12345") }
        // A second joiner gets the cached replay: the same bytes.
        let (again, _) = try self.subscribe(hub, "t")
        #expect(again.strings == sink.strings)
    }
}
