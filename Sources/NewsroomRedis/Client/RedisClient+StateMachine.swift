import NIOCore

extension RedisClient {
    /// The client's connection lifecycle and the subscriptions it restores after a reconnect.
    ///
    /// A pure value: each event returns what the caller must do (complete a promise, start a reconnect,
    /// close a channel); the caller does it outside the lock.
    struct StateMachine {
        private enum State {
            /// No usable connection: the first connect or a reconnect is under way. Commands wait on
            /// `next`. → ``connected`` when an attempt succeeds; → ``closed`` on `close()` or when the
            /// policy gives up.
            case connecting(next: EventLoopPromise<RedisConnection>)
            /// Commands go to `connection`. → ``connecting`` when it closes and the policy allows a
            /// reconnect; → ``closed`` otherwise, or on `close()`.
            case connected(RedisConnection)
            /// Final: every command fails with `error`.
            case closed(error: RedisError)
        }

        private var state: State
        private let eventLoop: any EventLoop
        /// The channels, patterns and shard channels the owner subscribed to and did not unsubscribe from.
        private(set) var subscriptions: [SubscriptionFamily: Set<String>] = [:]

        init(eventLoop: any EventLoop) {
            self.eventLoop = eventLoop
            self.state = .connecting(next: eventLoop.makePromise())
        }

        enum AcquireAction {
            case use(RedisConnection)
            case wait(EventLoopFuture<RedisConnection>)
            case fail(RedisError)
        }

        /// A command wants a connection.
        func acquire() -> AcquireAction {
            switch self.state {
            case .connected(let connection): return .use(connection)
            case .connecting(let next): return .wait(next.futureResult)
            case .closed(let error): return .fail(error)
            }
        }

        var isClosed: Bool {
            if case .closed = self.state { return true }
            return false
        }

        enum ConnectedAction {
            /// The connection is installed: complete the waiters with it and watch it for closing.
            case installed(waiters: EventLoopPromise<RedisConnection>)
            /// The client closed meanwhile: close the new connection.
            case closeConnection
        }

        /// A connection attempt succeeded.
        mutating func connected(_ connection: RedisConnection) -> ConnectedAction {
            switch self.state {
            case .connecting(let next):
                self.state = .connected(connection)
                return .installed(waiters: next)
            case .connected, .closed:
                return .closeConnection
            }
        }

        enum ConnectionLostAction {
            /// Start reconnecting; report the disconnect.
            case reconnect
            /// The policy gives up: fail the waiters (if any) and report the disconnect.
            case giveUp(waiters: EventLoopPromise<RedisConnection>?)
            /// Not the current connection, or already closed: nothing to do.
            case none
        }

        /// A connection's channel closed.
        mutating func connectionLost(
            _ id: ObjectIdentifier,
            error: RedisError,
            willReconnect: Bool
        ) -> ConnectionLostAction {
            guard case .connected(let connection) = self.state, connection.id == id else { return .none }
            if willReconnect {
                self.state = .connecting(next: self.eventLoop.makePromise())
                return .reconnect
            }
            self.state = .closed(error: error)
            return .giveUp(waiters: nil)
        }

        /// A reconnect loop gave up (the policy said stop).
        mutating func reconnectAbandoned(error: RedisError) -> EventLoopPromise<RedisConnection>? {
            guard case .connecting(let next) = self.state else { return nil }
            self.state = .closed(error: error)
            return next
        }

        enum CloseAction {
            case close(RedisConnection)
            case failWaiters(EventLoopPromise<RedisConnection>)
            case none
        }

        /// The owner closes the client.
        mutating func close() -> CloseAction {
            let previous = self.state
            self.state = .closed(error: .clientClosed)
            switch previous {
            case .connected(let connection): return .close(connection)
            case .connecting(let next): return .failWaiters(next)
            case .closed: return .none
            }
        }

        /// Records a confirmed subscription.
        mutating func subscribed(_ family: SubscriptionFamily, _ channels: [String]) {
            self.subscriptions[family, default: []].formUnion(channels)
        }

        /// Forgets subscriptions (before the unsubscribe is sent, so a reconnect does not restore them).
        mutating func unsubscribed(_ family: SubscriptionFamily, _ channels: [String]?) {
            if let channels {
                self.subscriptions[family]?.subtract(channels)
            } else {
                self.subscriptions[family] = []
            }
        }
    }
}
