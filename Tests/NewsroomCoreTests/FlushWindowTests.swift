import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import NewsroomTesting
import NewsroomWire
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import NewsroomCore

/// The flush window (write coalescing) and the fan-out backlog bound, on an `EmbeddedEventLoop` whose
/// clock the tests move.
@Suite struct FlushWindowTests {
    let loop = EmbeddedEventLoop()

    func makeHub(_ configure: (inout Hub.Configuration) -> Void = { _ in }) -> Hub {
        var configuration = Hub.Configuration.defaults
        configuration.flushInterval = .milliseconds(40)
        configure(&configuration)
        return Hub(configuration: configuration, encoders: [JSONFrameEncoder()], eventLoopGroup: self.loop)
    }

    func text(_ string: String) -> EventPayload { .textDelta(TextDelta(text: string)) }

    func subscribe(_ hub: Hub, _ topic: String, maxDelay: TimeAmount? = nil) throws -> (RecordingSink, Subscriber) {
        let sink = RecordingSink(eventLoop: self.loop)
        let subscriber = try hub.subscribe(
            to: topic, after: nil, policy: nil, format: hub.formats[0], sink: sink, maxDelay: maxDelay)
        return (sink, subscriber)
    }

    @Test func eventsWithinTheWindowReachEachSubscriberAsOneWrite() throws {
        let hub = self.makeHub()
        let (first, _) = try self.subscribe(hub, "t")
        let (second, _) = try self.subscribe(hub, "t")
        for piece in ["a", "b", "c"] {
            try hub.publish(self.text(piece), to: "t")
            self.loop.advanceTime(by: .milliseconds(10))
        }
        #expect(first.frames.isEmpty, "nothing is written before the window passes")
        self.loop.advanceTime(by: .milliseconds(10))  // 40 ms after the first event
        #expect(first.events.map(\.seq) == [1, 2, 3])
        #expect(second.events.map(\.seq) == [1, 2, 3])
        #expect(first.flushes.filter { $0 > 0 } == [3], "one flush for the whole window")
        // The next window starts with the next event.
        try hub.publish(self.text("d"), to: "t")
        self.loop.advanceTime(by: .milliseconds(39))
        #expect(first.events.count == 3)
        self.loop.advanceTime(by: .milliseconds(1))
        #expect(first.events.map(\.seq) == [1, 2, 3, 4])
    }

    @Test func theEndAndErrorsAreWrittenAtOnceWithWhatWasPending() throws {
        let hub = self.makeHub()
        let (sink, subscriber) = try self.subscribe(hub, "t")
        try hub.publish(self.text("a"), to: "t")
        self.loop.run()
        #expect(sink.frames.isEmpty)
        try hub.publish(.error(StreamError(code: "x", message: "m", retryable: false)), to: "t")
        self.loop.run()
        #expect(sink.events.map(\.seq) == [1, 2], "an error is not delayed, nor what came before it")
        try hub.publish(self.text("b"), to: "t")
        try hub.publish(.streamComplete(StreamComplete(finishReason: .stop)), to: "t")
        self.loop.run()
        #expect(sink.events.map(\.seq) == [1, 2, 3, 4])
        #expect(subscriber.isClosed)
        #expect(sink.closeReason == .streamEnded)
    }

    @Test func aSubscriberMayAskForNoDelayOrALongerOne() throws {
        let hub = self.makeHub()
        let (immediate, _) = try self.subscribe(hub, "t", maxDelay: .zero)
        let (patient, _) = try self.subscribe(hub, "t", maxDelay: .milliseconds(100))
        let (regular, _) = try self.subscribe(hub, "t")
        try hub.publish(self.text("a"), to: "t")
        self.loop.run()
        #expect(immediate.events.count == 1)
        #expect(regular.events.isEmpty && patient.events.isEmpty)
        self.loop.advanceTime(by: .milliseconds(40))
        #expect(regular.events.count == 1)
        #expect(patient.events.isEmpty)
        self.loop.advanceTime(by: .milliseconds(60))
        #expect(patient.events.count == 1)
    }

    @Test func aSubscribersDelayIsBoundedByTheHub() throws {
        let hub = self.makeHub { $0.maxFlushInterval = .milliseconds(200) }
        let (_, subscriber) = try self.subscribe(hub, "t", maxDelay: .seconds(30))
        #expect(subscriber.maxDelay == .milliseconds(200))
    }

    @Test func aTopicsIntervalAppliesToItsSubscribersWithoutTheirOwn() throws {
        let hub = self.makeHub()
        try hub.setFlushInterval(.zero, ofTopic: "fast")
        let (sink, _) = try self.subscribe(hub, "fast")
        try hub.publish(self.text("a"), to: "fast")
        self.loop.run()
        #expect(sink.events.count == 1)
    }

    @Test func aLateJoinerDuringAWindowGetsEachEventOnce() throws {
        let hub = self.makeHub()
        let (early, _) = try self.subscribe(hub, "t")
        try hub.publish(self.text("a"), to: "t")
        self.loop.run()
        let (late, _) = try self.subscribe(hub, "t")  // replays seq 1 while it is pending for `early`
        try hub.publish(self.text("b"), to: "t")
        self.loop.advanceTime(by: .milliseconds(40))
        #expect(early.events.map(\.seq) == [1, 2])
        #expect(late.events.map(\.seq) == [1, 2])
    }

    @Test func heartbeatsAreNotDelayedButNeverOvertakePendingEvents() throws {
        let hub = self.makeHub { $0.heartbeatInterval = .milliseconds(100) }
        let (sink, _) = try self.subscribe(hub, "t")
        self.loop.advanceTime(by: .milliseconds(130))
        #expect(sink.events.map(\.type) == [.heartbeat])
    }

    // MARK: The backlog bound

    @Test func aBacklogOverItsBoundHoldsPublishersBackUntilItDrains() async throws {
        let hub = self.makeHub {
            $0.flushInterval = .zero
            $0.maxFanOutBacklog = 10
        }
        var sinks: [RecordingSink] = []
        for _ in 0..<5 { sinks.append(try self.subscribe(hub, "t").0) }
        try hub.publish([self.text("a"), self.text("b")], to: "t")  // 10 deliveries: at the bound
        #expect(!hub.isFanOutOverloaded)
        try hub.publish(self.text("c"), to: "t")  // 15: over it (the loop has not run)
        #expect(hub.isFanOutOverloaded)
        #expect(hub.fanOutBacklog == 15)
        await #expect(throws: HubError.self) { try await hub.waitForFanOutCapacity(timeout: .milliseconds(20)) }
        self.loop.run()
        #expect(hub.fanOutBacklog == 0)
        #expect(!hub.isFanOutOverloaded)
        try await hub.waitForFanOutCapacity(timeout: .milliseconds(20))
        #expect(sinks.allSatisfy { $0.events.count == 3 })
    }

    @Test func anOverloadThatFlapsIsLoggedOncePerIntervalWithTheEpisodesLeftOut() throws {
        let lines = LogRecorder()
        var configuration = Hub.Configuration.defaults
        configuration.flushInterval = .zero
        configuration.maxFanOutBacklog = 2
        let hub = Hub(
            configuration: configuration, encoders: [JSONFrameEncoder()], eventLoopGroup: self.loop,
            logger: lines.logger())
        for _ in 0..<3 { _ = try self.subscribe(hub, "t") }
        func episode() throws {
            try hub.publish(self.text("x"), to: "t")  // 3 deliveries: over the bound of 2
            #expect(hub.isFanOutOverloaded)
            self.loop.run()  // written: back under
            #expect(!hub.isFanOutOverloaded)
        }
        for _ in 0..<5 { try episode() }
        #expect(lines.all.filter { $0.contains("over its bound") }.count == 1, "\(lines.all)")
        #expect(lines.all.filter { $0.contains("drained") }.count == 1, "\(lines.all)")
        // Once the interval has passed, the next episode is logged with the count of those left out.
        hub.overloadLog.withLock { $0.nextAllowed = .now() }
        try episode()
        let over = lines.all.filter { $0.contains("over its bound") }
        #expect(over.count == 2)
        #expect(over.last?.contains("newsroom.backlog.episodes_not_logged=4") == true, "\(over)")
        #expect(lines.all.filter { $0.contains("drained") }.count == 2)
    }

    @Test func eventsKeptForAWindowDoNotCountAsBacklog() throws {
        let hub = self.makeHub { $0.maxFanOutBacklog = 1_000 }
        for _ in 0..<4 { _ = try self.subscribe(hub, "t") }
        try hub.publish([self.text("a"), self.text("b")], to: "t")
        #expect(hub.fanOutBacklog == 8)  // handed to the loop, not yet taken
        self.loop.run()
        #expect(hub.fanOutBacklog == 0)  // taken: the window is chosen delay, not queueing
    }

    @Test func aBatchThatWaitedTooLongForItsLoopHoldsPublishersBackForAWhile() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        var configuration = Hub.Configuration.defaults
        configuration.maxFanOutDelay = .milliseconds(200)
        let hub = Hub(configuration: configuration, encoders: [JSONFrameEncoder()], eventLoopGroup: group)
        let sink = try await loop.submit { RecordingSink(eventLoop: loop) }.get()
        _ = try await loop.submit {
            try hub.subscribe(to: "t", after: nil, policy: nil, format: hub.formats[0], sink: sink)
        }.get()
        // The loop is busy for 300 ms (a stand-in for a loop that cannot keep up): the batch waits.
        loop.execute { usleep(300_000) }
        try hub.publish(self.text("a"), to: "t")
        while try await loop.submit({ sink.events.count }).get() == 0 { try await Task.sleep(for: .milliseconds(1)) }
        // For the next 100 ms (half the bound) publishers are held back.
        #expect(hub.isFanOutOverloaded, "a late batch holds publishers back")
        await #expect(throws: HubError.self) { try await hub.waitForFanOutCapacity(timeout: .milliseconds(1)) }
        // On time again: it ends by itself.
        try await hub.waitForFanOutCapacity(timeout: .milliseconds(500))
        #expect(!hub.isFanOutOverloaded)
        await hub.shutdown()
        try await group.shutdownGracefully()
    }
}
