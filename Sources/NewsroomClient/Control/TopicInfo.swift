import NewsroomCore

/// A topic as the hub describes it (`GET /v1/topics`, `GET /v1/topics/{topic}`).
public struct TopicInfo: Sendable, Hashable {
    public var name: String
    /// `waiting` (no event yet), `streaming` or `ended`.
    public var state: TopicState
    /// The last `seq` issued (0 before the first event).
    public var lastSeq: Int
    /// The oldest `seq` still in the history.
    public var firstSeq: Int
    /// Subscribers right now, over every transport.
    public var subscribers: Int
    public var historyEvents: Int
    public var historyBytes: Int
    /// When the topic was created (RFC 3339, UTC), for picking the newest.
    public var createdAt: String

    init?(_ json: JSONValue) {
        guard let name = json["name"]?.stringValue, let state = json["state"]?.stringValue.flatMap(TopicState.init(rawValue:))
        else { return nil }
        self.name = name
        self.state = state
        self.lastSeq = json["last_seq"]?.intValue ?? 0
        self.firstSeq = json["first_seq"]?.intValue ?? 0
        self.subscribers = json["subscribers"]?.intValue ?? 0
        self.historyEvents = json["history_events"]?.intValue ?? 0
        self.historyBytes = json["history_bytes"]?.intValue ?? 0
        self.createdAt = json["created_at"]?.stringValue ?? ""
    }
}
