import Logging
import NIOCore
import NewsroomCore
import NewsroomRedis
import NewsroomWire
import Synchronization

/// The ``Broker`` on Redis: every node pointed at the same Redis shares every topic.
///
/// Per topic (all keys share the hash tag `{<topic>}`, so a Redis Cluster keeps them on one node):
/// - `nr:{t}:meta` — a hash: `head` (the last seq), `epoch`, `state`, `owner` (a generation's node);
/// - `nr:{t}:ev` — a Redis Stream with the history (entry ID `<seq>-1`, field `e` = the event JSON),
///   trimmed with `MAXLEN ~` and expiring after the retention time;
/// - `nr:{t}:live` — the Pub/Sub channel of live events (`SPUBLISH`/`SSUBSCRIBE` in cluster mode);
/// - `nr:{t}:lease`, `nr:{t}:cancel` — the generation lease and the durable cancel flag.
///
/// A publish is one `EVALSHA` (``BrokerScripts/publish``): it assigns the seqs, appends to the stream,
/// refreshes the expiry and publishes the batch — one Redis round trip per batch, never one per
/// subscriber. Each node mirrors the topics its viewers watch: it subscribes to the topic's channel on
/// demand (first local viewer), reads the history from the stream while buffering live events, merges
/// by seq (duplicates skipped), fetches any range a live message skips, and drops the channel after the
/// last local viewer has been gone for a while. The local ``Hub`` then fans out from its own loops.
///
/// Generations: the node that starts one takes the topic's lease (renewed every second), and its
/// batches are refused if it lost it. A cancel on any node sets the cancel flag and tells the owner over
/// the control channel `nr:control`. Every node watching a streaming topic checks its owner's lease
/// every ``Configuration/ownerCheckInterval``: a topic whose owner died is ended with `owner_lost` then
/// `stream_complete(error)` within lease TTL + check interval (default 6 s), by whichever node sees it
/// first (the script ends it once).
public final class RedisBroker: Broker, Sendable {
    /// How the broker uses Redis.
    public struct Configuration: Sendable {
        /// `redis://[user:pass@]host:port[/db]`.
        public var url: String
        /// Prefix of every key and channel. Default `nr`.
        public var keyPrefix = "nr"
        /// Use sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`), for a Redis Cluster. Default off.
        ///
        /// When on and ``url`` names a cluster node, the broker talks to the whole cluster (learned from
        /// that node): each topic's keys, scripts and shard channel on the node owning its slot, following
        /// `MOVED`/`ASK`. A server not in cluster mode is used alone, as with the option off.
        public var sharded = false
        /// How long a generation lease lives without renewal (renewed every fifth of it). Default 5 s.
        public var leaseTTL: TimeAmount = .seconds(5)
        /// How often nodes check the owners of the streaming topics they watch. Default 1 s.
        public var ownerCheckInterval: TimeAmount = .seconds(1)
        /// How long a mirror stays subscribed after its last local viewer left. Default 30 s.
        public var mirrorIdleTimeout: TimeAmount = .seconds(30)
        /// How long a topic's keys live after its last publish. Default 10 minutes.
        public var retention: TimeAmount = .minutes(10)
        /// The approximate most events a topic's stream keeps. Default 100,000.
        public var maxStreamLength = 100_000

        public init(url: String) {
            self.url = url
        }
    }

    enum Phase {
        /// Reading the history; live events that arrive meanwhile wait here (with their epoch).
        case syncing([Event], epoch: String?)
        case live
    }

    struct Mirror {
        var phase: Phase
        var task: Task<Void, any Error>?
        var idleSince: NIODeadline?
    }

    struct State {
        var mirrors: [String: Mirror] = [:]
        var leases: Set<String> = []
        var cancelHandler: (@Sendable (String) async -> Void)?
        var background: Task<Void, Never>?
        var closed = false
    }

    public let nodeID: String
    public let configuration: Configuration
    let hub: Hub
    /// One server, or a Redis Cluster with ``Configuration/sharded``.
    let client: BrokerRedis
    let logger: Logger
    let state = Mutex(State())

    private init(configuration: Configuration, hub: Hub, client: BrokerRedis, logger: Logger) {
        self.configuration = configuration
        self.hub = hub
        self.client = client
        self.logger = logger
        var generator = SystemRandomNumberGenerator()
        self.nodeID = "node-" + String(UInt64.random(in: 0...UInt64.max, using: &generator), radix: 36)
    }

    /// Connects to Redis and starts the broker's background work (lease renewal, owner checks, mirror
    /// clean-up, catching up after a reconnect).
    public static func connect(
        configuration: Configuration, hub: Hub, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) async throws -> RedisBroker {
        let router = PushRouter()
        var redisConfiguration = try RedisClient.Configuration(url: configuration.url)
        redisConfiguration.clientName = "newsroom"
        let client = try await BrokerRedis.connect(
            configuration: redisConfiguration, sharded: configuration.sharded, eventLoopGroup: eventLoopGroup,
            logger: logger,
            onPush: { message in router.broker?.received(message) },
            onConnectionEvent: { event in router.broker?.connectionChanged(event) })
        let broker = RedisBroker(configuration: configuration, hub: hub, client: client, logger: logger)
        router.broker = broker
        try await client.subscribe(to: [broker.controlChannel])
        let background = Task { await broker.runBackground() }
        broker.state.withLock { $0.background = background }
        logger.info("broker connected", metadata: ["newsroom.node": "\(broker.nodeID)"])
        return broker
    }

    /// Stops the background work, gives back held leases and closes the connection.
    public func shutdown() async {
        let (background, leases) = self.state.withLock { state -> (Task<Void, Never>?, Set<String>) in
            state.closed = true
            return (state.background, state.leases)
        }
        background?.cancel()
        await background?.value
        for topic in leases { await self.releaseLease(of: topic) }
        await self.client.close()
    }

    /// Delivers pushes to the broker, which is created after the client (weak: the client outlives nothing).
    final class PushRouter: @unchecked Sendable {
        // Set once, before any push can matter; read on the client's event loop.
        weak var broker: RedisBroker?
    }

    // MARK: Keys

    func metaKey(_ topic: String) -> String { "\(self.configuration.keyPrefix):{\(topic)}:meta" }
    func streamKey(_ topic: String) -> String { "\(self.configuration.keyPrefix):{\(topic)}:ev" }
    func leaseKey(_ topic: String) -> String { "\(self.configuration.keyPrefix):{\(topic)}:lease" }
    func cancelKey(_ topic: String) -> String { "\(self.configuration.keyPrefix):{\(topic)}:cancel" }
    func channel(_ topic: String) -> String { "\(self.configuration.keyPrefix):{\(topic)}:live" }
    var controlChannel: String { "\(self.configuration.keyPrefix):control" }
    func generationKey(_ id: String) -> String { "\(self.configuration.keyPrefix):gen:{\(id)}" }

    func topic(ofChannel channel: String) -> String? {
        let prefix = "\(self.configuration.keyPrefix):{"
        let suffix = "}:live"
        guard channel.hasPrefix(prefix), channel.hasSuffix(suffix) else { return nil }
        return String(channel.dropFirst(prefix.count).dropLast(suffix.count))
    }

    static func milliseconds(_ amount: TimeAmount) -> Int { Int(amount.nanoseconds / 1_000_000) }

    static func hubError(_ error: any Error) -> HubError {
        if let redis = error as? RedisError {
            switch redis.serverErrorCode {
            case "TOPIC_ENDED": return HubError(code: .topicEnded, message: "the topic has ended")
            case "NOT_OWNER": return HubError(code: .notOwner, message: "this node no longer owns the generation")
            default: break
            }
        }
        return HubError(code: .brokerUnavailable, message: "the broker is unavailable")
    }

    // MARK: Publishing

    public func publish(_ payloads: [EventPayload], to topic: String, owner: String?) async throws(HubError)
        -> Topic.PublishReceipt
    {
        guard !payloads.isEmpty else { throw HubError.invalidEvent("the batch holds no events") }
        guard TopicName.isValid(topic) else { throw HubError.invalidTopicName(topic) }
        if let terminal = payloads.firstIndex(where: \.isTerminal), terminal != payloads.count - 1 {
            throw HubError(code: .topicEnded, message: "event \(terminal + 1) of the batch ends the topic; nothing may follow it")
        }
        var generator = SystemRandomNumberGenerator()
        let token = "#epoch-\(UInt64.random(in: 0...UInt64.max, using: &generator))#"
        let candidate = String(UInt64.random(in: 0...UInt64.max, using: &generator), radix: 36)
        let timestamp = Timestamp.now()
        var tails: [RedisArgument] = []
        tails.reserveCapacity(payloads.count)
        for payload in payloads {
            var stamped = payload
            if case .streamStart(var start) = payload {
                start.epoch = token
                stamped = .streamStart(start)
            }
            var json = EventJSON.encode(Event(seq: nil, topic: topic, timestamp: timestamp, payload: stamped))
            json.moveReaderIndex(forwardBy: 1)  // drop "{": the script writes `{"seq":N,` before it
            tails.append(.bytes(json))
        }
        let arguments: [RedisArgument] =
            [
                .string(self.channel(topic)), .string(candidate), .string(owner ?? ""),
                .integer(self.configuration.maxStreamLength), .integer(Self.milliseconds(self.configuration.retention)),
                .string(token), .string(payloads.last!.isTerminal ? "1" : "0"),
                .string(self.configuration.sharded ? "1" : "0"),
            ] + tails
        let reply: RESPValue
        do {
            reply = try await self.client.evalSHA(
                BrokerScripts.publish, keys: [self.metaKey(topic), self.streamKey(topic), self.leaseKey(topic)],
                arguments: arguments)
        } catch {
            throw Self.hubError(error)
        }
        guard let values = reply.array, values.count == 3, let first = values[0].int, let last = values[1].int
        else {
            throw HubError(code: .brokerUnavailable, message: "the broker answered unexpectedly")
        }
        let epoch = values[2].string
        // This node's own viewers need not wait for the echo from Redis (which is then skipped by seq).
        if self.isMirrored(topic) {
            var events: [Event] = []
            for (offset, payload) in payloads.enumerated() {
                var stamped = payload
                if case .streamStart(var start) = payload {
                    start.epoch = epoch
                    stamped = .streamStart(start)
                }
                events.append(Event(seq: Int(first) + offset, topic: topic, timestamp: timestamp, payload: stamped))
            }
            self.deliverLive(events, epoch: epoch, topic: topic)
        }
        return Topic.PublishReceipt(topic: topic, firstSeq: Int(first), lastSeq: Int(last))
    }

    // MARK: Mirrors

    public func isMirrored(_ topic: String) -> Bool {
        self.state.withLock { state in
            guard case .live? = state.mirrors[topic]?.phase else { return false }
            state.mirrors[topic]?.idleSince = nil
            return true
        }
    }

    public func prepareSubscription(to topic: String) async throws(HubError) {
        let task: Task<Void, any Error>? = self.state.withLock { state in
            if let mirror = state.mirrors[topic] {
                if case .live = mirror.phase { return nil }
                return mirror.task
            }
            let task = Task { try await self.sync(topic) }
            state.mirrors[topic] = Mirror(phase: .syncing([], epoch: nil), task: task, idleSince: nil)
            return task
        }
        guard let task else { return }
        do {
            try await task.value
        } catch {
            self.state.withLock { state in
                if case .syncing? = state.mirrors[topic]?.phase { state.mirrors[topic] = nil }
            }
            throw error as? HubError ?? Self.hubError(error)
        }
    }

    /// Subscribes to the topic's live events, reads its history, then lets the buffered live events in.
    private func sync(_ topic: String) async throws {
        let channel = self.channel(topic)
        if self.configuration.sharded {
            try await self.client.ssubscribe(to: [channel])
        } else {
            try await self.client.subscribe(to: [channel])
        }
        try await self.catchUp(topic, checkEpoch: true)
        // Live events that arrived while reading the history; duplicates are skipped by seq.
        let (buffered, epoch) = self.state.withLock { state -> ([Event], String?) in
            guard case .syncing(let events, let epoch)? = state.mirrors[topic]?.phase else { return ([], nil) }
            state.mirrors[topic]?.phase = .live
            state.mirrors[topic]?.task = nil
            return (events, epoch)
        }
        if !buffered.isEmpty { self.deliverLive(buffered, epoch: epoch, topic: topic) }
        self.logger.debug("topic mirrored", metadata: ["newsroom.topic": "\(topic)"])
    }

    /// Reads the stream after the local head into the local hub. With `checkEpoch`, first compares the
    /// shared epoch with the local copy's: a different one (the store lost its data) resets the copy.
    func catchUp(_ topic: String, checkEpoch: Bool) async throws {
        if checkEpoch {
            let epoch = try await self.client.hget(self.metaKey(topic), field: "epoch").map { String(buffer: $0) }
            let local = self.hub.snapshot(ofTopic: topic)?.epoch
            if let local, local != epoch {
                self.logger.info(
                    "topic history lost in the broker; resetting", metadata: ["newsroom.topic": "\(topic)"])
                self.hub.resetTopic(named: topic)
            }
            if let epoch { try? self.hub.setEpoch(epoch, ofTopic: topic) }
        }
        while true {
            let head = self.hub.head(ofTopic: topic)
            let entries = try await self.client.xrange(self.streamKey(topic), after: "\(head)-1", count: 1000)
            let events = entries.compactMap { entry -> Event? in
                guard let json = entry["e"] else { return nil }
                return try? EventDecoder.decodeBroadcast(json.readableBytesView)
            }
            if !events.isEmpty {
                let result: Result<Topic.PublishReceipt?, HubError> = Result { () throws(HubError) in
                    try self.hub.ingest(events, to: topic)
                }
                if case .failure(let error) = result {
                    if error.code == .topicEnded { return }
                    throw error
                }
            }
            if entries.count < 1000 { return }
        }
    }

    /// Appends events to the local copy; a gap (a lost or reordered message) triggers a catch-up.
    func ingest(_ events: [Event], topic: String) {
        do {
            try self.hub.ingest(events, to: topic)
        } catch where error.code == .outOfSequence {
            Task {
                do {
                    try await self.catchUp(topic, checkEpoch: false)
                    _ = try? self.hub.ingest(events, to: topic)
                } catch {
                    self.logger.info("broker catch-up failed", metadata: ["newsroom.topic": "\(topic)"])
                }
            }
        } catch {
            // Ended or removed locally: nothing more can go there.
        }
    }

    /// A push from Redis: a topic's live events, or a control message.
    func received(_ message: RedisPushMessage) {
        guard message.kind == .message || message.kind == .shardMessage, let channel = message.channel,
            let payload = message.payload
        else { return }
        if channel == self.controlChannel {
            return self.control(String(buffer: payload))
        }
        guard let topic = self.topic(ofChannel: channel) else { return }
        var events: [Event] = []
        var epoch: String?
        let marker = Array("epoch:".utf8)
        for line in payload.readableBytesView.split(separator: UInt8(ascii: "\n")) {
            if line.starts(with: marker) {
                epoch = String(decoding: line.dropFirst(marker.count), as: UTF8.self)
            } else if let event = try? EventDecoder.decodeBroadcast(line) {
                events.append(event)
            }
        }
        guard !events.isEmpty else { return }
        self.deliverLive(events, epoch: epoch?.isEmpty == false ? epoch : nil, topic: topic)
    }

    /// Live events for a mirror (a message from the topic's channel, or this node's own publish), with the
    /// epoch of the history they were stored in. A copy mirrored before the topic's first publish has no
    /// epoch yet and takes this one; a copy of another epoch (the store restarted empty and the topic
    /// began again) is rebuilt from the shared history first — its viewers get `history_lost` — instead
    /// of skipping the new events as duplicates of the old seqs.
    func deliverLive(_ events: [Event], epoch: String?, topic: String) {
        let local = self.hub.snapshot(ofTopic: topic)?.epoch
        let stale = epoch != nil && local != nil && local != epoch
        enum Action { case none, ingest, resync }
        let action = self.state.withLock { state -> Action in
            switch state.mirrors[topic]?.phase {
            case .syncing(var buffered, let bufferedEpoch)?:
                buffered.append(contentsOf: events)
                state.mirrors[topic]?.phase = .syncing(buffered, epoch: epoch ?? bufferedEpoch)
                return .none
            case .live?:
                guard stale else { return .ingest }
                state.mirrors[topic]?.phase = .syncing(events, epoch: epoch)
                state.mirrors[topic]?.task = Task {
                    do {
                        try await self.sync(topic)
                    } catch {
                        // Could not rebuild: forget the copy; its viewers reconnect and mirror it anew.
                        self.state.withLock { state in
                            if case .syncing? = state.mirrors[topic]?.phase { state.mirrors[topic] = nil }
                        }
                        self.hub.resetTopic(named: topic)
                        throw error
                    }
                }
                return .resync
            case nil:
                return .none
            }
        }
        switch action {
        case .none:
            return
        case .ingest:
            if let epoch, local == nil { try? self.hub.setEpoch(epoch, ofTopic: topic) }
            self.ingest(events, topic: topic)
        case .resync:
            self.logger.info(
                "topic began a new epoch in the broker; resyncing", metadata: ["newsroom.topic": "\(topic)"])
        }
    }

    /// After a reconnect the client has resubscribed; every mirror catches up (and checks its epoch).
    func connectionChanged(_ event: RedisConnectionEvent) {
        guard event.kind == .reconnected else { return }
        let topics = self.state.withLock { Array($0.mirrors.keys) }
        self.logger.info("broker reconnected; catching up", metadata: ["newsroom.topics": "\(topics.count)"])
        Task {
            for topic in topics {
                try? await self.catchUp(topic, checkEpoch: true)
            }
        }
    }

    // MARK: Cancel and leases

    public func cancelTopic(_ topic: String) async throws(HubError) -> Topic.Snapshot? {
        let meta: [String: ByteBuffer]
        do {
            meta = try await self.client.hgetall(self.metaKey(topic))
        } catch {
            throw Self.hubError(error)
        }
        guard !meta.isEmpty else { return nil }
        let ended = meta["state"].map { String(buffer: $0) } == "ended"
        if !ended {
            let owned = (try? await self.client.get(self.leaseKey(topic))) ?? nil
            if owned != nil {
                // A generation runs on some node: the durable flag and the control message reach its owner,
                // which aborts the upstream request and publishes `cancelled`.
                _ = try? await self.client.set(self.cancelKey(topic), to: "1", condition: .always, expiresIn: .seconds(60))
                _ = try? await self.client.publish(.string("cancel\t\(topic)"), to: self.controlChannel)
            } else {
                do {
                    _ = try await self.publish(
                        [.streamComplete(StreamComplete(finishReason: .cancelled))], to: topic, owner: nil)
                } catch where error.code == .topicEnded {
                    // Ended meanwhile: cancelling is idempotent.
                }
            }
        }
        try await self.prepareSubscription(to: topic)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while self.hub.snapshot(ofTopic: topic)?.state != .ended, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.hub.snapshot(ofTopic: topic)
    }

    private func control(_ message: String) {
        let parts = message.split(separator: "\t", maxSplits: 1)
        guard parts.count == 2, parts[0] == "cancel" else { return }
        let topic = String(parts[1])
        let (owns, handler) = self.state.withLock { ($0.leases.contains(topic), $0.cancelHandler) }
        guard owns, let handler else { return }
        Task { await handler(topic) }
    }

    public func acquireLease(of topic: String) async throws(HubError) -> Bool {
        do {
            let reply = try await self.client.evalSHA(
                BrokerScripts.acquireLease, keys: [self.metaKey(topic), self.leaseKey(topic)],
                arguments: [.string(self.nodeID), .integer(Self.milliseconds(self.configuration.leaseTTL))])
            guard reply.int == 1 else { return false }
            self.state.withLock { _ = $0.leases.insert(topic) }
            return true
        } catch {
            throw Self.hubError(error)
        }
    }

    public func releaseLease(of topic: String) async {
        let held = self.state.withLock { $0.leases.remove(topic) != nil }
        guard held else { return }
        _ = try? await self.client.evalSHA(
            BrokerScripts.releaseLease, keys: [self.leaseKey(topic), self.cancelKey(topic)],
            arguments: [.string(self.nodeID)])
    }

    public func sharedSnapshot(ofTopic topic: String) async throws(HubError) -> Topic.Snapshot? {
        let exists: Bool
        do {
            exists = try await self.client.send("EXISTS", .string(self.metaKey(topic))).int == 1
        } catch {
            throw Self.hubError(error)
        }
        guard exists else { return nil }
        try await self.prepareSubscription(to: topic)
        return self.hub.snapshot(ofTopic: topic)
    }

    // MARK: Generations by id

    /// `nr:gen:{id}`: a hash with the generation's state, expiring with the topic's retention.
    public func recordGeneration(_ info: GenerationInfo) async {
        let key = self.generationKey(info.id)
        var fields: [RedisArgument] = [
            "HSET", .string(key), "topic", .string(info.topic), "provider", .string(info.provider),
            "state", .string(info.state.rawValue), "queued", .integer(Int(info.queuedAt.millisecondsSince1970)),
        ]
        if let model = info.model { fields += ["model", .string(model)] }
        if let first = info.firstTokenAt { fields += ["first", .integer(Int(first.millisecondsSince1970))] }
        if let completed = info.completedAt { fields += ["completed", .integer(Int(completed.millisecondsSince1970))] }
        if let input = info.usage?.inputTokens { fields += ["input", .integer(input)] }
        if let output = info.usage?.outputTokens { fields += ["output", .integer(output)] }
        if let finish = info.finishReason { fields += ["finish", .string(finish.rawValue)] }
        let results = await self.client.pipeline([
            RedisCommand(fields, routingKey: .string(key)),
            RedisCommand(
                ["PEXPIRE", .string(key), .integer(Self.milliseconds(self.configuration.retention))],
                routingKey: .string(key)),
        ])
        if case .failure(let error) = results.first {
            self.logger.debug("generation record not shared", metadata: ["newsroom.error": "\(error.code)"])
        }
    }

    public func generation(_ id: String) async -> GenerationInfo? {
        guard let fields = try? await self.client.hgetall(self.generationKey(id)),
            let topic = fields["topic"].map({ String(buffer: $0) }),
            let provider = fields["provider"].map({ String(buffer: $0) }),
            let queued = fields["queued"].flatMap({ Int64(String(buffer: $0)) })
        else { return nil }
        func string(_ name: String) -> String? { fields[name].map { String(buffer: $0) } }
        func time(_ name: String) -> Timestamp? {
            string(name).flatMap(Int64.init).map { Timestamp(millisecondsSince1970: $0) }
        }
        let state: GenerationInfo.State =
            switch string("state") {
            case "completed": .completed
            case "cancelled": .cancelled
            case "failed": .failed
            default: .running
            }
        let input = string("input").flatMap(Int.init)
        let output = string("output").flatMap(Int.init)
        return GenerationInfo(
            id: id, topic: topic, provider: provider, model: string("model"), state: state,
            queuedAt: Timestamp(millisecondsSince1970: queued), firstTokenAt: time("first"),
            completedAt: time("completed"),
            usage: input == nil && output == nil ? nil : Usage(inputTokens: input, outputTokens: output),
            finishReason: string("finish").flatMap(FinishReason.init(rawValue:)))
    }

    public func onCancelRequest(_ handler: @escaping @Sendable (String) async -> Void) {
        self.state.withLock { $0.cancelHandler = handler }
    }

    // MARK: Background work

    private func runBackground() async {
        let renewEvery = TimeAmount.nanoseconds(max(self.configuration.leaseTTL.nanoseconds / 5, 100_000_000))
        var lastOwnerCheck = NIODeadline.now()
        var lastJanitor = NIODeadline.now()
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(renewEvery.nanoseconds))
            if Task.isCancelled { return }
            await self.renewLeases()
            let now = NIODeadline.now()
            if now - lastOwnerCheck >= self.configuration.ownerCheckInterval {
                lastOwnerCheck = now
                await self.checkOwners()
            }
            if now - lastJanitor >= .seconds(5) {
                lastJanitor = now
                await self.dropIdleMirrors(now: now)
            }
        }
    }

    private func renewLeases() async {
        let (leases, handler) = self.state.withLock { (Array($0.leases), $0.cancelHandler) }
        for topic in leases {
            let reply = try? await self.client.evalSHA(
                BrokerScripts.renewLease, keys: [self.leaseKey(topic), self.cancelKey(topic)],
                arguments: [.string(self.nodeID), .integer(Self.milliseconds(self.configuration.leaseTTL))])
            switch reply?.int {
            case 0?:
                // Lost (expired, or taken after a partition): stop writing; the broker refuses our batches.
                self.logger.info("generation lease lost", metadata: ["newsroom.topic": "\(topic)"])
                self.state.withLock { _ = $0.leases.remove(topic) }
                if let handler { await handler(topic) }
            case 2?:
                if let handler { await handler(topic) }
            default:
                break
            }
        }
    }

    /// Ends the watched streaming topics whose generation owner is gone (its lease expired).
    private func checkOwners() async {
        let topics = self.state.withLock { state in
            state.mirrors.compactMap { topic, mirror -> String? in
                guard case .live = mirror.phase else { return nil }
                return topic
            }
        }
        for topic in topics where self.hub.snapshot(ofTopic: topic)?.state == .streaming {
            let timestamp = Timestamp.now()
            let tails: [RedisArgument] = [
                EventPayload.error(
                    StreamError(
                        code: "owner_lost", message: "the node running this generation stopped; start it again",
                        retryable: true)),
                .streamComplete(StreamComplete(finishReason: .error)),
            ].map { payload in
                var json = EventJSON.encode(Event(seq: nil, topic: topic, timestamp: timestamp, payload: payload))
                json.moveReaderIndex(forwardBy: 1)
                return .bytes(json)
            }
            let reply = try? await self.client.evalSHA(
                BrokerScripts.endIfOwnerLost,
                keys: [self.metaKey(topic), self.streamKey(topic), self.leaseKey(topic)],
                arguments: [
                    .string(self.channel(topic)), .integer(self.configuration.maxStreamLength),
                    .integer(Self.milliseconds(self.configuration.retention)),
                    .string(self.configuration.sharded ? "1" : "0"),
                ] + tails)
            if let first = reply?.int, first > 0 {
                self.logger.info("generation owner lost; topic ended", metadata: ["newsroom.topic": "\(topic)"])
            }
        }
    }

    /// Unsubscribes from topics no local viewer has watched for ``Configuration/mirrorIdleTimeout``.
    private func dropIdleMirrors(now: NIODeadline) async {
        var drop: [String] = []
        let topics = self.state.withLock { Array($0.mirrors.keys) }
        let watched = Set(topics.filter { (self.hub.snapshot(ofTopic: $0)?.subscribers ?? 0) > 0 })
        self.state.withLock { state in
            for topic in topics {
                guard case .live? = state.mirrors[topic]?.phase else { continue }
                if watched.contains(topic) {
                    state.mirrors[topic]?.idleSince = nil
                } else if let since = state.mirrors[topic]?.idleSince {
                    if now - since >= self.configuration.mirrorIdleTimeout {
                        state.mirrors[topic] = nil
                        drop.append(topic)
                    }
                } else {
                    state.mirrors[topic]?.idleSince = now
                }
            }
        }
        guard !drop.isEmpty else { return }
        let channels = drop.map(self.channel)
        if self.configuration.sharded {
            try? await self.client.sunsubscribe(from: channels)
        } else {
            try? await self.client.unsubscribe(from: channels)
        }
    }
}
