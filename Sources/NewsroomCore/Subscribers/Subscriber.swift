import CoreMetrics
import DequeModule
import Logging
import NIOCore

/// One subscription of one sink to one topic: the per-subscriber state of the fan-out.
///
/// A subscriber lives on its sink's event loop and is only touched there (its shard calls it during
/// delivery and heartbeats, the transport calls ``writabilityChanged()`` and ``cancel()``). While its
/// connection is writable, a subscriber writes the shared, pre-encoded frames of each event straight to
/// the sink; when it is not, it keeps references to the events in a bounded queue and applies its
/// ``SlowConsumerPolicy``.
///
/// - Note: `@unchecked Sendable` because it is confined to ``eventLoop``; it crosses threads only inside
///   tasks scheduled on that loop.
public final class Subscriber: @unchecked Sendable {
    enum Pending {
        /// A shared event; its frame is written as is.
        case shared(PublishedEvent)
        /// Coalesced deltas covering `firstSeq...event.seq`; encoded for this subscriber when written.
        case merged(Event, firstSeq: Int, bytes: Int)
        /// A range this subscriber missed (`drop_oldest`).
        case gap(from: Int, to: Int)

        var bytes: Int {
            switch self {
            case .shared: 0  // filled in by the caller, which knows the format
            case .merged(_, _, let bytes): bytes
            case .gap: 64
            }
        }
    }

    /// A process-unique id, for logs.
    public let id: Int
    /// The topic subscribed to.
    public let topic: Topic
    /// The policy applied when this subscriber cannot keep up.
    public let policy: SlowConsumerPolicy
    /// The wire format of the sink.
    public let format: WireFormat
    /// The write delay this subscriber accepts (its flush window); `nil`: the topic's (or the hub's).
    public let maxDelay: TimeAmount?
    let sink: any SubscriberSink
    let shard: LoopShard
    let hub: Hub

    /// The last seq written or queued; events at or below it are never sent again.
    private(set) var lastSeq: Int
    private var queue = Deque<Pending>()
    private var queuedBytes = 0
    /// Set once the topic's terminal event has been written (or queued, until it is written).
    private var terminalQueued = false
    private(set) var lastWrite: NIODeadline
    /// Whether the subscription has ended (it receives nothing more).
    public private(set) var isClosed = false
    /// The shard's lane this subscriber is in, and its position there (for O(1) removal).
    var lane: LoopShard.Lane?
    var shardIndex = 0
    /// Ends the subscription when the caller's credentials expire.
    private var expiry: Scheduled<Void>?

    /// Events written to this subscriber, for the connection's log line.
    public private(set) var delivered = 0

    init(
        id: Int, hub: Hub, topic: Topic, shard: LoopShard, sink: any SubscriberSink, format: WireFormat,
        policy: SlowConsumerPolicy, maxDelay: TimeAmount?, lastSeq: Int, now: NIODeadline
    ) {
        self.maxDelay = maxDelay
        self.id = id
        self.hub = hub
        self.topic = topic
        self.shard = shard
        self.sink = sink
        self.format = format
        self.policy = policy
        self.lastSeq = lastSeq
        self.lastWrite = now
    }

    /// The event loop this subscriber lives on.
    public var eventLoop: any EventLoop { self.shard.eventLoop }

    /// Events and bytes waiting because the connection was not writable.
    public var backlog: (events: Int, bytes: Int) {
        (self.queue.count, self.queuedBytes)
    }

    // MARK: Delivery

    /// Writes (or queues) one published batch. Returns the number of events written.
    /// - Parameter now: The loop's time, read once per delivery pass by the shard.
    @discardableResult
    func deliver(_ events: [PublishedEvent], now: NIODeadline) -> Int {
        guard !self.isClosed, let last = events.last, last.seq > self.lastSeq else { return 0 }
        // Writability is asked once per batch: a batch is bounded, and a connection that stops being
        // writable during it has NIO's buffer above its high-water mark to take the rest.
        let writable = self.queue.isEmpty && self.sink.isWritable
        var written = 0
        let format = self.format
        for published in events where published.seq > self.lastSeq {
            self.lastSeq = published.seq
            if writable {
                self.sink.write(published.frames[format.id] ?? self.hub.encode(published.event, format: format))
                written += 1
            } else {
                self.enqueue(published)
                if self.isClosed { return written }
            }
        }
        // The end is the last event of the batch that holds it.
        if last.event.payload.isTerminal { self.terminalQueued = true }
        if written > 0 {
            self.delivered += written
            self.sink.flush()
            self.lastWrite = now
        }
        if self.terminalQueued { self.finishIfEnded() }
        return written
    }

    /// Writes frames that belong to this subscriber alone (a replay, a notice), then flushes.
    func writeOwn(_ frames: [ByteBuffer]) {
        guard !self.isClosed, !frames.isEmpty else { return }
        for frame in frames { self.sink.write(frame) }
        self.delivered += frames.count
        self.sink.flush()
        self.lastWrite = self.eventLoop.now
    }

    /// Writes a heartbeat frame if the subscriber has been idle; returns whether it did.
    func heartbeatIfIdle(now: NIODeadline, interval: TimeAmount, frame: () -> ByteBuffer) -> Bool {
        guard !self.isClosed, now - self.lastWrite >= interval, self.queue.isEmpty, self.sink.isWritable else {
            return false
        }
        self.sink.write(frame())
        self.sink.flush()
        self.lastWrite = self.eventLoop.now
        return true
    }

    /// Tells the subscriber its connection's writability changed; a writable one drains its queue.
    public func writabilityChanged() {
        self.eventLoop.assertInEventLoop()
        guard !self.isClosed, !self.queue.isEmpty, self.sink.isWritable else { return }
        self.drain()
    }

    private func drain() {
        var written = 0
        while let item = self.queue.first, self.sink.isWritable {
            self.queue.removeFirst()
            switch item {
            case .shared(let published):
                let frame = self.hub.frame(of: published, format: self.format)
                self.queuedBytes -= frame.readableBytes
                self.sink.write(frame)
            case .merged(let event, _, let bytes):
                self.queuedBytes -= bytes
                self.sink.write(self.hub.encode(event, format: self.format))
            case .gap(let from, let to):
                self.queuedBytes -= item.bytes
                let gap = Event(seq: nil, topic: self.topic.name, timestamp: .now(), payload: .gap(Gap(from: from, to: to)))
                self.sink.write(self.hub.encode(gap, format: self.format))
            }
            written += 1
        }
        if written > 0 {
            self.delivered += written
            self.sink.flush()
            self.lastWrite = self.eventLoop.now
        }
        self.finishIfEnded()
    }

    private func finishIfEnded() {
        if self.terminalQueued, self.queue.isEmpty, !self.isClosed {
            self.close(reason: .streamEnded)
        }
    }

    // MARK: Slow consumers

    private func enqueue(_ published: PublishedEvent) {
        let size = self.hub.frame(of: published, format: self.format).readableBytes
        if self.queue.isEmpty {
            self.hub.logger.debug(
                "slow consumer queueing",
                metadata: [
                    "newsroom.topic": "\(self.topic.name)", "newsroom.subscriber.id": "\(self.id)",
                    "newsroom.policy": "\(self.policy)",
                ])
        }
        if self.policy == .coalesce, published.event.payload.isDelta, let last = self.queue.last {
            var merged: Event
            var firstSeq: Int
            var bytes: Int
            switch last {
            case .shared(let previous):
                merged = previous.event
                firstSeq = previous.seq
                bytes = self.hub.frame(of: previous, format: self.format).readableBytes
            case .merged(let event, let first, let b):
                merged = event
                firstSeq = first
                bytes = b
            case .gap:
                merged = published.event
                firstSeq = 0
                bytes = 0
            }
            if firstSeq > 0, merged.merge(published.event, maxTextBytes: self.hub.configuration.maxMergedTextBytes) {
                self.queue[self.queue.count - 1] = .merged(merged, firstSeq: firstSeq, bytes: bytes + size)
                self.queuedBytes += size
                self.hub.metrics.coalesced.increment()
                self.enforceBounds()
                return
            }
        }
        self.queue.append(.shared(published))
        self.queuedBytes += size
        self.enforceBounds()
    }

    private func enforceBounds() {
        let configuration = self.hub.configuration
        func overflowing() -> Bool {
            self.queue.count > configuration.maxQueuedEvents || self.queuedBytes > configuration.maxQueuedBytes
        }
        guard overflowing() else { return }
        switch self.policy.kind {
        case .coalesce, .disconnect:
            self.hub.logger.info(
                "slow consumer disconnected",
                metadata: [
                    "newsroom.topic": "\(self.topic.name)", "newsroom.subscriber.id": "\(self.id)",
                    "newsroom.policy": "\(self.policy)", "newsroom.queue.events": "\(self.queue.count)",
                    "newsroom.queue.bytes": "\(self.queuedBytes)",
                ])
            self.hub.metrics.slowDisconnects[self.format.id].increment()
            self.hub.recentErrors.record(disconnect: .slowConsumer, topic: self.topic.name)
            self.close(reason: .slowConsumer)
        case .dropOldest:
            var gapFrom = Int.max
            var gapTo = 0
            var dropped = 0
            let gapBytes = Pending.gap(from: 0, to: 0).bytes
            // Drop until the queue fits with room for the gap event that will lead it.
            func overflowingWithGap() -> Bool {
                self.queue.count + 1 > configuration.maxQueuedEvents
                    || self.queuedBytes + gapBytes > configuration.maxQueuedBytes
            }
            dropping: while overflowingWithGap(), let first = self.queue.first {
                let range: ClosedRange<Int>
                switch first {
                case .shared(let published):
                    if published.event.payload.isTerminal { break dropping }
                    self.queuedBytes -= self.hub.frame(of: published, format: self.format).readableBytes
                    range = published.seq...published.seq
                    dropped += 1
                case .merged(let event, let firstSeq, let bytes):
                    self.queuedBytes -= bytes
                    range = firstSeq...event.seq!
                    dropped += event.seq! - firstSeq + 1
                case .gap(let from, let to):
                    self.queuedBytes -= first.bytes
                    range = from...to
                }
                self.queue.removeFirst()
                gapFrom = min(gapFrom, range.lowerBound)
                gapTo = max(gapTo, range.upperBound)
            }
            if gapTo > 0 {
                self.queue.prepend(.gap(from: gapFrom, to: gapTo))
                self.queuedBytes += gapBytes
                self.hub.metrics.dropped.increment(by: dropped)
                self.hub.logger.debug(
                    "slow consumer events dropped",
                    metadata: [
                        "newsroom.topic": "\(self.topic.name)", "newsroom.subscriber.id": "\(self.id)",
                        "newsroom.gap.from": "\(gapFrom)", "newsroom.gap.to": "\(gapTo)",
                    ])
            }
            if overflowing() {
                // Only a terminal event is left and it alone is over the bounds: nothing more to drop.
                self.hub.metrics.slowDisconnects[self.format.id].increment()
                self.hub.recentErrors.record(disconnect: .slowConsumer, topic: self.topic.name)
                self.close(reason: .slowConsumer)
            }
        }
    }

    // MARK: Ending

    /// Ends the subscription with ``DisconnectReason/tokenExpired`` at `deadline`.
    func expire(at deadline: NIODeadline) {
        self.expiry = self.eventLoop.scheduleTask(deadline: deadline) { [self] in
            self.close(reason: .tokenExpired)
        }
    }

    /// Ends the subscription from the transport's side (the client went away or unsubscribed). The sink
    /// is not called back.
    public func cancel() {
        self.eventLoop.assertInEventLoop()
        self.end(reason: .clientGone, notifySink: false)
    }

    /// Ends the subscription from the hub's side and tells the sink.
    func close(reason: DisconnectReason) {
        self.end(reason: reason, notifySink: true)
    }

    private func end(reason: DisconnectReason, notifySink: Bool) {
        guard !self.isClosed else { return }
        self.isClosed = true
        self.expiry?.cancel()
        self.expiry = nil
        self.queue.removeAll()
        self.queuedBytes = 0
        self.shard.remove(self)
        self.topic.detach(shard: self.shard, format: self.format.id, now: .now())
        self.hub.subscriptionEnded(format: self.format)
        self.hub.logger.debug(
            "subscription ended",
            metadata: [
                "newsroom.topic": "\(self.topic.name)", "newsroom.subscriber.id": "\(self.id)",
                "newsroom.outcome": "\(reason.code)", "newsroom.delivered": "\(self.delivered)",
                "newsroom.last_seq": "\(self.lastSeq)",
            ])
        if notifySink {
            self.sink.close(subscriber: self, reason: reason)
        }
    }
}
