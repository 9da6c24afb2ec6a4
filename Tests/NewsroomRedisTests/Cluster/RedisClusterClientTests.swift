import Logging
import NIOCore
import NIOPosix
import NewsroomRedis
import Synchronization
import Testing

/// ``RedisClusterClient`` against a real three-node Redis Cluster (primaries only) started on loopback for
/// each test; see ``RedisCluster``. Skipped, with the reason, where no cluster can be started.
@Suite(
    .timeLimit(.minutes(1)),
    .enabled(
        if: RedisCluster.unavailableReason == nil,
        "a local Redis Cluster needs redis-server 7 or later and redis-cli"
    )
)
struct RedisClusterClientTests {
    static let logger = Logger(label: "newsroom.redis.cluster.tests")

    // MARK: - Routing

    @Test func routesCommandsOnKeysOfEverySlotRangeToTheNodeThatOwnsThem() async throws {
        try await withCluster { cluster, connections in
            // Seeded with the second node only: the client must learn the others from CLUSTER SLOTS.
            let client = try await connections.cluster(cluster, seeds: [1])
            let map = try await SlotMap.read(cluster, connections)
            #expect(map.ranges.count == 3)
            #expect(Set(map.ranges.map(\.node)) == [0, 1, 2])

            // The first and last slot of every range, and a few ordinary keys on every node.
            let edges = map.ranges.flatMap { [$0.slots.lowerBound, $0.slots.upperBound] }
            #expect(edges == [0, 5460, 5461, 10922, 10923, 16383])
            var keys = edges.map { slot in findKey(prefix: "edge") { $0 == slot } }
            for node in 0..<3 {
                keys += (0..<3).map { index in findKey(prefix: "plain-\(index)") { map.node(ofSlot: $0) == node } }
            }

            var expectedPerNode = [0, 0, 0]
            for key in keys {
                let slot = RedisHashSlot.slot(for: key)
                let owner = map.node(ofSlot: slot)
                expectedPerNode[owner] += 1
                // The client computes the slot the server computes.
                #expect(try await client.clusterKeySlot(key) == slot)
                #expect(try await client.set(key, to: .string("value of \(key)")))
                #expect(try await client.get(key) == ByteBuffer(string: "value of \(key)"), "\(key) (slot \(slot))")
                #expect(try await client.client(forKey: key).configuration.port == cluster.ports[owner])
                // Stored on the owner itself, not merely somewhere the client can read it back from.
                let direct = try await connections.node(cluster, owner)
                #expect(try await direct.get(key) == ByteBuffer(string: "value of \(key)"))
                // Another node refuses the key: this is a real cluster.
                let other = try await connections.node(cluster, (owner + 1) % 3)
                await #expect {
                    try await other.get(key)
                } throws: { error in
                    (error as? RedisError)?.serverErrorCode == "MOVED"
                }
            }
            for node in 0..<3 {
                let direct = try await connections.node(cluster, node)
                #expect(try await direct.send("DBSIZE").int == expectedPerNode[node], "node \(node)")
            }

            // The typed helpers route too: a hash, a counter and a stream on each node.
            for node in 0..<3 {
                let hash = findKey(prefix: "hash") { map.node(ofSlot: $0) == node }
                let stream = findKey(prefix: "stream") { map.node(ofSlot: $0) == node }
                #expect(try await client.hset(hash, fields: [("state", "live"), ("owner", .string("n\(node)"))]) == 2)
                #expect(try await client.hincrby(hash, field: "head", by: 3) == 3)
                let fields = try await client.hgetall(hash).mapValues { String(buffer: $0) }
                #expect(fields == ["state": "live", "owner": "n\(node)", "head": "3"])
                try await client.xadd(stream, id: "1-1", fields: [("e", "first")])
                try await client.xadd(stream, id: "2-1", fields: [("e", "second")])
                #expect(try await client.xlen(stream) == 2)
                #expect(try await client.xrange(stream, after: "1-1").map(\.id) == ["2-1"])
                #expect(try await client.del([hash]) == 1)
            }

            // A command without a key goes to a node that answers it.
            #expect(try await client.ping() == "PONG")
            #expect(try await client.send("CLUSTER", "INFO").string?.contains("cluster_state:ok") == true)
        }
    }

    // MARK: - Hash tags and scripts

    @Test func aTopicsHashTaggedKeysShareASlotAndOneScriptUsesThemAll() async throws {
        try await withCluster { cluster, connections in
            let client = try await connections.cluster(cluster, seeds: [0])
            let map = try await SlotMap.read(cluster, connections)
            // One topic on each node, so the script runs on all three.
            let topics = (0..<3).map { node in
                findKey(prefix: "topic") { map.node(ofSlot: $0) == node }
            }
            let script = RedisScript(
                """
                local meta, stream, live = KEYS[1], KEYS[2], KEYS[3]
                local head = redis.call('HINCRBY', meta, 'head', 1)
                redis.call('XADD', stream, head .. '-1', 'e', ARGV[1])
                redis.call('SET', live, head)
                return {head, redis.call('XLEN', stream), redis.call('GET', live)}
                """
            )
            for (node, topic) in topics.enumerated() {
                let keys = ["nr:{\(topic)}:meta", "nr:{\(topic)}:ev", "nr:{\(topic)}:live"]
                let slots = keys.map { RedisHashSlot.slot(for: $0) }
                #expect(Set(slots).count == 1, "\(keys) → \(slots)")
                #expect(slots[0] == RedisHashSlot.slot(for: topic))
                for key in keys {
                    #expect(try await client.clusterKeySlot(key) == slots[0])
                }
                let direct = try await connections.node(cluster, node)
                let loadedBefore = try await direct.send("SCRIPT", "EXISTS", .string(script.sha1)).array?.first?.int
                #expect(loadedBefore == 0, "the node has not seen the script yet")

                // EVALSHA: NOSCRIPT, SCRIPT LOAD and EVALSHA again, all on the topic's node.
                for round in 1...2 {
                    let reply = try await client.evalSHA(script, keys: keys, arguments: [.string("event \(round)")])
                    #expect(reply.array?.map(\.int) == [round, round, round], "topic on node \(node), round \(round)")
                }
                #expect(try await direct.send("SCRIPT", "EXISTS", .string(script.sha1)).array?.first?.int == 1)
                #expect(try await direct.xrange(keys[1]).compactMap { $0["e"].map { String(buffer: $0) } }
                    == ["event 1", "event 2"])

                // Plain EVAL over the three keys, routed by the first.
                let eval = RedisCommand(
                    ["EVAL", "return redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3])", 3] + keys.map { .string($0) },
                    routingKey: .string(keys[0])
                )
                #expect(try await client.send(eval, timeout: nil).int == 3)
            }

            // Keys of two topics (two slots): the server refuses the script as the client sent it.
            let mixed = ["nr:{\(topics[0])}:meta", "nr:{\(topics[1])}:meta"]
            await #expect {
                try await client.evalSHA(script, keys: mixed, arguments: ["x"])
            } throws: { error in
                (error as? RedisError)?.serverErrorCode == "CROSSSLOT"
            }
        }
    }

    // MARK: - Redirects

    @Test func followsASKWhileASlotMigratesAndMOVEDOnceItHasMoved() async throws {
        try await withCluster { cluster, connections in
            let client = try await connections.cluster(cluster, seeds: [0])
            let map = try await SlotMap.read(cluster, connections)
            let tag = findKey(prefix: "moving") { _ in true }
            let slot = RedisHashSlot.slot(for: tag)
            let source = map.node(ofSlot: slot)
            let target = (source + 1) % 3
            let old = "item:{\(tag)}:old"
            let new = "item:{\(tag)}:new"
            try await client.set(old, to: "before")
            #expect(try await client.client(forKey: old).configuration.port == cluster.ports[source])
            // A second client, connected now (its map goes stale too), that may follow no redirect at all.
            var strictConfiguration = try RedisClusterClient.Configuration(urls: [cluster.urls[0]])
            strictConfiguration.maximumRedirects = 0
            let strict = try await connections.cluster(strictConfiguration)
            // And one that will subscribe only once the slot has moved.
            let messages = Mutex<[String]>([])
            let subscriber = try await connections.cluster(cluster, seeds: [0]) { message in
                if message.kind == .shardMessage, let payload = message.payload {
                    messages.withLock { $0.append(String(buffer: payload)) }
                }
            }

            let targetNode = try await connections.node(cluster, target)
            try await cluster.migrate(
                slot: slot,
                from: source,
                to: target,
                beforeKeysMove: { () async throws in
                    // MIGRATING: the source still serves the keys it has…
                    #expect(try await client.get(old) == ByteBuffer(string: "before"))
                    // …and sends a new key on with ASK; the client follows with ASKING.
                    #expect(try await client.set(new, to: "asked"))
                    let asked = await targetNode.pipeline([["ASKING"], ["GET", .string(new)]])
                    #expect((try? asked[1].get())?.string == "asked", "the new key was written on the target")
                    // ASK is one-off: the slot map still names the source.
                    #expect(try await client.client(forKey: old).configuration.port == cluster.ports[source])
                },
                beforeOwnerChanges: { () async throws in
                    // Every key moved but the slot is still the source's: ASK for the old key too.
                    #expect(try await client.get(old) == ByteBuffer(string: "before"))
                    #expect(try await client.client(forKey: old).configuration.port == cluster.ports[source])
                }
            )
            #expect(try cluster.clusterInfo(node: source)["cluster_state"] == "ok")

            // The client's map is stale now: the source answers MOVED and the client follows it.
            #expect(try await client.client(forKey: old).configuration.port == cluster.ports[source])
            #expect(try await client.get(old) == ByteBuffer(string: "before"))
            #expect(try await client.client(forKey: old).configuration.port == cluster.ports[target])
            #expect(try await client.get(new) == ByteBuffer(string: "asked"))
            let get = RedisScript("return redis.call('GET', KEYS[1])")
            #expect(try await client.evalSHA(get, keys: [new]).string == "asked")
            #expect(try await targetNode.get(old) == ByteBuffer(string: "before"))
            #expect(try await targetNode.send("CLUSTER", "COUNTKEYSINSLOT", .integer(slot)).int == 2)

            // SSUBSCRIBE through a stale map: MOVED, then subscribed on the new owner.
            let channel = "item:{\(tag)}:live"
            #expect(try await subscriber.client(forKey: channel).configuration.port == cluster.ports[source])
            try await subscriber.ssubscribe(to: channel)
            #expect(subscriber.shardChannels == [channel])
            #expect(try await targetNode.spublish("moved", to: channel) == 1)
            try await eventually("the message arrives") { messages.withLock { $0 } == ["moved"] }
            #expect(try await subscriber.get(old) == ByteBuffer(string: "before"), "the connection is still in step")

            // A client allowed no redirect gives up on the MOVED instead of following it, with a clear error;
            // the MOVED corrected its map, so the next command goes straight to the new owner.
            #expect(try await strict.client(forKey: old).configuration.port == cluster.ports[source])
            await #expect {
                try await strict.get(old)
            } throws: { error in
                (error as? RedisError)?.code == .tooManyRedirects
            }
            #expect(try await strict.get(old) == ByteBuffer(string: "before"))
            #expect(try await strict.client(forKey: old).configuration.port == cluster.ports[target])
        }
    }

    // MARK: - Sharded Pub/Sub

    @Test func shardSubscriptionsReceiveWhatAnotherConnectionPublishesOnEveryNode() async throws {
        try await withCluster { cluster, connections in
            let received = Mutex<[String: [String]]>([:])
            let subscriber = try await connections.cluster(cluster, seeds: [0]) { message in
                guard message.kind == .shardMessage, let channel = message.channel, let payload = message.payload
                else { return }
                received.withLock { $0[channel, default: []].append(String(buffer: payload)) }
            }
            let publisher = try await connections.cluster(cluster, seeds: [2])
            let map = try await SlotMap.read(cluster, connections)
            let topics = (0..<3).map { node in findKey(prefix: "live") { map.node(ofSlot: $0) == node } }
            let channels = topics.map { "nr:{\($0)}:live" }
            for channel in channels {
                try await subscriber.ssubscribe(to: channel)
            }
            #expect(subscriber.shardChannels == Set(channels))
            for (node, channel) in channels.enumerated() {
                // The subscription is on the channel's node (SHARDNUMSUB counts that node's subscribers).
                let direct = try await connections.node(cluster, node)
                let counts = try await direct.send("PUBSUB", "SHARDNUMSUB", .string(channel)).array
                #expect(counts?.last?.int == 1, "\(channel) subscribed on node \(node)")
            }

            for (node, channel) in channels.enumerated() {
                #expect(try await publisher.spublish(.string("hello from \(node)"), to: channel) == 1)
            }
            // As the broker publishes: SPUBLISH from a script over the topic's keys.
            let script = RedisScript("return redis.call('SPUBLISH', ARGV[1], ARGV[2])")
            for (node, channel) in channels.enumerated() {
                let meta = "nr:{\(topics[node])}:meta"
                let reply = try await publisher.evalSHA(
                    script, keys: [meta], arguments: [.string(channel), "scripted \(node)"])
                #expect(reply.int == 1)
            }
            let expected = Dictionary(uniqueKeysWithValues: channels.enumerated().map { node, channel in
                (channel, ["hello from \(node)", "scripted \(node)"])
            })
            try await eventually("every message arrives") { received.withLock { $0 } == expected }
            #expect(received.withLock { $0 } == expected)

            // After SUNSUBSCRIBE nothing more arrives on that channel; the others still do.
            try await subscriber.sunsubscribe(from: channels[1])
            #expect(subscriber.shardChannels == [channels[0], channels[2]])
            #expect(try await publisher.spublish("late", to: channels[1]) == 0)
            #expect(try await publisher.spublish("still here", to: channels[2]) == 1)
            try await eventually("the message on a kept channel arrives") {
                received.withLock { $0[channels[2]]?.last } == "still here"
            }
            #expect(received.withLock { $0[channels[1]] } == ["hello from 1", "scripted 1"])
        }
    }

    @Test func aShardSubscriptionFollowsItsSlotToTheNewOwner() async throws {
        try await withCluster { cluster, connections in
            let messages = Mutex<[String]>([])
            let dropped = Mutex<[String]>([])
            let subscriber = try await connections.cluster(cluster, seeds: [0]) { message in
                if message.kind == .shardUnsubscribe, let channel = message.channel {
                    dropped.withLock { $0.append(channel) }
                }
                if message.kind == .shardMessage, let payload = message.payload {
                    messages.withLock { $0.append(String(buffer: payload)) }
                }
            }
            let map = try await SlotMap.read(cluster, connections)
            let channel = "nr:{\(findKey(prefix: "follow") { _ in true })}:live"
            let slot = RedisHashSlot.slot(for: channel)
            let source = map.node(ofSlot: slot)
            let target = (source + 2) % 3
            try await subscriber.ssubscribe(to: channel)
            let sourceNode = try await connections.node(cluster, source)
            let targetNode = try await connections.node(cluster, target)
            #expect(try await sourceNode.spublish("before", to: channel) == 1)
            try await eventually("the first message arrives") { messages.withLock { $0 } == ["before"] }

            try await cluster.migrate(slot: slot, from: source, to: target)

            // The old owner drops the subscription; the client subscribes again on the new one.
            try await eventually("the server drops the subscription") { dropped.withLock { $0 } == [channel] }
            try await eventually("the client subscribes on the new owner") {
                let counts = try? await targetNode.send("PUBSUB", "SHARDNUMSUB", .string(channel)).array
                return counts?.last?.int == 1
            }
            // The server counts the subscription before the client has read its reply and recorded it.
            try await eventually("the client records the subscription") { subscriber.shardChannels == [channel] }
            #expect(try await targetNode.spublish("after", to: channel) == 1)
            try await eventually("the message on the new owner arrives") {
                messages.withLock { $0 } == ["before", "after"]
            }
            #expect(messages.withLock { $0 } == ["before", "after"])
            // It is gone from the old owner.
            let left = try await sourceNode.send("PUBSUB", "SHARDNUMSUB", .string(channel)).array
            #expect(left?.last?.int == 0)
        }
    }
}

// MARK: - Helpers

/// The cluster's slot ranges as a node reports them (`CLUSTER SLOTS`), by node index.
private struct SlotMap {
    var ranges: [(slots: ClosedRange<Int>, node: Int)]

    static func read(_ cluster: RedisCluster, _ connections: Connections) async throws -> SlotMap {
        let ranges = try await connections.node(cluster, 0).clusterSlots()
        return SlotMap(
            ranges: try ranges.map { range in
                guard let node = cluster.ports.firstIndex(of: range.primary.port) else {
                    throw TestSetupError("CLUSTER SLOTS names an unknown node \(range.primary)")
                }
                return (range.slots, node)
            }.sorted { $0.slots.lowerBound < $1.slots.lowerBound }
        )
    }

    func node(ofSlot slot: Int) -> Int {
        self.ranges.first { $0.slots.contains(slot) }!.node
    }
}

/// The first `prefix-N` whose hash slot satisfies `condition`.
private func findKey(prefix: String, where condition: (Int) -> Bool) -> String {
    for index in 0..<1_000_000 {
        let key = "\(prefix)-\(index)"
        if condition(RedisHashSlot.slot(for: key)) { return key }
    }
    fatalError("no key with prefix \(prefix) has a matching slot")
}

/// Polls `condition` every 20 ms until it holds, failing after `limit`.
private func eventually(
    _ what: String,
    within limit: Duration = .seconds(10),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out after \(limit) waiting until \(what)")
}

/// The clients a test opens, closed before its cluster stops (so none is left reconnecting).
private final class Connections: Sendable {
    private let clusterClients = Mutex<[RedisClusterClient]>([])
    private let nodeClients = Mutex<[Int: RedisClient]>([:])

    func cluster(
        _ cluster: RedisCluster,
        seeds: [Int],
        onPush: (@Sendable (RedisPushMessage) -> Void)? = nil
    ) async throws -> RedisClusterClient {
        try await self.cluster(RedisClusterClient.Configuration(urls: seeds.map { cluster.urls[$0] }), onPush: onPush)
    }

    func cluster(
        _ configuration: RedisClusterClient.Configuration,
        onPush: (@Sendable (RedisPushMessage) -> Void)? = nil
    ) async throws -> RedisClusterClient {
        let client = try await RedisClusterClient.connect(
            configuration: configuration,
            logger: RedisClusterClientTests.logger,
            onPush: onPush
        )
        self.clusterClients.withLock { $0.append(client) }
        return client
    }

    /// A plain client on one node (one per node, shared within the test).
    func node(_ cluster: RedisCluster, _ index: Int) async throws -> RedisClient {
        if let existing = self.nodeClients.withLock({ $0[index] }) { return existing }
        let client = try await RedisClient.connect(
            configuration: RedisClient.Configuration(url: cluster.urls[index]),
            logger: RedisClusterClientTests.logger
        )
        if let raced = self.nodeClients.withLock({ clients -> RedisClient? in
            if let raced = clients[index] { return raced }
            clients[index] = client
            return nil
        }) {
            await client.close()
            return raced
        }
        return client
    }

    func closeAll() async {
        let clusterClients = self.clusterClients.withLock { $0 }
        let nodeClients = self.nodeClients.withLock { Array($0.values) }
        for client in clusterClients { await client.close() }
        for client in nodeClients { await client.close() }
    }
}

/// Runs `body` with a fresh cluster and closes its clients, then the cluster, however it ends.
private func withCluster(_ body: (RedisCluster, Connections) async throws -> Void) async throws {
    try await withRedisCluster { cluster in
        let connections = Connections()
        do {
            try await body(cluster, connections)
            await connections.closeAll()
        } catch {
            await connections.closeAll()
            throw error
        }
    }
}
