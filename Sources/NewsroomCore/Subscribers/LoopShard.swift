import CoreMetrics
import NIOCore
import Synchronization

/// The subscribers of every topic that live on one event loop.
///
/// Publishing hops once onto each loop that has subscribers of the topic and hands the batch to
/// ``deliver(_:_:charge:)``. There the topic's subscribers are split into *lanes* by the write delay they
/// accept (the flush window): a lane with no window writes the batch to each of its subscribers at once;
/// a lane with a window keeps the events (shared, one list per lane) until its window has passed, then
/// writes everything that arrived meanwhile to each subscriber as one write — one system call per
/// subscriber per window instead of one per event. A batch holding the topic's end or an `error` is
/// written at once, with everything pending before it. One timer per loop serves every lane of every
/// topic on it; heartbeats are one repeating timer per loop too.
///
/// The shard also watches the loop's *fan-out backlog*, in time and in size: a batch that waited longer
/// than ``Hub/Configuration/maxFanOutDelay`` for the loop, or deliveries (events × subscribers) handed to it
/// and not yet taken over ``Hub/Configuration/maxFanOutBacklog``, hold publishers back
/// (``Hub/waitForFanOutCapacity(timeout:)``), so that under overload the delivery latency stays bounded.
///
/// - Note: `@unchecked Sendable` because all mutable state is confined to ``eventLoop``; other threads
///   only hold the reference to schedule work on that loop and touch the atomic backlog counter.
final class LoopShard: @unchecked Sendable {
    /// The subscribers of one topic on this loop that accept the same write delay.
    final class Lane {
        let topic: Topic
        /// The delay they asked for; `nil`: the topic's flush interval (or the hub's).
        let maxDelay: TimeAmount?
        var subscribers: [Subscriber] = []
        /// Events waiting for the window to pass, shared by the lane's subscribers.
        var pending: [PublishedEvent] = []
        /// When the pending events are due.
        var dueAt: NIODeadline?
        init(topic: Topic, maxDelay: TimeAmount?) {
            self.topic = topic
            self.maxDelay = maxDelay
        }
    }

    final class TopicGroup {
        let topic: Topic
        var lanes: [Lane] = []
        init(topic: Topic) { self.topic = topic }
        var subscriberCount: Int { self.lanes.reduce(0) { $0 + $1.subscribers.count } }
    }

    let eventLoop: any EventLoop
    unowned let hub: Hub
    private var groups: [ObjectIdentifier: TopicGroup] = [:]
    private var heartbeatTask: RepeatedTask?
    /// Lanes holding pending events, and the one timer that flushes them.
    private var dueLanes: [Lane] = []
    private var flushTimer: (task: Scheduled<Void>, deadline: NIODeadline)?
    /// Deliveries handed to this loop and not yet written (updated from any thread).
    let backlogDeliveries = Atomic<Int>(0)
    /// Whether the backlog is over the hub's bound (between crossing the high and the low mark).
    private let isOverloaded = Atomic<Bool>(false)

    init(eventLoop: any EventLoop, hub: Hub) {
        self.eventLoop = eventLoop
        self.hub = hub
    }

    /// The number of subscribers on this loop (loop-confined).
    var subscriberCount: Int {
        self.groups.values.reduce(0) { $0 + $1.subscriberCount }
    }

    /// Events and bytes queued for slow subscribers on this loop (loop-confined).
    var backlog: (Int, Int) {
        var total = (0, 0)
        for group in self.groups.values {
            for lane in group.lanes {
                for subscriber in lane.subscribers {
                    total.0 += subscriber.backlog.events
                    total.1 += subscriber.backlog.bytes
                }
            }
        }
        return total
    }

    func add(_ subscriber: Subscriber) {
        self.eventLoop.assertInEventLoop()
        let key = ObjectIdentifier(subscriber.topic)
        let group: TopicGroup
        if let existing = self.groups[key] {
            group = existing
        } else {
            group = TopicGroup(topic: subscriber.topic)
            self.groups[key] = group
        }
        let lane: Lane
        if let existing = group.lanes.first(where: { $0.maxDelay == subscriber.maxDelay }) {
            lane = existing
        } else {
            lane = Lane(topic: subscriber.topic, maxDelay: subscriber.maxDelay)
            group.lanes.append(lane)
        }
        subscriber.lane = lane
        subscriber.shardIndex = lane.subscribers.count
        lane.subscribers.append(subscriber)
        if self.heartbeatTask == nil {
            self.startHeartbeats()
        }
    }

    func remove(_ subscriber: Subscriber) {
        self.eventLoop.assertInEventLoop()
        let key = ObjectIdentifier(subscriber.topic)
        guard let group = self.groups[key], let lane = subscriber.lane else { return }
        subscriber.lane = nil
        let index = subscriber.shardIndex
        guard index < lane.subscribers.count, lane.subscribers[index] === subscriber else { return }
        let last = lane.subscribers.removeLast()
        if index < lane.subscribers.count {
            lane.subscribers[index] = last
            last.shardIndex = index
        }
        if lane.subscribers.isEmpty {
            group.lanes.removeAll { $0 === lane }
            lane.pending.removeAll()
            lane.dueAt = nil
            if group.lanes.isEmpty { self.groups[key] = nil }
        }
    }

    // MARK: Backlog

    /// Records deliveries handed to this loop (called by the publisher, under the topic's lock).
    func charge(_ deliveries: Int) {
        let total = self.backlogDeliveries.add(deliveries, ordering: .relaxed).newValue
        if total > self.hub.configuration.maxFanOutBacklog,
            self.isOverloaded.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        {
            self.hub.fanOutOverloaded(true, backlog: total)
        }
    }

    /// Records deliveries taken over by the loop (written, or kept for a lane's window).
    private func release(_ deliveries: Int) {
        guard deliveries != 0 else { return }
        let total = self.backlogDeliveries.subtract(deliveries, ordering: .relaxed).newValue
        if total <= self.hub.configuration.maxFanOutBacklog / 2,
            self.isOverloaded.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged
        {
            self.hub.fanOutOverloaded(false, backlog: total)
        }
    }

    // MARK: Delivery

    /// Takes one published batch for this loop's subscribers of `topic`: written at once to lanes without
    /// a window (and to every lane when it holds the topic's end or an error), else kept for the lane's
    /// flush. `charge` is the backlog the batch was counted as when it was scheduled.
    func deliver(_ topic: Topic, _ events: [PublishedEvent], charge: Int) {
        let now = self.eventLoop.now
        defer { self.release(charge) }
        // How long the batch waited for this loop: over the bound, publishers are held back for a while.
        if now - events[0].acceptedAt > self.hub.configuration.maxFanOutDelay {
            self.hub.fanOutLate(now: now)
        }
        guard let group = self.groups[ObjectIdentifier(topic)] else { return }
        let urgent = events.contains { $0.event.payload.isTerminal || $0.event.type == .error }
        for lane in group.lanes {
            let window = lane.maxDelay ?? topic.flushInterval ?? self.hub.configuration.flushInterval
            if urgent || window <= .zero {
                if lane.pending.isEmpty {
                    self.write(events, to: lane, now: now)
                } else {
                    lane.pending += events
                    self.flush(lane, now: now)
                }
                continue
            }
            if lane.pending.isEmpty {
                let due = now + window
                lane.dueAt = due
                self.dueLanes.append(lane)
                self.armFlushTimer(at: due)
            }
            lane.pending += events
        }
    }

    /// Writes a lane's pending events now.
    private func flush(_ lane: Lane, now: NIODeadline) {
        let events = lane.pending
        lane.pending = []
        lane.dueAt = nil
        if !events.isEmpty { self.write(events, to: lane, now: now) }
    }

    /// Writes `events` to each of the lane's subscribers: one flush per subscriber. The metrics are
    /// counted per write call (per format), not per subscriber.
    private func write(_ events: [PublishedEvent], to lane: Lane, now: NIODeadline) {
        let formats = self.hub.formats.count
        var written = Array(repeating: 0, count: formats)
        var whole = Array(repeating: 0, count: formats)  // subscribers that took every event
        var writtenBytes = Array(repeating: 0, count: formats)
        // A copy of the list: a subscriber that closes during delivery removes itself from the lane.
        let subscribers = lane.subscribers
        // The counters are updated through buffer pointers: no uniqueness check per subscriber.
        written.withUnsafeMutableBufferPointer { written in
            whole.withUnsafeMutableBufferPointer { whole in
                writtenBytes.withUnsafeMutableBufferPointer { writtenBytes in
                    for subscriber in subscribers {
                        let count = subscriber.deliver(events, now: now)
                        guard count > 0 else { continue }
                        let format = subscriber.format.id
                        written[format] += count
                        if count == events.count {
                            whole[format] += 1
                        } else {
                            for event in events.suffix(count) {
                                writtenBytes[format] += event.frames[format]?.readableBytes ?? 0
                            }
                        }
                    }
                }
            }
        }
        for format in 0..<formats where whole[format] > 0 {
            writtenBytes[format] += whole[format] * events.reduce(0) { $0 + ($1.frames[format]?.readableBytes ?? 0) }
        }
        self.hub.metrics.recordDelivery(written: written, bytes: writtenBytes, lag: now - events[0].acceptedAt)
    }

    private func armFlushTimer(at deadline: NIODeadline) {
        if let timer = self.flushTimer, timer.deadline <= deadline { return }
        self.flushTimer?.task.cancel()
        let task = self.eventLoop.scheduleTask(deadline: deadline) { [self] in
            self.flushTimer = nil
            self.flushDueLanes()
        }
        self.flushTimer = (task, deadline)
    }

    /// The flush timer fired: write every lane whose window has passed, and wait for the next one.
    private func flushDueLanes() {
        let now = self.eventLoop.now
        var later: [Lane] = []
        var next: NIODeadline?
        for lane in self.dueLanes {
            guard let due = lane.dueAt else { continue }  // flushed early (an urgent batch) or removed
            // A lane due within a millisecond goes now too: one wake-up instead of two.
            if due <= now + .milliseconds(1) {
                self.flush(lane, now: now)
            } else {
                later.append(lane)
                next = min(next ?? due, due)
            }
        }
        self.dueLanes = later
        if let next { self.armFlushTimer(at: next) }
    }

    /// Closes every subscriber on this loop and stops the timers.
    func closeAll(reason: DisconnectReason) {
        self.eventLoop.assertInEventLoop()
        self.heartbeatTask?.cancel()
        self.heartbeatTask = nil
        for group in self.groups.values {
            for lane in group.lanes where !lane.pending.isEmpty {
                self.flush(lane, now: self.eventLoop.now)
            }
        }
        self.flushTimer?.task.cancel()
        self.flushTimer = nil
        self.dueLanes.removeAll()
        for group in self.groups.values {
            for lane in group.lanes {
                for subscriber in lane.subscribers {
                    subscriber.close(reason: reason)
                }
            }
        }
        self.groups.removeAll()
    }

    /// Closes this loop's subscribers of `topic` (the topic was removed).
    func closeSubscribers(of topic: Topic, reason: DisconnectReason) {
        guard let group = self.groups[ObjectIdentifier(topic)] else { return }
        for lane in group.lanes {
            for subscriber in lane.subscribers {
                subscriber.close(reason: reason)
            }
        }
    }

    // MARK: Heartbeats

    private func startHeartbeats() {
        let interval = self.hub.configuration.heartbeatInterval
        // Check four times per interval, so a heartbeat goes out between 1 and 1.25 intervals of silence.
        let tick = TimeAmount.nanoseconds(max(interval.nanoseconds / 4, 5_000_000))
        self.heartbeatTask = self.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { [weak self] _ in
            self?.sendHeartbeats(interval: interval)
        }
    }

    private func sendHeartbeats(interval: TimeAmount) {
        let now = self.eventLoop.now
        var sent = 0
        for group in self.groups.values {
            var frames: [Int: ByteBuffer] = [:]
            var heartbeat: Event?
            // A lane with events pending writes within its window anyway: no heartbeat before them.
            for lane in group.lanes where lane.pending.isEmpty {
                for subscriber in lane.subscribers {
                    let didSend = subscriber.heartbeatIfIdle(now: now, interval: interval) {
                        if let frame = frames[subscriber.format.id] { return frame }
                        if heartbeat == nil {
                            heartbeat = Event(
                                seq: nil, topic: group.topic.name, timestamp: .now(),
                                payload: .heartbeat(group.topic.heartbeat))
                        }
                        let frame = self.hub.encode(heartbeat!, format: subscriber.format)
                        frames[subscriber.format.id] = frame
                        return frame
                    }
                    if didSend { sent += 1 }
                }
            }
        }
        if sent > 0 { self.hub.metrics.heartbeats.increment(by: sent) }
    }
}
