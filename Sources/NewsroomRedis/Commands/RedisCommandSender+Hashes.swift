import NIOCore

extension RedisCommandSender {
    /// `HSET key field value…`: how many fields were added (not counting updated ones).
    @discardableResult
    public func hset(_ key: String, fields: [(String, RedisArgument)]) async throws -> Int {
        precondition(!fields.isEmpty, "HSET needs a field")
        var arguments: [RedisArgument] = ["HSET", .string(key)]
        arguments.reserveCapacity(2 + fields.count * 2)
        for (field, value) in fields {
            arguments.append(.string(field))
            arguments.append(value)
        }
        return try await self.integer(RedisCommand(arguments, routingKey: .string(key)))
    }

    /// `HGET key field`: the value, or `nil` if the field or the key does not exist.
    public func hget(_ key: String, field: String) async throws -> ByteBuffer? {
        let reply = try await self.send(
            RedisCommand(["HGET", .string(key), .string(field)], routingKey: .string(key)),
            timeout: nil
        )
        if reply.isNull { return nil }
        guard let bytes = reply.bytes else { throw RedisError.unexpectedReply(reply, expected: "a string") }
        return bytes
    }

    /// `HGETALL key`: every field and value (empty if the key does not exist).
    public func hgetall(_ key: String) async throws -> [String: ByteBuffer] {
        let reply = try await self.send(RedisCommand(["HGETALL", .string(key)], routingKey: .string(key)), timeout: nil)
        var result: [String: ByteBuffer] = [:]
        switch reply {
        case .map(let pairs):  // RESP3
            for (field, value) in pairs {
                guard let name = field.string, let bytes = value.bytes else {
                    throw RedisError.unexpectedReply(reply, expected: "a map of strings")
                }
                result[name] = bytes
            }
        case .array(let flat) where flat.count % 2 == 0:  // RESP2
            var index = 0
            while index < flat.count {
                guard let name = flat[index].string, let bytes = flat[index + 1].bytes else {
                    throw RedisError.unexpectedReply(reply, expected: "a map of strings")
                }
                result[name] = bytes
                index += 2
            }
        default:
            throw RedisError.unexpectedReply(reply, expected: "a map")
        }
        return result
    }

    /// `HINCRBY key field increment`: the new value.
    @discardableResult
    public func hincrby(_ key: String, field: String, by increment: Int) async throws -> Int {
        try await self.integer(
            RedisCommand(["HINCRBY", .string(key), .string(field), .integer(increment)], routingKey: .string(key))
        )
    }
}
