/// Something a client asks the hub to do, as the access policy sees it.
///
/// Every transport names its requests with these: `GET /v1/topics/{t}/events`, a WebSocket
/// `subscribe`, gRPC `Subscribe` and a Socket.IO `subscribe` are all ``subscribe(_:)``; so each
/// capability rule is written once, in ``AccessPolicy``.
public struct Operation: Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Hashable, Sendable {
        case subscribe
        case readTopic = "read_topic"
        case listTopics = "list_topics"
        case publish
        case cancelTopic = "cancel_topic"
        case startGeneration = "start_generation"
        case readGeneration = "read_generation"
        case cancelGeneration = "cancel_generation"
        case readMetrics = "read_metrics"
        case administer
    }

    let kind: Kind
    /// The topic the operation is about, when there is one (a generation's topic for the generation
    /// operations; `nil` for a generation into a new topic).
    public let topic: String?

    private init(_ kind: Kind, _ topic: String?) {
        self.kind = kind
        self.topic = topic
    }

    /// Receive a topic's events (history and live).
    public static func subscribe(_ topic: String) -> Operation { Operation(.subscribe, topic) }
    /// Read a topic's state.
    public static func readTopic(_ topic: String) -> Operation { Operation(.readTopic, topic) }
    /// List every topic (the management view).
    public static let listTopics = Operation(.listTopics, nil)
    /// Publish events to a topic.
    public static func publish(_ topic: String) -> Operation { Operation(.publish, topic) }
    /// End a topic (and cancel the generation writing to it).
    public static func cancelTopic(_ topic: String) -> Operation { Operation(.cancelTopic, topic) }
    /// Start a generation into `topic` (a new topic when `nil`).
    public static func startGeneration(into topic: String?) -> Operation { Operation(.startGeneration, topic) }
    /// Read the state of the generation writing to `topic`.
    public static func readGeneration(on topic: String) -> Operation { Operation(.readGeneration, topic) }
    /// Cancel the generation writing to `topic`.
    public static func cancelGeneration(on topic: String) -> Operation { Operation(.cancelGeneration, topic) }
    /// Read `GET /metrics`.
    public static let readMetrics = Operation(.readMetrics, nil)
    /// The operator's views and actions on the whole hub.
    public static let administer = Operation(.administer, nil)

    /// A short name for logs and metrics (`subscribe`, `publish`, …).
    public var name: String { self.kind.rawValue }

    public var description: String { self.topic.map { "\(self.kind.rawValue) '\($0)'" } ?? self.kind.rawValue }
}
