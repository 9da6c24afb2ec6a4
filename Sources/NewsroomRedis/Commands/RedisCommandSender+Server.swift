import NIOCore

extension RedisCommandSender {
    /// `PING`: `PONG`, or `message` echoed.
    @discardableResult
    public func ping(_ message: String? = nil) async throws -> String {
        let command: RedisCommand = message.map { ["PING", .string($0)] } ?? ["PING"]
        let reply = try await self.send(command, timeout: nil)
        guard let text = reply.string else { throw RedisError.unexpectedReply(reply, expected: "a string") }
        return text
    }

    /// `INFO [section]`: the server's `key:value` report.
    public func info(_ section: String? = nil) async throws -> String {
        let command: RedisCommand = section.map { ["INFO", .string($0)] } ?? ["INFO"]
        let reply = try await self.send(command, timeout: nil)
        guard let text = reply.string else { throw RedisError.unexpectedReply(reply, expected: "a string") }
        return text
    }

    /// `PUBLISH channel message`: how many subscribers received it (on this node, in a cluster).
    @discardableResult
    public func publish(_ message: RedisArgument, to channel: String) async throws -> Int {
        try await self.integer(["PUBLISH", .string(channel), message])
    }

    /// `SPUBLISH channel message` (Redis 7): publishes on a shard channel, which lives on the node that
    /// owns the channel's hash slot. Returns how many subscribers received it.
    @discardableResult
    public func spublish(_ message: RedisArgument, to channel: String) async throws -> Int {
        try await self.integer(RedisCommand(["SPUBLISH", .string(channel), message], routingKey: .string(channel)))
    }

    /// `CLUSTER KEYSLOT key`: the hash slot the server computes for `key` (compare ``RedisHashSlot``).
    public func clusterKeySlot(_ key: String) async throws -> Int {
        try await self.integer(["CLUSTER", "KEYSLOT", .string(key)])
    }

    /// `CLUSTER SLOTS`: which node serves which hash slots.
    public func clusterSlots() async throws -> [RedisClusterSlotRange] {
        let reply = try await self.send(["CLUSTER", "SLOTS"], timeout: nil)
        return try RedisClusterSlotRange.parse(reply)
    }
}

/// A range of hash slots and the nodes that serve it, from `CLUSTER SLOTS`.
public struct RedisClusterSlotRange: Sendable, Hashable {
    /// A node's address.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        /// The host the node advertises; empty when it means "the address you reached me on".
        public var host: String
        public var port: Int
        /// The node's ID, when sent.
        public var id: String?

        public init(host: String, port: Int, id: String? = nil) {
            self.host = host
            self.port = port
            self.id = id
        }

        public var description: String { "\(self.host):\(self.port)" }
    }

    /// The slots, both ends inclusive.
    public var slots: ClosedRange<Int>
    /// The node that takes writes.
    public var primary: Node
    /// Its replicas.
    public var replicas: [Node]

    static func parse(_ reply: RESPValue) throws -> [RedisClusterSlotRange] {
        guard let ranges = reply.array else { throw RedisError.unexpectedReply(reply, expected: "an array of slot ranges") }
        return try ranges.map { range in
            guard let items = range.array, items.count >= 3, let start = items[0].int, let end = items[1].int,
                start <= end
            else {
                throw RedisError.unexpectedReply(range, expected: "a slot range")
            }
            let nodes = try items[2...].map { item -> Node in
                guard let fields = item.array, fields.count >= 2, let port = fields[1].int else {
                    throw RedisError.unexpectedReply(item, expected: "a node")
                }
                let host = fields[0].isNull ? "" : (fields[0].string ?? "")
                return Node(host: host == "?" ? "" : host, port: port, id: fields.count > 2 ? fields[2].string : nil)
            }
            return RedisClusterSlotRange(slots: start...end, primary: nodes[0], replicas: Array(nodes.dropFirst()))
        }
    }
}
