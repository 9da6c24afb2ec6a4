import DequeModule
import Synchronization

/// The last errors the hub emitted, newest first: a bounded ring for the operator's console.
///
/// Two kinds of entries: an `error` event published to a topic (every viewer of the topic saw it:
/// an upstream failure, a rate limit, a lost stream) and a subscriber the hub disconnected
/// (`slow_consumer`: one viewer could not keep up). Recording takes a lock; it happens only when such
/// an error occurs, never per delivered event.
public final class RecentErrors: Sendable {
    /// One error.
    public struct Entry: Sendable, Hashable {
        /// Where an error was seen.
        public struct Source: Hashable, Sendable, CustomStringConvertible {
            public let rawValue: String
            private init(_ rawValue: String) { self.rawValue = rawValue }
            /// An `error` event published to the topic.
            public static let event = Source("event")
            /// One subscriber of the topic was disconnected by the hub.
            public static let subscriber = Source("subscriber")
            public var description: String { self.rawValue }
        }

        /// When it happened.
        public var time: Timestamp
        public var topic: String
        /// The snake_case code (`upstream_unavailable`, `slow_consumer`, …).
        public var code: String
        /// The message, as clients saw it (never a secret: events are what viewers receive).
        public var message: String
        public var source: Source
        /// For an event: its seq in the topic.
        public var seq: Int?

        public init(time: Timestamp, topic: String, code: String, message: String, source: Source, seq: Int? = nil) {
            self.time = time
            self.topic = topic
            self.code = code
            self.message = message
            self.source = source
            self.seq = seq
        }
    }

    /// The most entries kept; older ones are forgotten.
    public let capacity: Int
    private let entries: Mutex<Deque<Entry>>

    /// Creates an empty ring.
    /// - Parameter capacity: The most entries kept (default 50).
    public init(capacity: Int = 50) {
        precondition(capacity > 0, "a ring holds at least one entry")
        self.capacity = capacity
        self.entries = Mutex(Deque(minimumCapacity: capacity))
    }

    /// Records an entry, forgetting the oldest when the ring is full.
    public func record(_ entry: Entry) {
        self.entries.withLock { entries in
            if entries.count == self.capacity { entries.removeLast() }
            entries.prepend(entry)
        }
    }

    /// Records a published `error` event.
    func record(_ error: StreamError, of event: Event) {
        self.record(
            Entry(
                time: event.timestamp, topic: event.topic, code: error.code, message: error.message, source: .event,
                seq: event.seq))
    }

    /// Records a subscriber the hub disconnected.
    func record(disconnect reason: DisconnectReason, topic: String) {
        self.record(Entry(time: .now(), topic: topic, code: reason.code, message: reason.message, source: .subscriber))
    }

    /// The entries, newest first.
    public var snapshot: [Entry] { self.entries.withLock { Array($0) } }
}
