import NIOCore

extension RedisCommandSender {
    /// Runs a script by its SHA-1 (`EVALSHA`), loading it first if the server does not have it.
    ///
    /// The server answers `NOSCRIPT` after a restart, a failover or `SCRIPT FLUSH`; the script is then
    /// loaded (`SCRIPT LOAD`, sent to the same node as the `EVALSHA`) and run again, once.
    ///
    /// - Parameters:
    ///   - script: The script.
    ///   - keys: `KEYS[…]`. In a cluster they must share a hash slot; the first decides the node.
    ///   - arguments: `ARGV[…]`.
    ///   - timeout: How long to wait for each reply; `nil` for the sender's default.
    /// - Returns: The script's reply.
    /// - Throws: ``RedisError`` with ``RedisError/Code/serverError`` for a script error.
    public func evalSHA(
        _ script: RedisScript,
        keys: [String] = [],
        arguments: [RedisArgument] = [],
        timeout: TimeAmount? = nil
    ) async throws -> RESPValue {
        let routingKey: RedisArgument? = keys.first.map { .string($0) }
        let command = RedisCommand(
            ["EVALSHA", .string(script.sha1), .integer(keys.count)] + keys.map { .string($0) } + arguments,
            routingKey: routingKey
        )
        do {
            return try await self.send(command, timeout: timeout)
        } catch let error as RedisError where error.serverErrorCode == "NOSCRIPT" {
            _ = try await self.send(
                RedisCommand(["SCRIPT", "LOAD", .string(script.source)], routingKey: routingKey),
                timeout: timeout
            )
            return try await self.send(command, timeout: timeout)
        }
    }

    /// `SCRIPT LOAD source`: loads a script (on the node of `routingKey` in a cluster) and returns its SHA-1.
    @discardableResult
    public func scriptLoad(_ script: RedisScript, routingKey: String? = nil) async throws -> String {
        let reply = try await self.send(
            RedisCommand(["SCRIPT", "LOAD", .string(script.source)], routingKey: routingKey.map { .string($0) }),
            timeout: nil
        )
        guard let sha = reply.string else { throw RedisError.unexpectedReply(reply, expected: "a SHA-1") }
        return sha
    }
}
