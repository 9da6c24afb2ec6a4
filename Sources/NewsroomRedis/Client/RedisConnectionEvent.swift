/// A change in a ``RedisClient``'s connection, handed to its connection-event handler on the client's
/// event loop.
///
/// After ``Kind/reconnected`` the client has already restored its subscriptions on the new connection;
/// what was published while it was away is lost, so the owner catches up from durable state (a stream's
/// history) now.
public struct RedisConnectionEvent: Sendable {
    /// What happened.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case disconnected, reconnected
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The connection was lost. Commands in flight failed with ``RedisError/Code/connectionClosed``;
        /// new ones wait for the reconnect (within their timeout).
        public static let disconnected = Kind(.disconnected)
        /// A new connection is ready, logged in, and subscribed to what the old one was.
        public static let reconnected = Kind(.reconnected)

        public var description: String { self.wrapped.rawValue }
    }

    /// What happened.
    public var kind: Kind
    /// For ``Kind/reconnected``, the attempts it took (1 when the first succeeded); 0 otherwise.
    public var attempts: Int
    /// For ``Kind/disconnected``, why, when known.
    public var error: RedisError?

    public init(kind: Kind, attempts: Int = 0, error: RedisError? = nil) {
        self.kind = kind
        self.attempts = attempts
        self.error = error
    }
}
