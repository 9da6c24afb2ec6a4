import NIOCore

/// An out-of-band message from the server: a Pub/Sub message, or a notice such as a server-side
/// `sunsubscribe` when a cluster slot moves.
///
/// A RESP3 connection receives these between replies (RESP3 "Push type"); the client hands them to its
/// push handler in the order they arrived, on the connection's event loop.
public struct RedisPushMessage: Sendable {
    /// The first element of the push: what it is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// The name as the server sends it, lower-cased (`message`, `smessage`, `invalidate`).
        public var name: String

        public init(_ name: String) { self.name = name }

        /// A message published to a channel (`PUBLISH`), for a `SUBSCRIBE`.
        public static let message = Kind("message")
        /// A message published to a channel matching a pattern, for a `PSUBSCRIBE`.
        public static let patternMessage = Kind("pmessage")
        /// A message published to a shard channel (`SPUBLISH`), for an `SSUBSCRIBE`.
        public static let shardMessage = Kind("smessage")
        /// The server dropped a shard-channel subscription on its own (its slot moved to another node).
        public static let shardUnsubscribe = Kind("sunsubscribe")
        /// The server dropped a channel subscription on its own.
        public static let unsubscribe = Kind("unsubscribe")
        /// A client-side-caching invalidation.
        public static let invalidate = Kind("invalidate")

        public var description: String { self.name }
    }

    /// What the push is.
    public var kind: Kind
    /// The channel, for messages and (un)subscribe notices.
    public var channel: String?
    /// The pattern that matched, for ``Kind/patternMessage``.
    public var pattern: String?
    /// The published bytes, for ``Kind/message``, ``Kind/patternMessage`` and ``Kind/shardMessage``.
    public var payload: ByteBuffer?
    /// The push as it was received, every element.
    public var values: [RESPValue]

    /// Reads a push's elements.
    public init(values: [RESPValue]) {
        self.values = values
        self.kind = Kind(values.first?.string?.lowercased() ?? "")
        switch self.kind {
        case .message, .shardMessage:
            self.channel = values.count > 1 ? values[1].string : nil
            self.payload = values.count > 2 ? values[2].bytes : nil
        case .patternMessage:
            self.pattern = values.count > 1 ? values[1].string : nil
            self.channel = values.count > 2 ? values[2].string : nil
            self.payload = values.count > 3 ? values[3].bytes : nil
        default:
            self.channel = values.count > 1 ? values[1].string : nil
        }
    }
}
