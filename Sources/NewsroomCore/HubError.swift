/// An error from the topic layer, for input a client got wrong or a limit it ran into.
///
/// Transports map ``code`` to their own status (HTTP status, WebSocket error reply, gRPC status); the
/// ``message`` is safe to show to the client.
public struct HubError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kinds of hub error.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Wrapped: String, Hashable, Sendable {
            case invalidTopicName = "invalid_topic"
            case invalidEvent = "invalid_event"
            case topicEnded = "topic_ended"
            case nothingAfterEnd = "stream_ended"
            case topicLimitReached = "topic_limit_reached"
            case subscriberLimitReached = "subscriber_limit_reached"
            case topicNotFound = "topic_not_found"
            case shuttingDown = "shutting_down"
            case outOfSequence = "out_of_sequence"
            case brokerUnavailable = "broker_unavailable"
            case notOwner = "not_owner"
            case overloaded = "overloaded"
        }
        let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The topic name is not `[A-Za-z0-9._:-]{1,128}`.
        public static let invalidTopicName = Code(.invalidTopicName)
        /// An event is not valid for publishing.
        public static let invalidEvent = Code(.invalidEvent)
        /// The topic has ended; nothing more can be published to it.
        public static let topicEnded = Code(.topicEnded)
        /// A resume point at or after the final event of an ended topic: there is nothing more to send.
        public static let nothingAfterEnd = Code(.nothingAfterEnd)
        /// The hub holds as many topics as it is configured to.
        public static let topicLimitReached = Code(.topicLimitReached)
        /// The topic has as many subscribers as it is configured to allow.
        public static let subscriberLimitReached = Code(.subscriberLimitReached)
        /// The topic does not exist.
        public static let topicNotFound = Code(.topicNotFound)
        /// The hub is shutting down and accepts no new work.
        public static let shuttingDown = Code(.shuttingDown)
        /// Externally sequenced events do not follow the topic's head (events are missing before them).
        public static let outOfSequence = Code(.outOfSequence)
        /// The cross-node broker could not be reached.
        public static let brokerUnavailable = Code(.brokerUnavailable)
        /// This node no longer owns the generation writing to the topic (its lease expired).
        public static let notOwner = Code(.notOwner)
        /// The fan-out backlog did not drain in time: the hub is writing as fast as it can.
        public static let overloaded = Code(.overloaded)

        /// The snake_case wire form.
        public var name: String { self.wrapped.rawValue }
        public var description: String { self.wrapped.rawValue }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }

    public static func invalidTopicName(_ name: String) -> HubError {
        HubError(
            code: .invalidTopicName, message: "topic names are 1 to 128 characters of A-Z a-z 0-9 . _ : - (not '.' or '..')")
    }

    public static func invalidEvent(_ message: String) -> HubError {
        HubError(code: .invalidEvent, message: message)
    }

    public static func topicEnded(_ name: String) -> HubError {
        HubError(code: .topicEnded, message: "topic '\(name)' has ended; publish to a new topic")
    }

    public static func topicNotFound(_ name: String) -> HubError {
        HubError(code: .topicNotFound, message: "no topic named '\(name)'")
    }
}
