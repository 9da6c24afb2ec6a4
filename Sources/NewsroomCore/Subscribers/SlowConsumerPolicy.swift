/// What happens to a subscriber that cannot keep up with its topic.
///
/// A subscriber whose connection stops accepting writes gets a bounded queue of references to the
/// shared events; the policy decides what happens to that queue:
/// - ``coalesce``: consecutive deltas (`text_delta`, `reasoning_delta`, `tool_call_delta`) of the same
///   index are merged into one event carrying the last merged `seq`. Lossless for the text; other event
///   types are never dropped. If the queue still overflows, the subscriber is disconnected.
/// - ``dropOldest``: the oldest queued events are dropped and the subscriber receives a `gap` event
///   naming the range it missed, before the events that follow it.
/// - ``disconnect``: the subscriber is closed with ``DisconnectReason/slowConsumer``; it can resume
///   from its last id.
public struct SlowConsumerPolicy: Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Hashable, Sendable {
        case coalesce
        case dropOldest = "drop_oldest"
        case disconnect
    }

    let kind: Kind

    private init(_ kind: Kind) { self.kind = kind }

    /// Merge adjacent deltas while the subscriber is slow; disconnect if the queue still overflows.
    public static let coalesce = SlowConsumerPolicy(.coalesce)
    /// Drop the oldest queued events and tell the subscriber with a `gap` event.
    public static let dropOldest = SlowConsumerPolicy(.dropOldest)
    /// Close the subscriber as soon as its queue overflows.
    public static let disconnect = SlowConsumerPolicy(.disconnect)

    /// Parses the wire name (`coalesce`, `drop_oldest`, `disconnect`).
    public init?(name: String) {
        guard let kind = Kind(rawValue: name) else { return nil }
        self.kind = kind
    }

    /// The wire name.
    public var name: String { self.kind.rawValue }
    public var description: String { self.kind.rawValue }

    /// Every policy's wire name.
    public static let names = [Kind.coalesce.rawValue, Kind.dropOldest.rawValue, Kind.disconnect.rawValue]
}
