/// An error from the Redis client: a server error reply, a lost connection, a timeout, or a reply it could
/// not understand.
///
/// Compare ``code`` with the static members (`error.code == .timeout`). For server replies, ``message`` is
/// the server's text (`NOSCRIPT No matching script. Please use EVAL.`) and ``serverErrorCode`` its first word.
public struct RedisError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kinds of Redis client error.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case serverError = "server_error"
            case connectionFailed = "connection_failed"
            case connectionClosed = "connection_closed"
            case clientClosed = "client_closed"
            case timeout = "timeout"
            case protocolError = "protocol_error"
            case unexpectedReply = "unexpected_reply"
            case invalidURL = "invalid_url"
            case tooManyRedirects = "too_many_redirects"
            case clusterUnavailable = "cluster_unavailable"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The server answered with an error reply (`-ERR …`, `-NOSCRIPT …`, `-MOVED …`).
        public static let serverError = Code(.serverError)
        /// The client could not connect, or the handshake (`HELLO 3`, `AUTH`, `SELECT`) failed.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection was lost before the reply arrived. The command may or may not have run.
        public static let connectionClosed = Code(.connectionClosed)
        /// The client was closed with ``RedisClient/close()``.
        public static let clientClosed = Code(.clientClosed)
        /// No reply arrived within the command's timeout. The command may still run.
        public static let timeout = Code(.timeout)
        /// The server sent bytes that are not RESP, or a reply no command was waiting for.
        public static let protocolError = Code(.protocolError)
        /// A reply of a kind the typed helper did not expect (an array where it wanted a string).
        public static let unexpectedReply = Code(.unexpectedReply)
        /// The connection URL is not `redis[s]://[user:password@]host[:port][/db]`.
        public static let invalidURL = Code(.invalidURL)
        /// A cluster command was redirected (`MOVED`/`ASK`) more times than allowed.
        public static let tooManyRedirects = Code(.tooManyRedirects)
        /// No cluster node could be reached, or the slot map could not be read.
        public static let clusterUnavailable = Code(.clusterUnavailable)

        /// The snake_case name.
        public var name: String { self.wrapped.rawValue }
        public var description: String { self.wrapped.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation; for ``Code/serverError``, the server's error text.
    public var message: String
    /// The underlying error, if any (a socket error for ``Code/connectionFailed``).
    public var cause: (any Error)?
    /// Where an internal-invariant error was raised.
    public var location: SourceLocation?

    /// Where in this module an error was raised.
    public struct SourceLocation: Hashable, Sendable {
        public var file: String
        public var line: Int
    }

    public init(code: Code, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        var text = "\(self.code): \(self.message)"
        if let cause = self.cause { text += " (cause: \(cause))" }
        if let location = self.location { text += " [\(location.file):\(location.line)]" }
        return text
    }

    /// The first word of a server error (`NOSCRIPT`, `MOVED`, `WRONGTYPE`); `nil` for other codes.
    public var serverErrorCode: Substring? {
        guard self.code == .serverError else { return nil }
        return self.message.split(separator: " ", maxSplits: 1).first
    }

    public static func == (lhs: RedisError, rhs: RedisError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.location == rhs.location
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.message)
    }
}

extension RedisError {
    static func server(_ message: String) -> RedisError {
        RedisError(code: .serverError, message: message)
    }

    static func connectionClosed(_ message: String = "the connection to Redis was closed before the reply arrived")
        -> RedisError
    {
        RedisError(code: .connectionClosed, message: message)
    }

    static let clientClosed = RedisError(code: .clientClosed, message: "the Redis client is closed")

    static func timeout(_ message: String = "no reply from Redis within the command timeout") -> RedisError {
        RedisError(code: .timeout, message: message)
    }

    static func protocolError(_ message: String, file: String = #fileID, line: Int = #line) -> RedisError {
        var error = RedisError(code: .protocolError, message: message)
        error.location = SourceLocation(file: file, line: line)
        return error
    }

    static func unexpectedReply(
        _ reply: RESPValue,
        expected: String,
        file: String = #fileID,
        line: Int = #line
    ) -> RedisError {
        var error = RedisError(code: .unexpectedReply, message: "expected \(expected), got \(reply.kindName)")
        error.location = SourceLocation(file: file, line: line)
        return error
    }

    static func invalidURL(_ reason: String) -> RedisError {
        RedisError(code: .invalidURL, message: reason)
    }
}

extension RESPValue {
    /// The kind of value, for error messages (never the value: replies may hold user data).
    var kindName: String {
        switch self {
        case .simpleString: return "simple string"
        case .blobString: return "blob string"
        case .verbatimString: return "verbatim string"
        case .simpleError: return "simple error"
        case .blobError: return "blob error"
        case .integer: return "integer"
        case .double: return "double"
        case .boolean: return "boolean"
        case .null: return "null"
        case .bigNumber: return "big number"
        case .array: return "array"
        case .map: return "map"
        case .set: return "set"
        case .push: return "push"
        }
    }
}
