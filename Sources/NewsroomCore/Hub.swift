import CoreMetrics
import Logging
import NIOCore
import Synchronization

/// The topic layer: named topics with bounded histories, and their subscribers sharded per event loop.
///
/// The hub knows nothing about transports or providers. Producers call ``publish(_:to:)``; transports
/// call ``subscribe(to:after:policy:format:sink:)`` from the event loop of the connection, with a
/// ``SubscriberSink`` that writes pre-encoded frames. Each accepted event is encoded once per registered
/// ``FrameEncoder`` and the bytes are shared by every subscriber of that format.
///
/// Use ``withHub(configuration:encoders:eventLoopGroup:logger:metricsFactory:_:)`` to get a hub whose
/// subscribers are closed and timers stopped when the body returns, or call ``shutdown(reason:)``.
public final class Hub: Sendable {
    /// The limits and timings.
    public let configuration: Configuration
    /// The registered wire formats, in encoder order.
    public let formats: [WireFormat]
    let encoders: [any FrameEncoder]
    let logger: Logger
    let metrics: HubMetrics
    let eventLoopGroup: any EventLoopGroup
    let allocator = ByteBufferAllocator()

    private struct Registry {
        var topics: [String: Topic] = [:]
        var shards: [ObjectIdentifier: LoopShard] = [:]
        var isShutDown = false
        var sweeper: RepeatedTask?
    }

    private let registry = Mutex(Registry())
    /// The last errors the hub emitted (published `error` events, slow consumers it disconnected), for
    /// the operator's console.
    public let recentErrors = RecentErrors()
    private let historyBytes = Atomic<Int>(0)
    private let nextSubscriberID = Atomic<Int>(1)
    /// Open subscriptions per wire format: an event is encoded at publish time only for the formats
    /// that have subscribers (a later subscriber of another format encodes what it needs itself).
    private let formatUse: [FormatUse]
    /// How many loops hold a fan-out backlog over ``Configuration/maxFanOutBacklog``.
    private let overloadedLoops = Atomic<Int>(0)
    /// Until when (uptime nanoseconds) publishers are held back because a batch reached its loop late.
    private let lateUntil = Atomic<Int64>(0)
    /// Rate-limits the overload log lines (see ``fanOutOverloaded(_:backlog:)``).
    let overloadLog = Mutex(OverloadLog())

    final class FormatUse: Sendable {
        let subscribers = Atomic<Int>(0)
    }

    /// Creates a hub.
    /// - Parameters:
    ///   - configuration: Limits and timings.
    ///   - encoders: One encoder per wire format the transports will ask for (see ``format(named:)``).
    ///   - eventLoopGroup: The group whose loops run timers (expiry sweeps); subscribers may live on any loop.
    ///   - logger: Where the topic layer logs (slow consumers, expiries).
    ///   - metricsFactory: Where metrics go; the process-wide factory by default.
    public init(
        configuration: Configuration = .defaults, encoders: [any FrameEncoder], eventLoopGroup: any EventLoopGroup,
        logger: Logger = Logger(label: "newsroom.hub"), metricsFactory: (any MetricsFactory)? = nil
    ) {
        precondition(!encoders.isEmpty, "a hub needs at least one wire format")
        precondition(Set(encoders.map(\.name)).count == encoders.count, "wire format names must be unique")
        self.configuration = configuration
        self.encoders = encoders
        self.formats = encoders.enumerated().map { WireFormat(id: $0.offset, name: $0.element.name) }
        self.formatUse = encoders.map { _ in FormatUse() }
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.metrics = HubMetrics(
            transports: encoders.map(\.transport), factory: metricsFactory ?? MetricsSystem.factory)
        let loop = eventLoopGroup.any()
        let sweeper = loop.scheduleRepeatedTask(
            initialDelay: configuration.sweepInterval, delay: configuration.sweepInterval
        ) { [weak self] _ in
            self?.sweep(now: .now())
        }
        self.registry.withLock { $0.sweeper = sweeper }
    }

    /// The wire format registered under `name`.
    public func format(named name: String) -> WireFormat? {
        self.formats.first { $0.name == name }
    }

    /// Encodes `event` for `format` (for frames that belong to one subscriber).
    public func encode(_ event: Event, format: WireFormat) -> ByteBuffer {
        self.encoders[format.id].encode(event, allocator: self.allocator)
    }

    /// The frame of a stored event for `format`: the shared one, or — for a format that had no
    /// subscriber when the event was accepted — one encoded now.
    @inlinable
    public func frame(of published: PublishedEvent, format: WireFormat) -> ByteBuffer {
        published.frames[format.id] ?? self.encode(published.event, format: format)
    }

    /// Encodes sequenced events once per wire format that has subscribers, sharing what the formats
    /// have in common (the event's JSON) between them.
    func encodeForSubscribers(_ events: [Event]) -> [PublishedEvent] {
        let now = NIODeadline.now()
        let used = self.formatUse.map { $0.subscribers.load(ordering: .relaxed) > 0 }
        return events.map { event in
            var parts = EncodedParts(allocator: self.allocator)
            var frames: [ByteBuffer?] = []
            frames.reserveCapacity(self.encoders.count)
            for (index, encoder) in self.encoders.enumerated() {
                frames.append(used[index] ? encoder.encode(event, parts: &parts) : nil)
            }
            return PublishedEvent(event: event, frames: frames, acceptedAt: now)
        }
    }

    func subscriptionStarted(format: WireFormat) {
        self.formatUse[format.id].subscribers.add(1, ordering: .relaxed)
        self.metrics.subscriptions[format.id].increment()
    }

    func subscriptionEnded(format: WireFormat) {
        self.formatUse[format.id].subscribers.subtract(1, ordering: .relaxed)
        self.metrics.subscriptions[format.id].decrement()
    }

    /// The transports of the wire formats, in ``WireFormat/id`` order (several formats may share one:
    /// SSE on HTTP/1.1 and on HTTP/2 are both `sse`).
    public var transports: [String] {
        var seen: [String] = []
        for encoder in self.encoders where !seen.contains(encoder.transport) { seen.append(encoder.transport) }
        return seen
    }

    /// A topic's subscribers per transport (`sse`, `ws`, `grpc`, `grpc-web`), every transport of the hub
    /// included (0 when it has none).
    public func subscribersByTransport(of snapshot: Topic.Snapshot) -> [(transport: String, subscribers: Int)] {
        var counts = self.transports.map { (transport: $0, subscribers: 0) }
        for (format, count) in snapshot.subscribersPerFormat.enumerated() where count != 0 && format < self.encoders.count {
            let transport = self.encoders[format].transport
            if let index = counts.firstIndex(where: { $0.transport == transport }) { counts[index].subscribers += count }
        }
        return counts
    }

    /// Bytes held by all topic histories.
    public var totalHistoryBytes: Int { self.historyBytes.load(ordering: .relaxed) }

    // MARK: Topics

    func topic(named name: String, create: Bool) throws(HubError) -> Topic? {
        guard TopicName.isValid(name) else { throw HubError.invalidTopicName(name) }
        return try self.registry.withLock { (r: inout Registry) throws(HubError) -> Topic? in
            if r.isShutDown { throw HubError(code: .shuttingDown, message: "the hub is shutting down") }
            if let topic = r.topics[name] { return topic }
            guard create else { return nil }
            guard r.topics.count < self.configuration.maxTopics else {
                throw HubError(
                    code: .topicLimitReached, message: "the hub holds its maximum of \(self.configuration.maxTopics) topics")
            }
            let topic = Topic(name: name, now: .now())
            r.topics[name] = topic
            return topic
        }
    }

    /// The state of one topic, or `nil` if it does not exist.
    public func snapshot(ofTopic name: String) -> Topic.Snapshot? {
        let topic = self.registry.withLock { $0.topics[name] }
        return topic?.snapshot
    }

    /// The state of every topic, sorted by name.
    public func snapshots() -> [Topic.Snapshot] {
        let topics = self.registry.withLock { Array($0.topics.values) }
        return topics.map(\.snapshot).sorted { $0.name < $1.name }
    }

    /// The number of topics in each state.
    public func topicCounts() -> [TopicState: Int] {
        var counts: [TopicState: Int] = [.waiting: 0, .streaming: 0, .ended: 0]
        for snapshot in self.snapshots() { counts[snapshot.state, default: 0] += 1 }
        return counts
    }

    /// Creates a topic if it does not exist (a viewer may wait for an answer that has not started).
    @discardableResult
    public func createTopic(named name: String) throws(HubError) -> Topic.Snapshot {
        try self.topic(named: name, create: true)!.snapshot
    }

    // MARK: Publishing

    /// Publishes a batch of events to a topic, creating the topic if needed.
    ///
    /// Assigns consecutive seqs, stores the events in the history and schedules one delivery per event
    /// loop that has subscribers. All or nothing: a batch that would continue past the topic's end stores
    /// nothing. Never blocks on subscribers.
    /// - Throws: ``HubError`` with ``HubError/Code/invalidTopicName``, ``HubError/Code/invalidEvent``
    ///   (an empty batch, or a `heartbeat`/`gap`), ``HubError/Code/topicEnded``,
    ///   ``HubError/Code/topicLimitReached``.
    @discardableResult
    public func publish(_ payloads: [EventPayload], to name: String) throws(HubError) -> Topic.PublishReceipt {
        guard !payloads.isEmpty else { throw HubError.invalidEvent("the batch holds no events") }
        for payload in payloads {
            switch payload {
            case .heartbeat, .gap:
                throw HubError.invalidEvent("'\(payload.type)' events are made by the hub and cannot be published")
            default: break
            }
        }
        if let terminal = payloads.firstIndex(where: \.isTerminal), terminal != payloads.count - 1 {
            // Refused before the topic is looked up: a rejected batch creates no topic.
            throw HubError(
                code: .topicEnded, message: "event \(terminal + 1) of the batch ends the topic; nothing may follow it")
        }
        let topic = try self.topic(named: name, create: true)!
        let (receipt, added, events) = try topic.publish(
            payloads, encode: self.encodeForSubscribers, configuration: self.configuration)
        for event in events {
            self.metrics.published[event.event.type]?.increment()
            if case .error(let error) = event.event.payload { self.recentErrors.record(error, of: event.event) }
        }
        let total = self.historyBytes.add(added, ordering: .relaxed).newValue
        if total > self.configuration.maxTotalHistoryBytes {
            self.enforceHistoryBudget(publishing: topic)
        }
        return receipt
    }

    /// Publishes one event.
    @discardableResult
    public func publish(_ payload: EventPayload, to name: String) throws(HubError) -> Topic.PublishReceipt {
        try self.publish([payload], to: name)
    }

    /// Appends events that a broker sequenced for every node (a mirror of a shared topic), creating the
    /// local topic if needed, and delivers them to this node's subscribers. Events at or below the local
    /// head are skipped, so a batch seen twice (its publisher's own echo) is harmless.
    /// - Returns: The seqs appended, or `nil` when every event was already there.
    /// - Throws: ``HubError/Code/outOfSequence`` when events are missing before the first new one: fetch
    ///   them from the broker's history and ingest them first.
    @discardableResult
    public func ingest(_ events: [Event], to name: String) throws(HubError) -> Topic.PublishReceipt? {
        guard !events.isEmpty else { return nil }
        let topic = try self.topic(named: name, create: true)!
        let (receipt, added, published) = try topic.ingest(
            events, encode: self.encodeForSubscribers, configuration: self.configuration)
        for event in published {
            self.metrics.published[event.event.type]?.increment()
            if case .error(let error) = event.event.payload { self.recentErrors.record(error, of: event.event) }
        }
        let total = self.historyBytes.add(added, ordering: .relaxed).newValue
        if total > self.configuration.maxTotalHistoryBytes {
            self.enforceHistoryBudget(publishing: topic)
        }
        return receipt
    }

    /// Sets the flush window of a topic's subscribers that ask for none themselves (creating the topic
    /// if needed), up to ``Configuration/maxFlushInterval``; `nil` for the hub's.
    public func setFlushInterval(_ interval: TimeAmount?, ofTopic name: String) throws(HubError) {
        let bounded = interval.map { min(max($0, .zero), self.configuration.maxFlushInterval) }
        try self.topic(named: name, create: true)!.setFlushInterval(bounded)
    }

    // MARK: Overload

    /// Whether the fan-out is behind: some loop's backlog is over ``Configuration/maxFanOutBacklog``, or
    /// a batch waited longer than ``Configuration/maxFanOutDelay`` for its loop a moment ago. Publishing
    /// more now would only queue, so publishers wait (or are refused) until it has caught up.
    public var isFanOutOverloaded: Bool {
        self.overloadedLoops.load(ordering: .relaxed) > 0
            || NIODeadline.now().uptimeNanoseconds < UInt64(clamping: self.lateUntil.load(ordering: .relaxed))
    }

    /// Deliveries handed to the loops and not yet written, summed over every loop.
    public var fanOutBacklog: Int {
        let shards = self.registry.withLock { Array($0.shards.values) }
        return shards.reduce(0) { $0 + max(0, $1.backlogDeliveries.load(ordering: .relaxed)) }
    }

    /// Waits until no loop's fan-out backlog is over its bound — at once when none is, the common case
    /// (one atomic load). A publisher that calls this before publishing is slowed to the rate the loops
    /// can write, instead of queueing work behind them; a generation that calls it pauses reading its
    /// upstream.
    /// - Parameter timeout: How long to wait at most.
    /// - Throws: ``HubError/Code/overloaded`` when the backlog did not drain in time (the caller answers
    ///   "retry later"), `CancellationError` when the task is cancelled.
    public func waitForFanOutCapacity(timeout: TimeAmount) async throws(HubError) {
        guard self.isFanOutOverloaded else { return }
        self.metrics.publishWaits.increment()
        let deadline = NIODeadline.now() + timeout
        // Polled rather than signalled: a waiting publisher costs one atomic load every 2 ms, and the
        // loops' hot path carries no list of waiters to wake.
        while self.isFanOutOverloaded {
            guard NIODeadline.now() < deadline else {
                self.metrics.publishRejections.increment()
                throw HubError(
                    code: .overloaded, message: "the hub is writing as fast as it can; retry in a moment")
            }
            do {
                try await Task.sleep(for: .milliseconds(2))
            } catch {
                throw HubError(code: .overloaded, message: "cancelled while waiting for the fan-out to drain")
            }
        }
    }

    /// A batch reached its loop later than ``Configuration/maxFanOutDelay``: publishers are held back for
    /// half that delay (renewed by every late batch, so it ends by itself once the loops catch up).
    func fanOutLate(now: NIODeadline) {
        let until = Int64(clamping: (now + .nanoseconds(self.configuration.maxFanOutDelay.nanoseconds / 2)).uptimeNanoseconds)
        let previous = self.lateUntil.exchange(until, ordering: .relaxed)
        if UInt64(clamping: previous) < now.uptimeNanoseconds {
            self.metrics.lateFanOuts.increment()
            self.logger.debug(
                "fan-out behind its delay bound; publishers are held back",
                metadata: ["newsroom.fanout.max_delay_ms": "\(self.configuration.maxFanOutDelay.nanoseconds / 1_000_000)"])
        }
    }

    /// The overload log lines' limiter: an overload that flaps — crossing its bound many times a second,
    /// as a hub at its limit does — would otherwise write two lines per crossing, and a log that cannot
    /// keep up (a full pipe, a slow collector) would then stall the loops that write them.
    struct OverloadLog {
        /// At most one episode's pair of lines per interval.
        var interval: TimeAmount = .seconds(10)
        var nextAllowed = NIODeadline.uptimeNanoseconds(0)
        /// Whether the current episode's start was logged (then its end is too).
        var episodeLogged = false
        /// Episodes left out since the last one logged.
        var notLogged = 0
    }

    /// A loop's backlog crossed its bound (up) or half of it (down). The first loop over its bound starts
    /// an overload episode and the last one back under ends it; each episode is a warning and an info
    /// line, at most one episode per ``OverloadLog/interval`` (the next logged one says how many were not).
    func fanOutOverloaded(_ overloaded: Bool, backlog: Int) {
        if overloaded {
            guard self.overloadedLoops.add(1, ordering: .relaxed).newValue == 1 else { return }
            let now = NIODeadline.now()
            let skipped: Int? = self.overloadLog.withLock { log in
                guard now >= log.nextAllowed else {
                    log.episodeLogged = false
                    log.notLogged += 1
                    return nil
                }
                let skipped = log.notLogged
                log.notLogged = 0
                log.episodeLogged = true
                log.nextAllowed = now + log.interval
                return skipped
            }
            guard let skipped else { return }
            var metadata: Logger.Metadata = [
                "newsroom.backlog.deliveries": "\(backlog)",
                "newsroom.backlog.bound": "\(self.configuration.maxFanOutBacklog)",
            ]
            if skipped > 0 { metadata["newsroom.backlog.episodes_not_logged"] = "\(skipped)" }
            self.logger.warning("fan-out backlog over its bound; publishers are held back", metadata: metadata)
        } else if self.overloadedLoops.subtract(1, ordering: .relaxed).newValue == 0 {
            guard self.overloadLog.withLock({ $0.episodeLogged }) else { return }
            self.logger.info("fan-out backlog drained; publishers resume", metadata: ["newsroom.backlog.deliveries": "\(backlog)"])
        }
    }

    /// The local head of a topic (0 when unknown here).
    public func head(ofTopic name: String) -> Int {
        self.snapshot(ofTopic: name)?.lastSeq ?? 0
    }

    /// Records the shared history's epoch of a topic (carried by its heartbeats).
    public func setEpoch(_ epoch: String?, ofTopic name: String) throws(HubError) {
        try self.topic(named: name, create: true)!.setEpoch(epoch)
    }

    /// Forgets a topic's local copy (the shared history was lost and a new epoch began): its
    /// subscribers are closed with a retryable reason, so they reconnect and learn, with
    /// `resume_unavailable`, that their resume point is gone.
    public func resetTopic(named name: String) {
        guard let topic = self.registry.withLock({ $0.topics[name] }) else { return }
        self.remove(topic, reason: "epoch_changed", disconnect: .historyLost)
    }

    /// Ends a topic that has not ended by publishing `stream_complete` with `finish_reason: cancelled`.
    /// - Returns: The topic's state afterwards, or `nil` if there is no such topic.
    public func cancelTopic(named name: String) throws(HubError) -> Topic.Snapshot? {
        guard let topic = try self.topic(named: name, create: false) else { return nil }
        do {
            try self.publish(.streamComplete(StreamComplete(finishReason: .cancelled)), to: name)
        } catch where error.code == .topicEnded {
            // Already ended: cancelling is idempotent.
        }
        return topic.snapshot
    }

    private func enforceHistoryBudget(publishing: Topic) {
        let budget = self.configuration.maxTotalHistoryBytes
        // Ended topics go first, oldest end first: their readers are late joiners, not live viewers.
        let ended: [(Topic, NIODeadline)] = self.registry.withLock { r in
            r.topics.values.compactMap { topic in
                let endedAt = topic.state.withLock { $0.phase == .ended ? $0.endedAt : nil }
                return endedAt.map { (topic, $0) }
            }.sorted { $0.1 < $1.1 }
        }
        for (topic, _) in ended where self.historyBytes.load(ordering: .relaxed) > budget {
            self.remove(topic, reason: "history_budget")
        }
        let excess = self.historyBytes.load(ordering: .relaxed) - budget
        if excess > 0 {
            let topicBytes = publishing.state.withLock { $0.historyBytes }
            let freed = publishing.trimHistory(toBytes: max(0, topicBytes - excess))
            self.historyBytes.subtract(freed, ordering: .relaxed)
        }
    }

    private func remove(_ topic: Topic, reason: String, disconnect: DisconnectReason = .topicRemoved) {
        let removed = self.registry.withLock { r -> Bool in
            guard r.topics[topic.name] === topic else { return false }
            r.topics[topic.name] = nil
            return true
        }
        guard removed else { return }
        let (bytes, shards) = topic.state.withLock { s -> (Int, [LoopShard]) in
            s.removed = true
            let bytes = s.historyBytes
            s.history.removeAll()
            s.historyBytes = 0
            s.replayCache = nil
            return (bytes, s.loops.map(\.shard))
        }
        self.historyBytes.subtract(bytes, ordering: .relaxed)
        for shard in shards {
            shard.eventLoop.execute { shard.closeSubscribers(of: topic, reason: disconnect) }
        }
        self.logger.debug("topic removed", metadata: ["newsroom.topic": "\(topic.name)", "newsroom.reason": "\(reason)"])
    }

    /// Removes ended topics past their retention and never-started topics nobody watched for the idle TTL.
    func sweep(now: NIODeadline) {
        let topics = self.registry.withLock { Array($0.topics.values) }
        for topic in topics {
            let expired = topic.state.withLock { s -> Bool in
                if let endedAt = s.endedAt, now - endedAt >= self.configuration.retention { return true }
                if s.phase == .waiting, s.subscriberCount == 0, let since = s.unwatchedSince,
                    now - since >= self.configuration.idleTopicTTL
                {
                    return true
                }
                return false
            }
            if expired { self.remove(topic, reason: "expired") }
        }
    }

    // MARK: Subscribing

    private func shard(for loop: any EventLoop) -> LoopShard {
        self.registry.withLock { r in
            let key = ObjectIdentifier(loop)
            if let shard = r.shards[key] { return shard }
            let shard = LoopShard(eventLoop: loop, hub: self)
            r.shards[key] = shard
            return shard
        }
    }

    /// Subscribes a sink to a topic, creating the topic if needed; must be called on the sink's loop.
    ///
    /// The subscriber first receives the history after `after` (the whole history when `nil`), with
    /// consecutive deltas merged when ``Configuration/compactReplay`` is on, then every later event, with
    /// no gap and no duplicate. If the resume point is no longer in the history, or is beyond anything
    /// the topic issued, an `error` event with code `resume_unavailable` comes first. If the topic has
    /// ended, the sink is closed with ``DisconnectReason/streamEnded`` once the replay is written —
    /// possibly before this method returns.
    /// - Parameters:
    ///   - name: The topic.
    ///   - after: The last seq the client has; `nil` or 0 for everything.
    ///   - policy: The slow-consumer policy; the configured default if `nil`.
    ///   - format: The sink's wire format.
    ///   - sink: Where the frames go.
    ///   - maxDelay: The write delay (flush window) the subscriber accepts, up to
    ///     ``Configuration/maxFlushInterval``; `nil` for the topic's.
    ///   - deadline: When the subscription ends by itself with ``DisconnectReason/tokenExpired`` (the
    ///     caller's credentials expire then); `nil` for never.
    /// - Throws: ``HubError`` with ``HubError/Code/nothingAfterEnd`` when the topic ended exactly at
    ///   `after`, ``HubError/Code/invalidTopicName``, ``HubError/Code/topicLimitReached``,
    ///   ``HubError/Code/subscriberLimitReached``.
    public func subscribe(
        to name: String, after: Int?, policy: SlowConsumerPolicy?, format: WireFormat, sink: any SubscriberSink,
        maxDelay: TimeAmount? = nil, until deadline: NIODeadline? = nil
    ) throws(HubError) -> Subscriber {
        let loop = sink.eventLoop
        loop.preconditionInEventLoop()
        let shard = self.shard(for: loop)
        let now = loop.now
        var attempt = 0
        while true {
            attempt += 1
            let topic = try self.topic(named: name, create: true)!
            let attachment: Topic.Attachment
            do {
                attachment = try topic.attach(
                    shard: shard, format: format.id, after: after, maxSubscribers: self.configuration.maxSubscribersPerTopic, now: now)
            } catch where error.code == .topicNotFound && attempt < 3 {
                continue  // removed between lookup and attach: the next lookup creates it anew
            }
            if let after, after > 0 {
                // full: everything after the resume point was replayed; gap: the resume point was
                // evicted from the history; expired: it is beyond anything this topic issued (a restart,
                // or the topic expired and was created anew).
                let outcome = !attachment.resumeUnavailable ? "full" : (after > attachment.head ? "expired" : "gap")
                self.metrics.resumes[outcome]?.increment()
            }
            let subscriber = Subscriber(
                id: self.nextSubscriberID.add(1, ordering: .relaxed).oldValue, hub: self, topic: topic,
                shard: shard, sink: sink, format: format, policy: policy ?? self.configuration.defaultPolicy,
                maxDelay: maxDelay.map { min(max($0, .zero), self.configuration.maxFlushInterval) },
                lastSeq: attachment.head, now: now)
            shard.add(subscriber)
            self.subscriptionStarted(format: format)
            self.logger.debug(
                "subscription started",
                metadata: [
                    "newsroom.topic": "\(name)", "newsroom.subscriber.id": "\(subscriber.id)",
                    "newsroom.transport": "\(self.encoders[format.id].transport)",
                    "newsroom.policy": "\(subscriber.policy)", "newsroom.resume.after": "\(after ?? 0)",
                    "newsroom.resume.available": "\(!attachment.resumeUnavailable)",
                    "newsroom.replay.events": "\(attachment.replay.count)",
                ])
            var frames: [ByteBuffer] = []
            if attachment.resumeUnavailable {
                let notice = StreamError(
                    code: "resume_unavailable",
                    message: "events after \(after ?? 0) are no longer available; replaying what the history holds",
                    retryable: false)
                frames.append(
                    self.encode(Event(seq: nil, topic: name, timestamp: .now(), payload: .error(notice)), format: format))
            }
            frames += self.replayFrames(topic: topic, attachment: attachment, format: format)
            subscriber.writeOwn(frames)
            if !frames.isEmpty {
                self.metrics.deliveries[format.id].increment(by: frames.count)
                self.metrics.deliveredBytes[format.id].increment(by: frames.reduce(0) { $0 + $1.readableBytes })
            }
            if attachment.ended {
                subscriber.close(reason: .streamEnded)
            } else if let deadline {
                subscriber.expire(at: deadline)
            }
            return subscriber
        }
    }

    /// The frames of a replay: shared frames for events kept as they are, and (cached per head) merged
    /// frames for runs of deltas.
    private func replayFrames(topic: Topic, attachment: Topic.Attachment, format: WireFormat) -> [ByteBuffer] {
        let events = attachment.replay
        guard let first = events.first else { return [] }
        guard self.configuration.compactReplay, events.count > 1 else {
            return events.map { self.frame(of: $0, format: format) }
        }
        let firstSeq = topic.state.withLock { $0.firstRetainedSeq }
        let wholeHistory = first.seq == firstSeq
        if wholeHistory, let cached = topic.cachedReplay(format: format.id, head: attachment.head, firstSeq: firstSeq) {
            return cached
        }
        var frames: [ByteBuffer] = []
        var compacted: [Event] = []
        var runStart = 0
        // A run of merged events becomes one new frame; an event merged with nothing keeps its shared frame.
        func closeRun(end: Int) {
            frames.append(
                end - runStart == 1
                    ? self.frame(of: events[runStart], format: format)
                    : self.encode(compacted[compacted.count - 1], format: format))
        }
        for index in events.indices {
            if index > 0 {
                if compacted[compacted.count - 1].merge(
                    events[index].event, maxTextBytes: self.configuration.maxMergedTextBytes)
                {
                    continue
                }
                closeRun(end: index)
            }
            compacted.append(events[index].event)
            runStart = index
        }
        closeRun(end: events.count)
        if wholeHistory {
            topic.storeReplay(
                format: format.id, head: attachment.head, firstSeq: firstSeq, compacted: compacted, frames: frames)
        }
        return frames
    }

    // MARK: Lifecycle

    /// Closes every subscriber with `reason`, stops the hub's timers and refuses new work.
    public func shutdown(reason: DisconnectReason = .shutdown) async {
        let shards = self.registry.withLock { r -> [LoopShard] in
            r.isShutDown = true
            r.sweeper?.cancel()
            r.sweeper = nil
            return Array(r.shards.values)
        }
        for shard in shards {
            try? await shard.eventLoop.submit { shard.closeAll(reason: reason) }.get()
        }
    }

    /// Events and bytes queued for slow subscribers across every loop (hops to each loop).
    public func backlog() async -> (events: Int, bytes: Int) {
        let shards = self.registry.withLock { Array($0.shards.values) }
        var total = (events: 0, bytes: 0)
        for shard in shards {
            let part = (try? await shard.eventLoop.submit { shard.backlog }.get()) ?? (0, 0)
            total.events += part.0
            total.bytes += part.1
        }
        return total
    }

    /// The number of subscribers across every loop (for tests and diagnostics; hops to each loop).
    public func subscriberCount() async -> Int {
        let shards = self.registry.withLock { Array($0.shards.values) }
        var total = 0
        for shard in shards {
            total += (try? await shard.eventLoop.submit { shard.subscriberCount }.get()) ?? 0
        }
        return total
    }
}

/// Runs `body` with a new hub and shuts the hub down when `body` returns or throws.
public func withHub<Result>(
    configuration: Hub.Configuration = .defaults, encoders: [any FrameEncoder], eventLoopGroup: any EventLoopGroup,
    logger: Logger = Logger(label: "newsroom.hub"), metricsFactory: (any MetricsFactory)? = nil,
    _ body: (Hub) async throws -> Result
) async throws -> Result {
    let hub = Hub(
        configuration: configuration, encoders: encoders, eventLoopGroup: eventLoopGroup, logger: logger,
        metricsFactory: metricsFactory)
    do {
        let result = try await body(hub)
        await hub.shutdown()
        return result
    } catch {
        await hub.shutdown()
        throw error
    }
}
