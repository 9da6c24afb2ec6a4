import Foundation
import Testing

/// A throwaway Redis Cluster of primaries only (no replicas) on loopback: one ``RedisServer`` per node,
/// each with `--cluster-enabled yes` in its own temporary directory, joined with
/// `redis-cli --cluster create`.
///
/// Each node's cluster bus gets its own free port (`--cluster-port`, Redis 7), so no node needs
/// `port + 10000` to be free. Every test starts its own cluster and stops it at the end.
final class RedisCluster: Sendable {
    /// The nodes, in the order given to `redis-cli --cluster create`: node 0 serves slots 0…5460, node 1
    /// 5461…10922 and node 2 10923…16383 (for three nodes).
    let nodes: [RedisServer]

    var ports: [Int] { self.nodes.map(\.port) }
    var urls: [String] { self.nodes.map(\.url) }

    private init(nodes: [RedisServer]) {
        self.nodes = nodes
    }

    /// Why a cluster cannot be started here, or `nil` if it can: `redis-server` 7 or later (for
    /// `--cluster-port` and sharded Pub/Sub) and `redis-cli` (for `--cluster create`).
    static let unavailableReason: String? = {
        guard FileManager.default.isExecutableFile(atPath: RedisServer.executable) else {
            return "redis-server is not installed (apt-get install -y redis-server)"
        }
        guard FileManager.default.isExecutableFile(atPath: RedisServer.cli) else {
            return "redis-cli is not installed (apt-get install -y redis-tools)"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: RedisServer.executable)
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "redis-server --version did not run" }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // "Redis server v=7.0.15 sha=…"
        guard let range = output.range(of: "v="),
            let major = Int(output[range.upperBound...].prefix { $0.isNumber })
        else {
            return "could not read the redis-server version from \"\(output)\""
        }
        return major >= 7 ? nil : "a Redis Cluster test needs redis-server 7 or later (found \(output))"
    }()

    /// Starts `count` nodes, joins them into a cluster and waits until every node reports
    /// `cluster_state:ok`, knows every other node and sees all 16384 slots assigned.
    ///
    /// Tries three times with fresh ports (another process may take a port between its choice and its
    /// use); the last failure is thrown.
    static func start(nodes count: Int = 3) async throws -> RedisCluster {
        if let reason = Self.unavailableReason { throw TestSetupError(reason) }
        var failure: any Error = TestSetupError("the cluster was never started")
        for _ in 1...3 {
            var servers: [RedisServer] = []
            do {
                var used: Set<Int> = []
                for _ in 0..<count {
                    var ports: [Int] = []
                    while ports.count < 2 {
                        let port = try await freePort()
                        if used.insert(port).inserted { ports.append(port) }
                    }
                    let server = try await RedisServer.start(
                        port: ports[0],
                        arguments: [
                            "--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(ports[0]).conf",
                            "--cluster-node-timeout", "2000", "--cluster-port", "\(ports[1])",
                        ]
                    )
                    servers.append(server)
                }
                let output = try RedisServer.cli(
                    ["--cluster", "create"] + servers.map { "127.0.0.1:\($0.port)" }
                        + ["--cluster-replicas", "0", "--cluster-yes"]
                )
                guard output.contains("All 16384 slots covered") else {
                    throw TestSetupError("redis-cli --cluster create failed:\n\(output)")
                }
                let cluster = RedisCluster(nodes: servers)
                try await cluster.waitUntilReady()
                return cluster
            } catch {
                servers.forEach { $0.stop() }
                failure = error
            }
        }
        throw failure
    }

    /// Kills every node (SIGKILL) and removes their directories.
    func stop() {
        self.nodes.forEach { $0.stop() }
    }

    /// Runs `redis-cli -p <node's port> arguments…` and returns its output, trimmed.
    @discardableResult
    func cli(node: Int, _ arguments: [String]) throws -> String {
        try RedisServer.cli(["-h", "127.0.0.1", "-p", "\(self.nodes[node].port)"] + arguments)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The node's cluster ID (`CLUSTER MYID`).
    func nodeID(_ node: Int) throws -> String {
        try self.cli(node: node, ["CLUSTER", "MYID"])
    }

    /// The fields of the node's `CLUSTER INFO`.
    func clusterInfo(node: Int) throws -> [String: String] {
        var fields: [String: String] = [:]
        for line in try self.cli(node: node, ["CLUSTER", "INFO"]).split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 {
                fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return fields
    }

    /// Waits until every node says the cluster is healthy and complete.
    func waitUntilReady(within limit: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + limit
        var last: [[String: String]] = []
        while ContinuousClock.now < deadline {
            last = try self.nodes.indices.map { try self.clusterInfo(node: $0) }
            let ready = last.allSatisfy { info in
                info["cluster_state"] == "ok" && info["cluster_slots_assigned"] == "16384"
                    && info["cluster_known_nodes"] == "\(self.nodes.count)"
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let states = last.map { "\($0["cluster_state"] ?? "?")/\($0["cluster_known_nodes"] ?? "?") nodes" }
        throw TestSetupError("the Redis Cluster was not ready within \(limit): \(states)")
    }

    /// Moves `slot` from node `source` to node `target` the way `redis-cli --cluster reshard` does, one
    /// step at a time so a test can act between them.
    ///
    /// `beforeKeysMove` runs once the slot is `MIGRATING`/`IMPORTING` and before any key moved;
    /// `beforeOwnerChanges` once every key moved and before the nodes are told the new owner.
    func migrate(
        slot: Int,
        from source: Int,
        to target: Int,
        beforeKeysMove: () async throws -> Void = {},
        beforeOwnerChanges: () async throws -> Void = {}
    ) async throws {
        let sourceID = try self.nodeID(source)
        let targetID = try self.nodeID(target)
        try self.expectOK(self.cli(node: target, ["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID]))
        try self.expectOK(self.cli(node: source, ["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID]))
        try await beforeKeysMove()
        while true {
            let keys = try self.cli(node: source, ["CLUSTER", "GETKEYSINSLOT", "\(slot)", "100"])
                .split(whereSeparator: \.isNewline).map(String.init)
            if keys.isEmpty { break }
            let reply = try self.cli(
                node: source,
                ["MIGRATE", "127.0.0.1", "\(self.nodes[target].port)", "", "0", "5000", "KEYS"] + keys
            )
            try self.expectOK(reply)
        }
        try await beforeOwnerChanges()
        // The target first, as redis-cli does, so no node points at a target that does not know yet.
        for node in [target, source] + self.nodes.indices.filter({ $0 != source && $0 != target }) {
            try self.expectOK(self.cli(node: node, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID]))
        }
    }

    private func expectOK(_ reply: String) throws {
        guard reply == "OK" else { throw TestSetupError("redis-cli answered \"\(reply)\" instead of OK") }
    }
}

/// Runs `body` with a fresh three-node cluster, stopping it however `body` ends.
///
/// When no cluster can be started here (no `redis-cli`, Redis older than 7, or `--cluster create`
/// failing three times), the test is skipped with the reason instead of failing.
func withRedisCluster<T>(_ body: (RedisCluster) async throws -> T) async throws -> T {
    let cluster: RedisCluster
    do {
        cluster = try await RedisCluster.start()
    } catch {
        try Test.cancel("cannot start a local Redis Cluster: \(error)")
    }
    do {
        let result = try await body(cluster)
        cluster.stop()
        return result
    } catch {
        cluster.stop()
        throw error
    }
}
