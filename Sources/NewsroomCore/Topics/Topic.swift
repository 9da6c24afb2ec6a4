import DequeModule
import NIOCore
import Synchronization

/// One named stream of events: its history, its head `seq`, and which event loops have subscribers.
///
/// A topic is shared by every thread; its state sits behind one `Mutex`. The lock is held only for
/// bookkeeping (assign seqs, append to the history, note the loops to notify) — delivery itself
/// happens on the subscribers' event loops, one hop per loop per published batch.
public final class Topic: Sendable {
    /// The topic's name.
    public let name: String

    struct LoopEntry {
        let shard: LoopShard
        var subscribers: Int
    }

    struct ReplayCache {
        var head: Int
        var firstSeq: Int
        var compacted: [Event]
        var frames: [Int: [ByteBuffer]]
    }

    /// The state behind the topic's lock (``TopicState`` is the phase clients see: waiting, streaming, ended).
    struct LockedState {
        var phase: TopicState = .waiting
        /// The last seq issued (0 before the first event).
        var head = 0
        var history = Deque<PublishedEvent>()
        var historyBytes = 0
        var loops: [LoopEntry] = []
        var subscriberCount = 0
        /// Subscribers by wire format id (grown on first use), for the operator's per-transport counts.
        var subscribersPerFormat: [Int] = []
        var createdAt: NIODeadline
        /// Wall-clock creation time, for listings ("the newest streaming topic").
        var created = Timestamp.now()
        var lastActivity: NIODeadline
        var endedAt: NIODeadline?
        /// When the last subscriber left (or when the topic was created, if none ever came).
        var unwatchedSince: NIODeadline?
        var replayCache: ReplayCache?
        var removed = false
        /// The shared history's generation (set by a broker; changes when the store lost its data).
        var epoch: String?

        /// The seq of the oldest event still in the history.
        var firstRetainedSeq: Int { self.history.first?.seq ?? (self.head + 1) }
    }

    let state: Mutex<LockedState>
    /// The topic's flush window in nanoseconds; negative: the hub's (see ``flushInterval``).
    private let flushNanoseconds = Atomic<Int64>(-1)

    init(name: String, now: NIODeadline) {
        self.name = name
        self.state = Mutex(LockedState(createdAt: now, lastActivity: now, unwatchedSince: now))
    }

    /// A point-in-time view of the topic.
    public struct Snapshot: Sendable, Hashable {
        public var name: String
        public var state: TopicState
        /// The last seq issued (0 before the first event).
        public var lastSeq: Int
        /// The oldest seq still replayable (``lastSeq`` + 1 when the history is empty).
        public var firstSeq: Int
        public var subscribers: Int
        /// ``subscribers`` by wire format: index ``WireFormat/id`` (shorter when the last formats have
        /// none). ``Hub/subscribersByTransport(of:)`` sums it per transport.
        public var subscribersPerFormat: [Int]
        public var historyEvents: Int
        public var historyBytes: Int
        /// When the topic was created.
        public var createdAt: Timestamp
        /// The shared history's epoch, with a broker.
        public var epoch: String?
    }

    /// The topic's current state.
    public var snapshot: Snapshot {
        self.state.withLock { s in
            Snapshot(
                name: self.name, state: s.phase, lastSeq: s.head, firstSeq: s.firstRetainedSeq,
                subscribers: s.subscriberCount, subscribersPerFormat: s.subscribersPerFormat, historyEvents: s.history.count, historyBytes: s.historyBytes,
                createdAt: s.created, epoch: s.epoch)
        }
    }

    /// What a new subscriber needs to start: the events to replay and where live delivery takes over.
    struct Attachment {
        var replay: [PublishedEvent]
        var head: Int
        var resumeUnavailable: Bool
        var ended: Bool
        var phase: TopicState
    }

    /// Registers a subscriber on `shard` and returns what it must replay. Called on the shard's loop, so
    /// that every delivery hop scheduled after this returns reaches the new subscriber, and every event
    /// up to `head` is in the returned replay.
    func attach(
        shard: LoopShard, format: Int, after: Int?, maxSubscribers: Int, now: NIODeadline
    ) throws(HubError) -> Attachment {
        try self.state.withLock { (s: inout LockedState) throws(HubError) -> Attachment in
            if s.removed {
                throw HubError(code: .topicNotFound, message: "topic '\(self.name)' was removed")
            }
            // Exactly the final seq: the client has everything. Beyond it is a resume point from another
            // incarnation of the topic (a restart), answered below with `resume_unavailable`.
            if s.phase == .ended, let after, after == s.head {
                throw HubError(code: .nothingAfterEnd, message: "topic '\(self.name)' ended at seq \(s.head)")
            }
            guard s.subscriberCount < maxSubscribers else {
                throw HubError(
                    code: .subscriberLimitReached, message: "topic '\(self.name)' has \(maxSubscribers) subscribers")
            }
            let first = s.firstRetainedSeq
            let requested = after ?? 0
            let resumeUnavailable: Bool
            let from: Int  // the first seq to replay
            if requested > s.head {
                // Beyond anything this topic issued (a restart, or a removed topic recreated).
                resumeUnavailable = true
                from = first
            } else if requested + 1 < first {
                // Already evicted (or the history was trimmed before a fresh joiner came).
                resumeUnavailable = true
                from = first
            } else {
                resumeUnavailable = false
                from = requested + 1
            }
            var replay: [PublishedEvent] = []
            if from <= s.head, !s.history.isEmpty {
                let start = from - first
                replay.reserveCapacity(s.history.count - start)
                for index in start..<s.history.count {
                    replay.append(s.history[index])
                }
            }
            if let index = s.loops.firstIndex(where: { $0.shard === shard }) {
                s.loops[index].subscribers += 1
            } else {
                s.loops.append(LoopEntry(shard: shard, subscribers: 1))
            }
            s.subscriberCount += 1
            if s.subscribersPerFormat.count <= format {
                s.subscribersPerFormat.append(contentsOf: repeatElement(0, count: format + 1 - s.subscribersPerFormat.count))
            }
            s.subscribersPerFormat[format] += 1
            s.unwatchedSince = nil
            s.lastActivity = now
            return Attachment(
                replay: replay, head: s.head, resumeUnavailable: resumeUnavailable, ended: s.phase == .ended,
                phase: s.phase)
        }
    }

    /// Removes one subscriber of `shard` from the topic's bookkeeping.
    func detach(shard: LoopShard, format: Int, now: NIODeadline) {
        self.state.withLock { s in
            guard let index = s.loops.firstIndex(where: { $0.shard === shard }) else { return }
            s.loops[index].subscribers -= 1
            if s.loops[index].subscribers == 0 {
                s.loops.remove(at: index)
            }
            s.subscriberCount -= 1
            if format < s.subscribersPerFormat.count { s.subscribersPerFormat[format] -= 1 }
            if s.subscriberCount == 0 {
                s.unwatchedSince = now
            }
        }
    }

    /// The receipt of an accepted batch.
    public struct PublishReceipt: Sendable, Hashable {
        public var topic: String
        public var firstSeq: Int
        public var lastSeq: Int
        public init(topic: String, firstSeq: Int, lastSeq: Int) {
            self.topic = topic
            self.firstSeq = firstSeq
            self.lastSeq = lastSeq
        }
        public var count: Int { self.lastSeq - self.firstSeq + 1 }
    }

    /// Appends a batch to the history and hands it to every loop with subscribers (one hop per loop).
    ///
    /// All or nothing: if the topic has ended, or the batch continues after a terminal event, nothing
    /// is stored. The events are encoded outside the topic's lock (attaching subscribers and readers of
    /// the state never wait for it): seqs are read, the batch encoded, and the lock taken again to
    /// append — unless another publisher appended in between, in which case the batch is encoded again
    /// with the new seqs.
    func publish(
        _ payloads: [EventPayload], encode: ([Event]) -> [PublishedEvent], configuration: Hub.Configuration
    ) throws(HubError) -> (receipt: PublishReceipt, addedBytes: Int, events: [PublishedEvent]) {
        if let terminal = payloads.firstIndex(where: \.isTerminal), terminal != payloads.count - 1 {
            throw HubError(
                code: .topicEnded, message: "event \(terminal + 1) of the batch ends the topic; nothing may follow it")
        }
        let timestamp = Timestamp.now()
        while true {
            let head = try self.state.withLock { (s: inout LockedState) throws(HubError) -> Int in
                guard s.phase != .ended, !s.removed else { throw HubError.topicEnded(self.name) }
                return s.head
            }
            let events = payloads.enumerated().map { offset, payload in
                Event(seq: head + 1 + offset, topic: self.name, timestamp: timestamp, payload: payload)
            }
            let published = encode(events)
            let appended = try self.state.withLock {
                (s: inout LockedState) throws(HubError) -> (receipt: PublishReceipt, addedBytes: Int, events: [PublishedEvent])? in
                guard s.phase != .ended, !s.removed else { throw HubError.topicEnded(self.name) }
                guard s.head == head else { return nil }  // another publisher was first: encode again
                return self.append(published, to: &s, configuration: configuration)
            }
            if let appended { return appended }
        }
    }

    /// Appends events that another node sequenced (a broker's mirror): seqs at or below the head are
    /// skipped as duplicates; the next must be `head + 1`. Encoded outside the lock, as ``publish``.
    /// - Throws: ``HubError/Code/outOfSequence`` when events are missing before the first new one (the
    ///   caller fetches them and retries), ``HubError/Code/topicEnded`` past the end.
    func ingest(
        _ incoming: [Event], encode: ([Event]) -> [PublishedEvent], configuration: Hub.Configuration
    ) throws(HubError) -> (receipt: PublishReceipt?, addedBytes: Int, events: [PublishedEvent]) {
        while true {
            let (head, fresh) = try self.state.withLock { (s: inout LockedState) throws(HubError) -> (Int, [Event]) in
                let fresh = incoming.filter { ($0.seq ?? 0) > s.head }
                guard let first = fresh.first else { return (s.head, []) }
                guard s.phase != .ended, !s.removed else { throw HubError.topicEnded(self.name) }
                var head = s.head
                if head == 0, s.history.isEmpty, let seq = first.seq, seq > 1 {
                    // A new mirror of a shared history whose oldest events were trimmed: it starts where
                    // the shared history starts (late joiners then learn, with resume_unavailable, what is
                    // gone).
                    head = seq - 1
                }
                guard first.seq == head + 1 else {
                    throw HubError(code: .outOfSequence, message: "expected seq \(head + 1), got \(first.seq ?? 0)")
                }
                for (offset, event) in fresh.enumerated() where event.seq != head + 1 + offset {
                    throw HubError(code: .outOfSequence, message: "seqs are not consecutive at \(event.seq ?? 0)")
                }
                if let terminal = fresh.firstIndex(where: \.payload.isTerminal), terminal != fresh.count - 1 {
                    throw HubError(code: .topicEnded, message: "events follow the end of the topic")
                }
                return (s.head, fresh)
            }
            guard !fresh.isEmpty else { return (nil, 0, []) }
            let published = encode(fresh)
            let appended = try self.state.withLock {
                (s: inout LockedState) throws(HubError) -> (receipt: PublishReceipt, addedBytes: Int, events: [PublishedEvent])? in
                guard s.phase != .ended, !s.removed else { throw HubError.topicEnded(self.name) }
                guard s.head == head else { return nil }  // another batch was ingested first: look again
                if s.head == 0, s.history.isEmpty { s.head = fresh[0].seq! - 1 }
                return self.append(published, to: &s, configuration: configuration)
            }
            if let appended { return (appended.receipt, appended.addedBytes, appended.events) }
        }
    }

    /// Stores sequenced, encoded events, updates the state and schedules one delivery per loop (under
    /// the lock, so two batches reach each loop in seq order).
    private func append(
        _ published: [PublishedEvent], to s: inout LockedState, configuration: Hub.Configuration
    ) -> (receipt: PublishReceipt, addedBytes: Int, events: [PublishedEvent]) {
        let now = NIODeadline.now()
        var added = 0
        for item in published {
            s.history.append(item)
            added += item.byteCount
        }
        s.head = published.last!.seq
        s.historyBytes += added
        let evicted = Self.evict(&s, maxEvents: configuration.maxHistoryEvents, maxBytes: configuration.maxHistoryBytes)
        s.phase = published.last!.event.payload.isTerminal ? .ended : .streaming
        if s.phase == .ended { s.endedAt = now }
        s.lastActivity = now
        s.replayCache = nil
        for entry in s.loops {
            let shard = entry.shard
            // The loop's backlog grows by what it will write (events × its subscribers of this topic).
            let charge = published.count * entry.subscribers
            shard.charge(charge)
            shard.eventLoop.execute { shard.deliver(self, published, charge: charge) }
        }
        let receipt = PublishReceipt(topic: self.name, firstSeq: published.first!.seq, lastSeq: published.last!.seq)
        return (receipt, added - evicted, published)
    }

    /// Evicts the oldest events until the history fits; returns the bytes freed.
    static func evict(_ s: inout LockedState, maxEvents: Int, maxBytes: Int) -> Int {
        var freed = 0
        while s.history.count > 1, s.history.count > maxEvents || s.historyBytes > maxBytes {
            let dropped = s.history.removeFirst()
            s.historyBytes -= dropped.byteCount
            freed += dropped.byteCount
        }
        return freed
    }

    /// Trims the history to at most `targetBytes`; returns the bytes freed.
    func trimHistory(toBytes targetBytes: Int) -> Int {
        self.state.withLock { s in
            let freed = Self.evict(&s, maxEvents: .max, maxBytes: targetBytes)
            if freed > 0 { s.replayCache = nil }
            return freed
        }
    }

    /// The compacted replay frames for a whole-history replay, if cached for this head.
    func cachedReplay(format: Int, head: Int, firstSeq: Int) -> [ByteBuffer]? {
        self.state.withLock { s in
            guard let cache = s.replayCache, cache.head == head, cache.firstSeq == firstSeq else { return nil }
            return cache.frames[format]
        }
    }

    /// The compacted events of a whole-history replay, if cached for this head.
    func cachedCompaction(head: Int, firstSeq: Int) -> [Event]? {
        self.state.withLock { s in
            guard let cache = s.replayCache, cache.head == head, cache.firstSeq == firstSeq else { return nil }
            return cache.compacted
        }
    }

    func storeReplay(format: Int, head: Int, firstSeq: Int, compacted: [Event], frames: [ByteBuffer]) {
        self.state.withLock { s in
            // Only cache the replay of the current head; a newer publish already invalidated this one.
            guard s.head == head, s.firstRetainedSeq == firstSeq else { return }
            if s.replayCache == nil || s.replayCache!.head != head || s.replayCache!.firstSeq != firstSeq {
                s.replayCache = ReplayCache(head: head, firstSeq: firstSeq, compacted: compacted, frames: [:])
            }
            s.replayCache!.frames[format] = frames
        }
    }

    /// The heartbeat payload for this topic now.
    var heartbeat: Heartbeat {
        self.state.withLock { s in Heartbeat(lastSeq: s.head, state: s.phase, epoch: s.epoch) }
    }

    /// The write delay of this topic's subscribers that ask for none themselves; `nil`: the hub's.
    public var flushInterval: TimeAmount? {
        let nanoseconds = self.flushNanoseconds.load(ordering: .relaxed)
        return nanoseconds < 0 ? nil : .nanoseconds(nanoseconds)
    }

    func setFlushInterval(_ interval: TimeAmount?) {
        self.flushNanoseconds.store(interval.map { max(0, $0.nanoseconds) } ?? -1, ordering: .relaxed)
    }

    /// The shared history's epoch (see ``Hub/setEpoch(_:ofTopic:)``).
    public var epoch: String? {
        get { self.state.withLock { $0.epoch } }
    }

    func setEpoch(_ epoch: String?) {
        self.state.withLock { $0.epoch = epoch }
    }
}
