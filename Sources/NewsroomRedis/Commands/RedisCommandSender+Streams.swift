import NIOCore

/// How `XADD` trims a stream.
public struct RedisStreamTrim: Sendable, Hashable {
    let arguments: [RedisArgument]

    /// Keep about `count` entries (`MAXLEN ~ count`): Redis trims whole radix-tree nodes, which is much
    /// cheaper than an exact trim and keeps at least `count`.
    public static func maxLength(approximately count: Int) -> RedisStreamTrim {
        RedisStreamTrim(arguments: ["MAXLEN", "~", .integer(count)])
    }

    /// Keep exactly `count` entries (`MAXLEN = count`).
    public static func maxLength(exactly count: Int) -> RedisStreamTrim {
        RedisStreamTrim(arguments: ["MAXLEN", "=", .integer(count)])
    }
}

/// One entry of a Redis stream.
public struct RedisStreamEntry: Sendable {
    /// The entry's ID, `<milliseconds>-<sequence>`.
    public var id: String
    /// The fields and values, in the order they were added.
    public var fields: [(name: String, value: ByteBuffer)]

    /// The first value of the field called `name`.
    public subscript(name: String) -> ByteBuffer? {
        self.fields.first { $0.name == name }?.value
    }
}

extension RedisCommandSender {
    /// `XADD key [MAXLEN ~ N] id field value…`: appends an entry.
    ///
    /// - Parameters:
    ///   - key: The stream.
    ///   - id: The entry ID: `*` lets Redis choose; an explicit `<ms>-<seq>` must be greater than the last.
    ///   - fields: The fields and values, in order.
    ///   - trim: How to trim the stream afterwards; `nil` keeps everything.
    /// - Returns: The ID of the new entry.
    @discardableResult
    public func xadd(
        _ key: String,
        id: String = "*",
        fields: [(String, RedisArgument)],
        trim: RedisStreamTrim? = nil
    ) async throws -> String {
        precondition(!fields.isEmpty, "XADD needs a field")
        var arguments: [RedisArgument] = ["XADD", .string(key)]
        if let trim { arguments += trim.arguments }
        arguments.append(.string(id))
        for (field, value) in fields {
            arguments.append(.string(field))
            arguments.append(value)
        }
        let reply = try await self.send(RedisCommand(arguments, routingKey: .string(key)), timeout: nil)
        guard let id = reply.string else { throw RedisError.unexpectedReply(reply, expected: "an entry ID") }
        return id
    }

    /// `XRANGE key start end [COUNT n]`: entries from `start` to `end`, both inclusive.
    ///
    /// - Parameters:
    ///   - key: The stream.
    ///   - start: The first ID (`-` for the first entry; `(id` to start after `id`).
    ///   - end: The last ID (`+` for the last entry).
    ///   - count: The most entries to return; `nil` for all.
    public func xrange(
        _ key: String,
        from start: String = "-",
        to end: String = "+",
        count: Int? = nil
    ) async throws -> [RedisStreamEntry] {
        var arguments: [RedisArgument] = ["XRANGE", .string(key), .string(start), .string(end)]
        if let count { arguments += ["COUNT", .integer(count)] }
        let reply = try await self.send(RedisCommand(arguments, routingKey: .string(key)), timeout: nil)
        return try Self.streamEntries(reply)
    }

    /// `XRANGE key (id end [COUNT n]`: entries after `id` (exclusive, Redis 6.2), up to `end`.
    public func xrange(
        _ key: String,
        after id: String,
        to end: String = "+",
        count: Int? = nil
    ) async throws -> [RedisStreamEntry] {
        try await self.xrange(key, from: "(" + id, to: end, count: count)
    }

    /// `XLEN key`: the number of entries (0 if the stream does not exist).
    public func xlen(_ key: String) async throws -> Int {
        try await self.integer(RedisCommand(["XLEN", .string(key)], routingKey: .string(key)))
    }

    static func streamEntries(_ reply: RESPValue) throws -> [RedisStreamEntry] {
        guard let items = reply.array else { throw RedisError.unexpectedReply(reply, expected: "an array of entries") }
        return try items.map { item in
            guard let pair = item.array, pair.count == 2, let id = pair[0].string, let flat = pair[1].array,
                flat.count % 2 == 0
            else {
                throw RedisError.unexpectedReply(item, expected: "a stream entry")
            }
            var fields: [(name: String, value: ByteBuffer)] = []
            fields.reserveCapacity(flat.count / 2)
            var index = 0
            while index < flat.count {
                guard let name = flat[index].string, let value = flat[index + 1].bytes else {
                    throw RedisError.unexpectedReply(item, expected: "a stream entry")
                }
                fields.append((name, value))
                index += 2
            }
            return RedisStreamEntry(id: id, fields: fields)
        }
    }
}
