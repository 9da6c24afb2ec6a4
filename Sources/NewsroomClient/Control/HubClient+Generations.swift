import NIOCore
import NIOHTTP1
import NewsroomCore
import NewsroomWire

extension HubClient {
    /// Asks the hub to run a generation: it calls the provider with `request` (the provider's own
    /// request body; streaming is forced) and broadcasts the answer to a topic.
    ///
    /// ```swift
    /// let started = try await hub.startGeneration(
    ///     provider: "openai",
    ///     request: .object(["model": .string("gpt-4o-mini"), "messages": .array([…])]))
    /// for try await event in try hub.subscribe(to: started.topic) { … }
    /// ```
    ///
    /// - Parameters:
    ///   - provider: A provider id the hub is configured with (`openai`, `anthropic`, `demo-openai`…).
    ///   - request: The provider's request body.
    ///   - topic: The topic to broadcast to; the hub picks one when `nil`.
    ///   - cancelWhenIdle: Cancel once the topic has had no subscriber for this long (`nil`: run to the end).
    /// - Returns: The generation's id and topic.
    /// - Throws: ``HubClientError``: 400 (unknown provider, bad request), 409 (the topic has a running
    ///   generation or has ended), 429 (too many running generations; retry later).
    public func startGeneration(
        provider: String, request: JSONValue, topic: String? = nil, cancelWhenIdle: Duration? = nil
    ) async throws -> StartedGeneration {
        var body = JSONWriter(buffer: ByteBuffer())
        body.beginObject()
        body.field("provider", provider)
        if let topic { body.field("topic", try Self.checked(topic)) }
        if let cancelWhenIdle {
            let (seconds, attoseconds) = cancelWhenIdle.components
            body.field("cancel_when_idle_s", Double(seconds) + Double(attoseconds) / 1e18)
        }
        var requestJSON = ByteBuffer()
        JSONValue.write(request, to: &requestJSON)
        body.rawField("request", json: requestJSON)
        body.endObject()
        let response = try await self.request(.POST, "/v1/generations", body: body.buffer)
        guard response.status == 201, let json = response.json, let id = json["generation"]?.stringValue,
            let topic = json["topic"]?.stringValue
        else {
            throw HubClientError(status: response.status, body: String(buffer: response.body))
        }
        return StartedGeneration(
            id: id, topic: topic, eventsURL: json["events_url"]?.stringValue ?? "",
            webSocketURL: json["ws_url"]?.stringValue ?? "")
    }

    /// A generation's state, or `nil` if the hub does not know the id.
    public func generation(_ id: String) async throws -> GenerationStatus? {
        let response = try await self.request(.GET, "/v1/generations/\(id)")
        if response.status == 404 { return nil }
        guard response.status == 200, let json = response.json, let status = GenerationStatus(json) else {
            throw HubClientError(status: response.status, body: String(buffer: response.body))
        }
        return status
    }

    /// Cancels a generation: the upstream request is aborted and viewers receive `stream_complete` with
    /// `finish_reason: cancelled` after the text that arrived before.
    public func cancelGeneration(_ id: String) async throws {
        let response = try await self.request(.DELETE, "/v1/generations/\(id)")
        guard (200..<300).contains(response.status) else {
            throw HubClientError(status: response.status, body: String(buffer: response.body))
        }
    }
}
