import NIOCore

/// One argument of a Redis command: text, bytes, or a number, each sent as a RESP blob string.
///
/// Literals work: `["SET", "key:\(id)", 42]`.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral {
    enum Storage: Sendable, Hashable {
        case string(String)
        case bytes(ByteBuffer)
        case integer(Int)
        case double(Double)
    }
    let storage: Storage

    private init(_ storage: Storage) { self.storage = storage }

    /// The UTF-8 of `value`.
    public static func string(_ value: String) -> RedisArgument { RedisArgument(.string(value)) }
    /// The readable bytes of `value`, as they are (binary-safe).
    public static func bytes(_ value: ByteBuffer) -> RedisArgument { RedisArgument(.bytes(value)) }
    /// `value` in decimal.
    public static func integer(_ value: Int) -> RedisArgument { RedisArgument(.integer(value)) }
    /// `value` in decimal (`inf` and `-inf` for infinities, which Redis accepts).
    public static func double(_ value: Double) -> RedisArgument { RedisArgument(.double(value)) }

    public init(stringLiteral value: String) { self.storage = .string(value) }
    public init(integerLiteral value: Int) { self.storage = .integer(value) }

    /// The argument's bytes as Redis will see them (for hash slots and tests).
    public var byteBuffer: ByteBuffer {
        switch self.storage {
        case .string(let value): return ByteBuffer(string: value)
        case .bytes(let value): return value
        case .integer(let value): return ByteBuffer(string: String(value))
        case .double(let value): return ByteBuffer(string: String(value))
        }
    }

    /// The argument as text, if it is ``string(_:)`` (used to spot command names cheaply).
    var stringValue: String? {
        if case .string(let value) = self.storage { return value }
        return nil
    }
}

/// A Redis command: its name and arguments, sent as a RESP array of blob strings.
///
/// ```swift
/// let reply = try await client.send(["HSET", "topic:{t1}", "state", "live"])
/// ```
///
/// ``routingKey`` names the key a cluster client routes by; the typed helpers set it, and a command
/// without one goes to any node.
public struct RedisCommand: Sendable, Hashable, ExpressibleByArrayLiteral {
    /// The command name followed by its arguments.
    public var arguments: [RedisArgument]
    /// The key whose hash slot decides the cluster node (`nil`: any node).
    public var routingKey: RedisArgument?

    /// A command from its name and arguments.
    ///
    /// - Parameters:
    ///   - arguments: The command name, then its arguments. Must not be empty.
    ///   - routingKey: The key that decides the node in a cluster; `nil` for keyless commands.
    public init(_ arguments: [RedisArgument], routingKey: RedisArgument? = nil) {
        precondition(!arguments.isEmpty, "a Redis command needs a name")
        self.arguments = arguments
        self.routingKey = routingKey
    }

    public init(arrayLiteral elements: RedisArgument...) {
        self.init(elements)
    }

    /// The command name, upper-cased, for logs (never the arguments: they may hold user data).
    public var name: String {
        switch self.arguments[0].storage {
        case .string(let value): return value.uppercased()
        case .bytes(let value): return String(buffer: value).uppercased()
        case .integer, .double: return "?"
        }
    }
}
