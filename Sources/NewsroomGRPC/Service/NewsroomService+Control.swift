import GRPCCore
import Logging
import NIOCore
import NewsroomCore
import SwiftProtobuf

extension NewsroomService {
    // MARK: Generations

    /// `StartGeneration`: `POST /v1/generations`. Returns once the generation is accepted.
    @Sendable
    func startGeneration(
        _ request: ServerRequest<Newsroom_V1_GenerationRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_Generation {
        let message = request.message
        let generations = try self.requireGenerations()
        var generationRequest = try Self.generationRequest(message, metadata: request.metadata)
        let grant = try await self.authorize(
            .generate, topic: generationRequest.topic, method: "StartGeneration", metadata: request.metadata)
        generationRequest.owner = grant.subject
        do {
            let info = try await generations.start(generationRequest)
            self.logger.info(
                "generation started",
                metadata: [
                    "newsroom.rpc": "StartGeneration", "newsroom.topic": "\(info.topic)",
                    "newsroom.generation": "\(info.id)", "newsroom.upstream.provider": "\(info.provider)",
                ])
            return Newsroom_V1_Generation(info)
        } catch {
            throw RPCError(error)
        }
    }

    /// `CancelGeneration`: `DELETE /v1/generations/{id}`, or the running generation of a topic.
    @Sendable
    func cancelGeneration(
        _ request: ServerRequest<Newsroom_V1_CancelRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_Generation {
        let message = request.message
        let generations = try self.requireGenerations()
        let info: GenerationInfo?
        switch message.target {
        case .generation(let id)?:
            // The right to cancel is per topic: look the generation's topic up first.
            let topic = await generations.info(generation: id)?.topic
            _ = try await self.authorize(.cancel, topic: topic, method: "CancelGeneration", metadata: request.metadata)
            info = topic == nil ? nil : await generations.cancel(generation: id)
            guard let info else {
                throw RPCError(code: .notFound, newsroomCode: "not_found", message: "no generation '\(id.prefix(128))'")
            }
            return Newsroom_V1_Generation(info)
        case .topic(let topic)?:
            guard TopicName.isValid(topic) else { throw RPCError(HubError.invalidTopicName(topic)) }
            _ = try await self.authorize(.cancel, topic: topic, method: "CancelGeneration", metadata: request.metadata)
            info = await generations.cancel(topic: topic)
            if info == nil, let broker = self.broker {
                // Not running here: the broker asks the node that runs it (or ends the topic).
                let snapshot: Topic.Snapshot?
                do {
                    snapshot = try await broker.cancelTopic(topic)
                } catch {
                    throw RPCError(error)
                }
                if snapshot != nil {
                    var remote = Newsroom_V1_Generation()
                    remote.topic = topic
                    remote.state = .cancelled
                    remote.finishReason = .cancelled
                    return remote
                }
            }
            guard let info else {
                throw RPCError(code: .notFound, newsroomCode: "not_found", message: "no generation runs on '\(topic)'")
            }
            return Newsroom_V1_Generation(info)
        case nil:
            throw RPCError(
                code: .invalidArgument, newsroomCode: "bad_request", message: "set 'generation' or 'topic'")
        }
    }

    /// `GetGeneration`: `GET /v1/generations/{id}`.
    @Sendable
    func getGeneration(
        _ request: ServerRequest<Newsroom_V1_GetGenerationRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_Generation {
        let message = request.message
        let generations = try self.requireGenerations()
        let info = await generations.info(generation: message.generation)
        _ = try await self.authorize(
            .subscribe, topic: info?.topic, method: "GetGeneration", metadata: request.metadata)
        guard let info else {
            throw RPCError(
                code: .notFound, newsroomCode: "not_found", message: "no generation '\(message.generation.prefix(128))'"
            )
        }
        return Newsroom_V1_Generation(info)
    }

    private func requireGenerations() throws -> any GenerationService {
        guard let generations = self.generations else {
            throw RPCError(
                code: .unimplemented, newsroomCode: "unsupported", message: "generations are not enabled on this hub")
        }
        return generations
    }

    /// The hub's request for a protobuf one, with the rules of `POST /v1/generations`.
    static func generationRequest(
        _ message: Newsroom_V1_GenerationRequest, metadata: Metadata
    ) throws -> GenerationRequest {
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
        var topic: String?
        if message.hasTopic {
            guard TopicName.isValid(message.topic) else { throw RPCError(HubError.invalidTopicName(message.topic)) }
            topic = message.topic
        }
        var idle: TimeAmount?
        if message.hasCancelWhenIdleS {
            let seconds = message.cancelWhenIdleS
            guard seconds > 0, seconds <= 86_400 else {
                throw bad("'cancel_when_idle_s' must be a positive number of seconds, at most 86400")
            }
            idle = .nanoseconds(Int64(seconds * 1e9))
        }
        // W3C trace context of the caller, continued upstream as the HTTP API does with its headers.
        let traceHeaders = ["traceparent", "tracestate"].compactMap { name in
            metadata[stringValues: name].first(where: { _ in true }).map { (name, $0) }
        }
        return GenerationRequest(
            provider: message.provider, body: body, topic: topic, cancelWhenIdle: idle, traceHeaders: traceHeaders)
    }

    // MARK: Topics

    /// `ListTopics`: `GET /v1/topics`.
    @Sendable
    func listTopics(
        _ request: ServerRequest<Newsroom_V1_ListTopicsRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_ListTopicsResponse {
        _ = try await self.authorize(.admin, topic: nil, method: "ListTopics", metadata: request.metadata)
        var response = Newsroom_V1_ListTopicsResponse()
        response.topics = self.hub.snapshots().map(Newsroom_V1_TopicInfo.init)
        return response
    }

    /// `GetTopic`: `GET /v1/topics/{topic}`.
    @Sendable
    func getTopic(
        _ request: ServerRequest<Newsroom_V1_GetTopicRequest>, context: ServerContext
    ) async throws -> Newsroom_V1_TopicInfo {
        let message = request.message
        guard TopicName.isValid(message.topic) else { throw RPCError(HubError.invalidTopicName(message.topic)) }
        _ = try await self.authorize(.subscribe, topic: message.topic, method: "GetTopic", metadata: request.metadata)
        if let snapshot = self.hub.snapshot(ofTopic: message.topic) { return Newsroom_V1_TopicInfo(snapshot) }
        // Shared through the broker but not held here yet: mirror it, as a first viewer would.
        let shared: Topic.Snapshot?
        do {
            shared = try await self.broker?.sharedSnapshot(ofTopic: message.topic)
        } catch {
            throw RPCError(error)
        }
        guard let shared else { throw RPCError(HubError.topicNotFound(message.topic)) }
        return Newsroom_V1_TopicInfo(shared)
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
