import NIOCore

/// Something that sends Redis commands and returns their replies: a ``RedisClient`` (one server) or a
/// ``RedisClusterClient`` (routes each command by its ``RedisCommand/routingKey``).
///
/// The typed helpers (``get(_:)``, ``xadd(_:id:fields:trim:)``, ``evalSHA(_:keys:arguments:)``…) are
/// written once against this protocol.
public protocol RedisCommandSender: Sendable {
    /// Sends a command and waits for its reply.
    ///
    /// - Parameters:
    ///   - command: The command.
    ///   - timeout: How long to wait for the reply; `nil` for the sender's default.
    /// - Returns: The reply; error replies are thrown as ``RedisError/Code/serverError``.
    func send(_ command: RedisCommand, timeout: TimeAmount?) async throws -> RESPValue
}

extension RedisCommandSender {
    /// Sends a command built from `arguments` (`["GET", "key"]`) with the default timeout.
    @discardableResult
    public func send(_ arguments: RedisArgument...) async throws -> RESPValue {
        try await self.send(RedisCommand(arguments), timeout: nil)
    }
}
