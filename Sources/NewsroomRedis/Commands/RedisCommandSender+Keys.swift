import NIOCore

/// The condition of a `SET`.
public struct RedisSetCondition: Sendable, Hashable {
    let argument: RedisArgument?

    /// Always set.
    public static let always = RedisSetCondition(argument: nil)
    /// Set only if the key does not exist (`NX`): the basis of locks and leases.
    public static let ifNotExists = RedisSetCondition(argument: "NX")
    /// Set only if the key exists (`XX`).
    public static let ifExists = RedisSetCondition(argument: "XX")
}

extension RedisCommandSender {
    /// `GET key`: the value, or `nil` if the key does not exist.
    public func get(_ key: String) async throws -> ByteBuffer? {
        let reply = try await self.send(RedisCommand(["GET", .string(key)], routingKey: .string(key)), timeout: nil)
        if reply.isNull { return nil }
        guard let bytes = reply.bytes else { throw RedisError.unexpectedReply(reply, expected: "a string") }
        return bytes
    }

    /// `SET key value [NX|XX] [PX milliseconds]`.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - value: The value.
    ///   - condition: When to set. Default ``RedisSetCondition/always``.
    ///   - expiresIn: The key's time to live (sent as `PX`, in milliseconds); `nil` keeps it forever.
    /// - Returns: Whether the value was set (`false` when the condition did not hold).
    @discardableResult
    public func set(
        _ key: String,
        to value: RedisArgument,
        condition: RedisSetCondition = .always,
        expiresIn: TimeAmount? = nil
    ) async throws -> Bool {
        var arguments: [RedisArgument] = ["SET", .string(key), value]
        if let condition = condition.argument { arguments.append(condition) }
        if let expiresIn {
            arguments += ["PX", .integer(max(1, Int(expiresIn.nanoseconds / 1_000_000)))]
        }
        let reply = try await self.send(RedisCommand(arguments, routingKey: .string(key)), timeout: nil)
        return !reply.isNull
    }

    /// `DEL key…`: how many of the keys existed. In a cluster, the keys must share a hash slot.
    @discardableResult
    public func del(_ keys: [String]) async throws -> Int {
        precondition(!keys.isEmpty, "DEL needs a key")
        let command = RedisCommand(["DEL"] + keys.map { .string($0) }, routingKey: .string(keys[0]))
        return try await self.integer(command)
    }

    /// `EXPIRE key seconds`: whether the key exists (and now expires).
    @discardableResult
    public func expire(_ key: String, seconds: Int) async throws -> Bool {
        try await self.integer(RedisCommand(["EXPIRE", .string(key), .integer(seconds)], routingKey: .string(key))) == 1
    }

    /// `PEXPIRE key milliseconds`: whether the key exists (and now expires).
    @discardableResult
    public func pexpire(_ key: String, after timeToLive: TimeAmount) async throws -> Bool {
        let milliseconds = max(1, Int(timeToLive.nanoseconds / 1_000_000))
        let command = RedisCommand(["PEXPIRE", .string(key), .integer(milliseconds)], routingKey: .string(key))
        return try await self.integer(command) == 1
    }

    /// Sends a command whose reply is an integer.
    func integer(_ command: RedisCommand) async throws -> Int {
        let reply = try await self.send(command, timeout: nil)
        guard let value = reply.int else { throw RedisError.unexpectedReply(reply, expected: "an integer") }
        return value
    }
}
