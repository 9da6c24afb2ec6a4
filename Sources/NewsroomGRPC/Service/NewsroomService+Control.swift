import GRPCCore
import Logging
import NIOCore
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomProto
import SwiftProtobuf

extension NewsroomService {
    // MARK: Generations

    /// `StartGeneration`: `POST /v1/generations`. Returns once the generation is accepted.
    @Sendable
    func startGeneration(
        _ request: ServerRequest<Newsroom_V1_GenerationRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_Generation {
        let generation = try Self.generationRequest(request.message, metadata: request.metadata)
        let principal = try await self.caller(request.metadata)
        return Newsroom_V1_Generation(try await self.call { () async throws(ControlError) in
            try await self.control.startGeneration(generation, as: principal)
        })
    }

    /// `CancelGeneration`: `DELETE /v1/generations/{id}`, or `DELETE /v1/topics/{topic}` (the topic's
    /// running generation is cancelled and the topic ends, on whichever node runs it).
    @Sendable
    func cancelGeneration(
        _ request: ServerRequest<Newsroom_V1_CancelRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_Generation {
        let principal = try await self.caller(request.metadata)
        switch request.message.target {
        case .generation(let id)?:
            return Newsroom_V1_Generation(try await self.call { () async throws(ControlError) in
                try await self.control.cancelGeneration(id, as: principal)
            })
        case .topic(let topic)?:
            let cancellation = try await self.call { () async throws(ControlError) in
                try await self.control.cancelTopic(topic, as: principal)
            }
            if let generation = cancellation.generation { return Newsroom_V1_Generation(generation) }
            // No generation ran here (another node's, or none): the topic's end is the answer.
            var ended = Newsroom_V1_Generation()
            ended.topic = topic
            ended.state = .cancelled
            ended.finishReason = .cancelled
            return ended
        case nil:
            throw RPCError(code: .invalidArgument, newsroomCode: "bad_request", message: "set 'generation' or 'topic'")
        }
    }

    /// `GetGeneration`: `GET /v1/generations/{id}`.
    @Sendable
    func getGeneration(
        _ request: ServerRequest<Newsroom_V1_GetGenerationRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_Generation {
        let principal = try await self.caller(request.metadata)
        let id = request.message.generation
        return Newsroom_V1_Generation(try await self.call { () async throws(ControlError) in
            try await self.control.generation(id, as: principal)
        })
    }

    /// The hub's request for a protobuf one (the JSON form's rules; limits are checked by the control service).
    static func generationRequest(
        _ message: Newsroom_V1_GenerationRequest, metadata: Metadata
    ) throws(RPCError) -> GenerationRequest {
        func bad(_ text: String) -> RPCError {
            RPCError(code: .invalidArgument, newsroomCode: "bad_request", message: text)
        }
        guard !message.provider.isEmpty else { throw bad("missing field 'provider'") }
        guard !message.request.isEmpty else { throw bad("missing field 'request' (the provider's JSON body)") }
        let body: JSONValue
        do {
            body = try JSONValue.parse(message.request.utf8)
        } catch {
            throw bad("'request' is not valid JSON: \(error.message)")
        }
        guard case .object = body else { throw bad("'request' must be a JSON object") }
        do throws(ControlError) {
            let idle = message.hasCancelWhenIdleS ? try ControlService.cancelWhenIdle(seconds: message.cancelWhenIdleS) : nil
            // W3C trace context of the caller, continued upstream as the HTTP API does with its headers.
            let traceHeaders = ["traceparent", "tracestate"].compactMap { name in
                metadata[stringValues: name].first(where: { _ in true }).map { (name, $0) }
            }
            return GenerationRequest(
                provider: message.provider, body: body, topic: message.hasTopic ? message.topic : nil,
                cancelWhenIdle: idle, traceHeaders: traceHeaders)
        } catch {
            throw RPCError(error)
        }
    }

    // MARK: Topics

    /// `ListTopics`: `GET /v1/topics`.
    @Sendable
    func listTopics(
        _ request: ServerRequest<Newsroom_V1_ListTopicsRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_ListTopicsResponse {
        let principal = try await self.caller(request.metadata)
        var response = Newsroom_V1_ListTopicsResponse()
        response.topics = try await self.call { () async throws(ControlError) in
            try self.control.topics(as: principal)
        }.map(Newsroom_V1_TopicInfo.init)
        return response
    }

    /// `GetTopic`: `GET /v1/topics/{topic}`.
    @Sendable
    func getTopic(
        _ request: ServerRequest<Newsroom_V1_GetTopicRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_TopicInfo {
        let principal = try await self.caller(request.metadata)
        let topic = request.message.topic
        return Newsroom_V1_TopicInfo(try await self.call { () async throws(ControlError) in
            try await self.control.topic(topic, as: principal)
        })
    }

    /// Runs a control call, turning its error into the call's status.
    func call<Result>(_ body: () async throws(ControlError) -> Result) async throws(RPCError) -> Result {
        do throws(ControlError) {
            return try await body()
        } catch {
            throw RPCError(error)
        }
    }
}

extension Newsroom_V1_TopicInfo {
    init(_ snapshot: Topic.Snapshot) {
        self.init()
        self.name = snapshot.name
        self.state = Newsroom_V1_TopicState(snapshot.state)
        self.lastSeq = UInt64(clamping: snapshot.lastSeq)
        self.firstSeq = UInt64(clamping: snapshot.firstSeq)
        self.subscribers = UInt64(clamping: snapshot.subscribers)
        self.historyEvents = UInt64(clamping: snapshot.historyEvents)
        self.historyBytes = UInt64(clamping: snapshot.historyBytes)
    }
}

extension Newsroom_V1_Generation {
    init(_ info: GenerationInfo) {
        self.init()
        self.generation = info.id
        self.topic = info.topic
        self.provider = info.provider
        if let model = info.model { self.model = model }
        switch info.state {
        case .running: self.state = .running
        case .completed: self.state = .completed
        case .cancelled: self.state = .cancelled
        case .failed: self.state = .failed
        default: self.state = .unspecified
        }
        if let reason = info.finishReason { self.finishReason = Newsroom_V1_FinishReason(reason) }
        var timings = Newsroom_V1_GenerationTimings()
        timings.queued = Google_Protobuf_Timestamp(info.queuedAt)
        if let first = info.firstTokenAt { timings.firstToken = Google_Protobuf_Timestamp(first) }
        if let completed = info.completedAt { timings.completed = Google_Protobuf_Timestamp(completed) }
        self.timings = timings
        if let usage = info.usage { self.usage = Newsroom_V1_Usage(usage) }
    }
}
