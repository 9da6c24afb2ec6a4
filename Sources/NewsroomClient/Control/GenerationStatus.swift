import NewsroomCore

/// A generation the hub started (`POST /v1/generations`): where to watch it.
public struct StartedGeneration: Sendable, Hashable {
    /// The generation's id, for ``HubClient/generation(_:)`` and ``HubClient/cancelGeneration(_:)``.
    public var id: String
    /// The topic its events are broadcast to.
    public var topic: String
    /// The SSE URL of the topic, as the hub spells it.
    public var eventsURL: String
    /// The WebSocket URL of the topic, as the hub spells it.
    public var webSocketURL: String
}

/// The state of a generation (`GET /v1/generations/{id}`).
public struct GenerationStatus: Sendable, Hashable {
    public var id: String
    public var topic: String
    public var provider: String
    public var model: String?
    /// `running`, `completed`, `cancelled` or `failed`.
    public var state: String
    /// The normalized finish reason, once ended.
    public var finishReason: FinishReason?
    public var usage: Usage?
    /// When the request was accepted, the first token arrived, and the generation ended (RFC 3339).
    public var queuedAt: String?
    public var firstTokenAt: String?
    public var completedAt: String?

    init?(_ json: JSONValue) {
        guard let id = json["generation"]?.stringValue, let topic = json["topic"]?.stringValue,
            let state = json["state"]?.stringValue
        else { return nil }
        self.id = id
        self.topic = topic
        self.provider = json["provider"]?.stringValue ?? ""
        self.model = json["model"]?.stringValue
        self.state = state
        self.finishReason = json["finish_reason"]?.stringValue.flatMap(FinishReason.init(rawValue:))
        if let usage = json["usage"], usage.objectValue != nil {
            self.usage = Usage(inputTokens: usage["input_tokens"]?.intValue, outputTokens: usage["output_tokens"]?.intValue)
        }
        self.queuedAt = json["timings"]?["queued"]?.stringValue
        self.firstTokenAt = json["timings"]?["first_token"]?.stringValue
        self.completedAt = json["timings"]?["completed"]?.stringValue
    }
}
