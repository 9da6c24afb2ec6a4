import CoreMetrics
import NIOCore

/// The subscribers of every topic that live on one event loop.
///
/// Publishing hops once onto each loop that has subscribers of the topic and hands the batch to
/// ``deliver(_:_:)``, which walks the loop's subscribers of that topic without locks or `await`.
/// One repeating timer per loop sends heartbeats to the idle ones, instead of a timer per connection.
///
/// - Note: `@unchecked Sendable` because all mutable state is confined to ``eventLoop``; other threads
///   only hold the reference to schedule work on that loop.
final class LoopShard: @unchecked Sendable {
    final class TopicGroup {
        let topic: Topic
        var subscribers: [Subscriber] = []
        init(topic: Topic) { self.topic = topic }
    }

    let eventLoop: any EventLoop
    unowned let hub: Hub
    private var groups: [ObjectIdentifier: TopicGroup] = [:]
    private var heartbeatTask: RepeatedTask?

    init(eventLoop: any EventLoop, hub: Hub) {
        self.eventLoop = eventLoop
        self.hub = hub
    }

    /// The number of subscribers on this loop (loop-confined).
    var subscriberCount: Int {
        self.groups.values.reduce(0) { $0 + $1.subscribers.count }
    }

    /// Events and bytes queued for slow subscribers on this loop (loop-confined).
    var backlog: (Int, Int) {
        var total = (0, 0)
        for group in self.groups.values {
            for subscriber in group.subscribers {
                total.0 += subscriber.backlog.events
                total.1 += subscriber.backlog.bytes
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
        subscriber.shardIndex = group.subscribers.count
        group.subscribers.append(subscriber)
        if self.heartbeatTask == nil {
            self.startHeartbeats()
        }
    }

    func remove(_ subscriber: Subscriber) {
        self.eventLoop.assertInEventLoop()
        let key = ObjectIdentifier(subscriber.topic)
        guard let group = self.groups[key] else { return }
        let index = subscriber.shardIndex
        guard index < group.subscribers.count, group.subscribers[index] === subscriber else { return }
        let last = group.subscribers.removeLast()
        if index < group.subscribers.count {
            group.subscribers[index] = last
            last.shardIndex = index
        }
        if group.subscribers.isEmpty {
            self.groups[key] = nil
        }
    }

    /// Delivers one published batch to this loop's subscribers of `topic`, one flush per subscriber.
    func deliver(_ topic: Topic, _ events: [PublishedEvent]) {
        guard let group = self.groups[ObjectIdentifier(topic)] else { return }
        var written = Array(repeating: 0, count: self.hub.formats.count)
        var writtenBytes = Array(repeating: 0, count: self.hub.formats.count)
        // A copy of the list: a subscriber that closes during delivery removes itself from `group`.
        let subscribers = group.subscribers
        let now = self.eventLoop.now
        for subscriber in subscribers {
            let count = subscriber.deliver(events, now: now)
            if count > 0 {
                let format = subscriber.format.id
                written[format] += count
                if count == events.count {
                    writtenBytes[format] += events.reduce(0) { $0 + ($1.frames[format]?.readableBytes ?? 0) }
                } else {
                    writtenBytes[format] += events.suffix(count).reduce(0) { $0 + ($1.frames[format]?.readableBytes ?? 0) }
                }
            }
        }
        self.hub.metrics.recordDelivery(
            written: written, bytes: writtenBytes, lag: self.eventLoop.now - events[0].acceptedAt)
    }

    /// Closes every subscriber on this loop and stops the heartbeat timer.
    func closeAll(reason: DisconnectReason) {
        self.eventLoop.assertInEventLoop()
        self.heartbeatTask?.cancel()
        self.heartbeatTask = nil
        for group in self.groups.values {
            for subscriber in group.subscribers {
                subscriber.close(reason: reason)
            }
        }
        self.groups.removeAll()
    }

    /// Closes this loop's subscribers of `topic` (the topic was removed).
    func closeSubscribers(of topic: Topic, reason: DisconnectReason) {
        guard let group = self.groups[ObjectIdentifier(topic)] else { return }
        for subscriber in group.subscribers {
            subscriber.close(reason: reason)
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
            for subscriber in group.subscribers {
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
        if sent > 0 { self.hub.metrics.heartbeats.increment(by: sent) }
    }
}
