import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A small cluster-aware client: routes each command to the primary that owns its key's hash slot,
/// follows `MOVED` and `ASK` redirects, and routes shard-channel subscriptions the same way.
///
/// It keeps one ``RedisClient`` per primary it has talked to (each with its own reconnects) and a slot map
/// read with `CLUSTER SLOTS` at connect and again after any `MOVED`. A command is routed by its
/// ``RedisCommand/routingKey``; the typed helpers set it to their key, and a command without one goes to
/// the first seed's node. Keys that share a hash tag (`topic:{t1}:meta`, `topic:{t1}:log`) share a slot,
/// so multi-key commands and scripts over them work.
///
/// Not supported: reading from replicas, `TRYAGAIN`/`CLUSTERDOWN` retries, pipelines across nodes
/// (``RedisClient/pipeline(_:timeout:)`` on ``client(forKey:)`` works for keys of one slot), and `SELECT`
/// (a cluster has only database 0).
public final class RedisClusterClient: RedisCommandSender, Sendable {
    /// How to reach the cluster.
    public struct Configuration: Sendable {
        /// The template for every node connection: credentials, TLS, timeouts, reconnect policy. Its
        /// host and port are the first seed.
        public var node: RedisClient.Configuration
        /// More nodes to try if the first seed is unreachable at connect.
        public var additionalSeeds: [(host: String, port: Int)] = []
        /// The most `MOVED`/`ASK` redirects one command follows. Default 5.
        public var maximumRedirects: Int = 5

        public init(node: RedisClient.Configuration) {
            self.node = node
        }

        /// A configuration from node URLs (`redis://user:pass@10.0.0.1:7000`); the first URL's
        /// credentials and TLS apply to every node.
        public init(urls: [String]) throws {
            guard let first = urls.first else { throw RedisError.invalidURL("a cluster needs at least one seed URL") }
            self.node = try RedisClient.Configuration(url: first)
            self.additionalSeeds = try urls.dropFirst().map {
                let seed = try RedisClient.Configuration(url: $0)
                return (seed.host, seed.port)
            }
        }
    }

    /// A node's address.
    struct NodeAddress: Hashable, Sendable, CustomStringConvertible {
        var host: String
        var port: Int
        var description: String { "\(self.host):\(self.port)" }
    }

    private struct State {
        /// The primary of each slot, when known.
        var slots: [NodeAddress?] = Array(repeating: nil, count: RedisHashSlot.count)
        /// Connected (or connecting) node clients.
        var nodes: [NodeAddress: Task<RedisClient, any Error>] = [:]
        /// Shard channels subscribed to, and the node serving each.
        var shardChannels: [String: NodeAddress] = [:]
        /// A slot-map refresh under way, shared by everyone who wants one.
        var refresh: Task<Void, any Error>?
        var closed = false
    }

    public let configuration: Configuration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let seeds: [NodeAddress]
    private let state = Mutex(State())
    private let onPush: (@Sendable (RedisPushMessage) -> Void)?
    private let onConnectionEvent: (@Sendable (RedisConnectionEvent) -> Void)?

    private init(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        onPush: (@Sendable (RedisPushMessage) -> Void)?,
        onConnectionEvent: (@Sendable (RedisConnectionEvent) -> Void)?
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onPush = onPush
        self.onConnectionEvent = onConnectionEvent
        self.seeds =
            [NodeAddress(host: configuration.node.host, port: configuration.node.port)]
            + configuration.additionalSeeds.map { NodeAddress(host: $0.host, port: $0.port) }
    }

    /// Connects to the first reachable seed and reads the slot map.
    ///
    /// - Parameters:
    ///   - configuration: The seeds and the per-node settings.
    ///   - eventLoopGroup: Where node clients take their event loops from.
    ///   - logger: Where the client logs.
    ///   - onPush: Called with every push from every node (on that node's event loop). A shard channel
    ///     whose slot moved is subscribed again on its new node without the handler's help.
    ///   - onConnectionEvent: Called when a node's connection is lost and back; after a reconnect the
    ///     node's subscriptions are restored, and the owner catches up.
    /// - Throws: ``RedisError/Code/clusterUnavailable`` if no seed answers `CLUSTER SLOTS`.
    public static func connect(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onPush: (@Sendable (RedisPushMessage) -> Void)? = nil,
        onConnectionEvent: (@Sendable (RedisConnectionEvent) -> Void)? = nil
    ) async throws -> RedisClusterClient {
        let client = RedisClusterClient(
            configuration: configuration,
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            onPush: onPush,
            onConnectionEvent: onConnectionEvent
        )
        do {
            try await client.refreshSlots()
        } catch {
            await client.close()
            throw error
        }
        return client
    }

    /// Closes every node connection. Later commands fail with ``RedisError/Code/clientClosed``.
    public func close() async {
        let nodes = self.state.withLock { state in
            state.closed = true
            state.refresh?.cancel()
            defer { state.nodes = [:] }
            return Array(state.nodes.values)
        }
        for node in nodes {
            if let client = try? await node.value {
                await client.close()
            }
        }
    }

    // MARK: - Commands

    /// Sends `command` to the primary of its routing key's slot, following redirects.
    ///
    /// - Parameters:
    ///   - command: The command; ``RedisCommand/routingKey`` picks the node (none: the first seed's).
    ///   - timeout: Per attempt; `nil` for the node configuration's default.
    /// - Throws: ``RedisError``; ``RedisError/Code/tooManyRedirects`` after
    ///   ``Configuration/maximumRedirects`` redirects.
    public func send(_ command: RedisCommand, timeout: TimeAmount? = nil) async throws -> RESPValue {
        try await self.routed(routingKey: command.routingKey) { client, asking in
            if asking {
                // ASKING applies to the next command on the connection only: send both in one write.
                let results = await client.pipeline([["ASKING"], command], timeout: timeout)
                return try results[1].get()
            }
            return try await client.send(command, timeout: timeout)
        }
    }

    /// The node client that serves `key`'s slot now (for pipelines over keys of one slot).
    public func client(forKey key: String) async throws -> RedisClient {
        try await self.client(for: self.node(forSlot: RedisHashSlot.slot(for: key)))
    }

    /// Runs `operation` against the node of `routingKey`, following `MOVED` (refreshing the slot map) and
    /// `ASK` (one-off, with `asking` set) redirects.
    private func routed<T>(
        routingKey: RedisArgument?,
        _ operation: (RedisClient, _ asking: Bool) async throws -> T
    ) async throws -> T {
        var target = routingKey.map { self.node(forSlot: RedisHashSlot.slot(for: $0)) } ?? self.seeds[0]
        var asking = false
        for _ in 0...self.configuration.maximumRedirects {
            let client = try await self.client(for: target)
            do {
                return try await operation(client, asking)
            } catch let error as RedisError {
                guard let redirect = Redirect(error, from: target) else { throw error }
                self.logger.debug(
                    "Redis cluster redirect",
                    metadata: ["redis.redirect": "\(redirect.moved ? "MOVED" : "ASK")", "redis.slot": "\(redirect.slot)"]
                )
                target = redirect.node
                asking = !redirect.moved
                if redirect.moved {
                    self.state.withLock { $0.slots[redirect.slot] = redirect.node }
                    self.refreshInBackground()
                }
            }
        }
        throw RedisError(
            code: .tooManyRedirects,
            message: "more than \(self.configuration.maximumRedirects) cluster redirects for one command"
        )
    }

    /// A `MOVED <slot> <host>:<port>` or `ASK <slot> <host>:<port>` error.
    private struct Redirect {
        var moved: Bool
        var slot: Int
        var node: NodeAddress

        init?(_ error: RedisError, from current: NodeAddress) {
            guard let code = error.serverErrorCode, code == "MOVED" || code == "ASK" else { return nil }
            let parts = error.message.split(separator: " ")
            guard parts.count == 3, let slot = Int(parts[1]), (0..<RedisHashSlot.count).contains(slot),
                let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...])
            else { return nil }
            var host = String(parts[2][..<colon])
            // An empty host means "the address you reached me on" (cluster-preferred-endpoint-type unknown).
            if host.isEmpty { host = current.host }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.moved = code == "MOVED"
            self.slot = slot
            self.node = NodeAddress(host: host, port: port)
        }
    }

    // MARK: - Pub/Sub

    /// Subscribes to a shard channel (`SSUBSCRIBE`) on the node that owns its slot.
    ///
    /// Messages arrive through `onPush` as ``RedisPushMessage/Kind/shardMessage``. If the slot later moves,
    /// the client subscribes again on the new owner.
    public func ssubscribe(to channel: String) async throws {
        let node: NodeAddress = try await self.routed(routingKey: .string(channel)) { client, _ in
            try await client.ssubscribe(to: [channel])
            return NodeAddress(host: client.configuration.host, port: client.configuration.port)
        }
        self.state.withLock { $0.shardChannels[channel] = node }
    }

    /// Unsubscribes from a shard channel (`SUNSUBSCRIBE`).
    public func sunsubscribe(from channel: String) async throws {
        guard let node = self.state.withLock({ $0.shardChannels.removeValue(forKey: channel) }) else { return }
        try await self.client(for: node).sunsubscribe(from: [channel])
    }

    /// Subscribes to ordinary channels (`SUBSCRIBE`) on the first seed's node. A cluster forwards every
    /// `PUBLISH` to every node, so one subscription sees them all.
    public func subscribe(to channels: [String]) async throws {
        try await self.client(for: self.seeds[0]).subscribe(to: channels)
    }

    /// Unsubscribes from ordinary channels (`UNSUBSCRIBE`); from all when `channels` is empty.
    public func unsubscribe(from channels: [String] = []) async throws {
        try await self.client(for: self.seeds[0]).unsubscribe(from: channels)
    }

    /// The shard channels subscribed to.
    public var shardChannels: Set<String> {
        self.state.withLock { Set($0.shardChannels.keys) }
    }

    private func receivePush(_ message: RedisPushMessage, from node: NodeAddress) {
        if message.kind == .shardUnsubscribe, let channel = message.channel {
            // The server dropped the channel because its slot moved: follow it to the new owner.
            let stillWanted = self.state.withLock { state in
                guard state.shardChannels[channel] == node else { return false }
                state.shardChannels[channel] = nil
                return !state.closed
            }
            if stillWanted {
                Task {
                    try? await self.refreshSlots()
                    do {
                        try await self.ssubscribe(to: channel)
                    } catch {
                        self.logger.info("Could not follow a moved shard channel", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        self.onPush?(message)
    }

    // MARK: - Nodes and slots

    private func node(forSlot slot: Int) -> NodeAddress {
        self.state.withLock { $0.slots[slot] } ?? self.seeds[0]
    }

    /// The client for `node`, connecting it on first use (concurrent callers share one attempt).
    private func client(for node: NodeAddress) async throws -> RedisClient {
        let task: Task<RedisClient, any Error> = try self.state.withLock { state in
            guard !state.closed else { throw RedisError.clientClosed }
            if let existing = state.nodes[node] { return existing }
            var configuration = self.configuration.node
            configuration.host = node.host
            configuration.port = node.port
            configuration.database = 0
            let task = Task {
                try await RedisClient.connect(
                    configuration: configuration,
                    eventLoopGroup: self.eventLoopGroup,
                    logger: self.logger,
                    onPush: { [weak self] message in self?.receivePush(message, from: node) },
                    onConnectionEvent: { [weak self] event in
                        if event.kind == .reconnected { self?.refreshInBackground() }
                        self?.onConnectionEvent?(event)
                    }
                )
            }
            state.nodes[node] = task
            return task
        }
        do {
            return try await task.value
        } catch {
            // Let a later command try again.
            self.state.withLock { state in
                if state.nodes[node] == task { state.nodes[node] = nil }
            }
            throw error
        }
    }

    /// Reads `CLUSTER SLOTS` from a known node (seeds first) and replaces the slot map.
    func refreshSlots() async throws {
        let task: Task<Void, any Error> = self.state.withLock { state in
            if let running = state.refresh { return running }
            let task = Task { try await self.readSlots() }
            state.refresh = task
            return task
        }
        defer { self.state.withLock { if $0.refresh == task { $0.refresh = nil } } }
        try await task.value
    }

    private func refreshInBackground() {
        Task { try? await self.refreshSlots() }
    }

    private func readSlots() async throws {
        let known = self.state.withLock { Array($0.nodes.keys) }
        var candidates = self.seeds
        candidates += known.filter { !candidates.contains($0) }
        var lastError: (any Error)?
        for candidate in candidates {
            do {
                let client = try await self.client(for: candidate)
                let ranges = try await client.clusterSlots()
                var slots = [NodeAddress?](repeating: nil, count: RedisHashSlot.count)
                for range in ranges {
                    let host = range.primary.host.isEmpty ? candidate.host : range.primary.host
                    let primary = NodeAddress(host: host, port: range.primary.port)
                    for slot in range.slots where slot < RedisHashSlot.count {
                        slots[slot] = primary
                    }
                }
                self.state.withLock { $0.slots = slots }
                self.logger.debug("Read the Redis cluster slot map", metadata: ["redis.ranges": "\(ranges.count)"])
                return
            } catch {
                lastError = error
            }
        }
        throw RedisError(
            code: .clusterUnavailable,
            message: "no Redis cluster node answered CLUSTER SLOTS",
            cause: lastError
        )
    }
}
