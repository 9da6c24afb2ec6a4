import NIOCore
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomProto
import NewsroomWire
import Synchronization
import SwiftProtobuf

/// The `newsroom.v1.Newsroom` and `grpc.health.v1.Health` methods over the ``ControlService``: decode the
/// request message, call the control service, encode the answer — for every gRPC transport (gRPC and
/// gRPC-Web, on HTTP/2 and HTTP/1.1). No rule or limit lives here; errors become statuses.
struct GRPCService: Sendable {
    let dependencies: HTTPDependencies

    private var control: ControlService { self.dependencies.control }

    // MARK: Calls

    /// Who is calling: the `authorization: Bearer <token>` metadata, from the token cache when it can be
    /// (`nil`: the token must be verified first, with ``authenticate(authorization:)``).
    func cachedCaller(authorization: String?) -> Result<Principal, GRPCStatus>? {
        self.control.cachedAuthentication(token: Credentials.bearerToken(authorization: authorization))?
            .mapError(GRPCStatus.init)
    }

    func authenticate(authorization: String?) async -> Result<Principal, GRPCStatus> {
        await self.control.authenticate(token: Credentials.bearerToken(authorization: authorization))
            .mapError(GRPCStatus.init)
    }

    /// Answers a unary call with its response message (serialized, without the length prefix).
    func unary(
        _ method: GRPCMethod, request: ByteBuffer, principal: Principal, traceHeaders: [(String, String)]
    ) async throws(GRPCStatus) -> [UInt8] {
        let control = self.control
        do throws(ControlError) {
            switch method {
            case .startGeneration:
                let message: Newsroom_V1_GenerationRequest = try Self.decode(request)
                let generation = try Self.generationRequest(message, traceHeaders: traceHeaders)
                return try Self.encode(Newsroom_V1_Generation(try await control.startGeneration(generation, as: principal)))
            case .cancelGeneration:
                let message: Newsroom_V1_CancelRequest = try Self.decode(request)
                switch message.target {
                case .generation(let id)?:
                    return try Self.encode(Newsroom_V1_Generation(try await control.cancelGeneration(id, as: principal)))
                case .topic(let topic)?:
                    let cancellation = try await control.cancelTopic(topic, as: principal)
                    if let generation = cancellation.generation { return try Self.encode(Newsroom_V1_Generation(generation)) }
                    // No generation ran here (another node's, or none): the topic's end is the answer.
                    var ended = Newsroom_V1_Generation()
                    ended.topic = topic
                    ended.state = .cancelled
                    ended.finishReason = .cancelled
                    return try Self.encode(ended)
                case nil:
                    throw ControlError.invalidArgument("set 'generation' or 'topic'")
                }
            case .getGeneration:
                let message: Newsroom_V1_GetGenerationRequest = try Self.decode(request)
                return try Self.encode(Newsroom_V1_Generation(try await control.generation(message.generation, as: principal)))
            case .listTopics:
                let _: Newsroom_V1_ListTopicsRequest = try Self.decode(request)
                var response = Newsroom_V1_ListTopicsResponse()
                response.topics = try control.topics(as: principal).map(Newsroom_V1_TopicInfo.init)
                return try Self.encode(response)
            case .getTopic:
                let message: Newsroom_V1_GetTopicRequest = try Self.decode(request)
                return try Self.encode(Newsroom_V1_TopicInfo(try await control.topic(message.topic, as: principal)))
            case .healthCheck:
                let message: Grpc_Health_V1_HealthCheckRequest = try Self.decode(request)
                guard let status = self.healthStatus(of: message.service) else {
                    throw ControlError.notFound("unknown service '\(message.service.prefix(128))'")
                }
                var response = Grpc_Health_V1_HealthCheckResponse()
                response.status = status
                return try Self.encode(response)
            case .healthList:
                let _: Grpc_Health_V1_HealthListRequest = try Self.decode(request)
                var response = Grpc_Health_V1_HealthListResponse()
                for service in Self.healthServices {
                    var status = Grpc_Health_V1_HealthCheckResponse()
                    status.status = self.healthStatus(of: service) ?? .serviceUnknown
                    response.statuses[service] = status
                }
                return try Self.encode(response)
            case .subscribe, .publish, .healthWatch:
                throw ControlError(.internal, code: "internal", message: "not a unary method")
            }
        } catch {
            throw GRPCStatus(error)
        }
    }

    /// The subscription a `SubscribeRequest` asks for.
    static func subscription(_ request: ByteBuffer) throws(GRPCStatus) -> SubscriptionRequest {
        do throws(ControlError) {
            let message: Newsroom_V1_SubscribeRequest = try Self.decode(request)
            var subscription = SubscriptionRequest(topic: message.topic)
            switch message.policy {
            case .unspecified: break
            case .coalesce: subscription.policy = .coalesce
            case .dropOldest: subscription.policy = .dropOldest
            case .disconnect: subscription.policy = .disconnect
            case .UNRECOGNIZED(let value):
                throw ControlError.invalidArgument(
                    "unknown policy \(value); use COALESCE, DROP_OLDEST or DISCONNECT", code: "invalid_policy")
            }
            subscription.after = try SubscriptionRequest.resumePoint(message.after)
            if message.hasMaxDelayMs {
                subscription.maxDelay = try ControlService.duration("\(message.maxDelayMs)ms", name: "max_delay_ms")
            }
            return subscription
        } catch {
            throw GRPCStatus(error)
        }
    }

    /// The services the health service reports on: the whole server (`""`) and the Newsroom service.
    static let healthServices = ["", "newsroom.v1.Newsroom"]

    /// The serving status of a service name (`""`: the whole server), or `nil` for one the hub does not
    /// serve. `NOT_SERVING` once the hub drains.
    func healthStatus(of service: String) -> Grpc_Health_V1_HealthCheckResponse.ServingStatus? {
        guard Self.healthServices.contains(service) else { return nil }
        return self.dependencies.ready.load(ordering: .relaxed) ? .serving : .notServing
    }

    // MARK: Publish (a client stream)

    /// The state of one `Publish` call: one topic, its events published as they arrive.
    struct PublishCall: Sendable {
        var topic: String?
        var firstSeq = 0
        var lastSeq = 0
        var count = 0
        var position = 0
    }

    /// Publishes one `PublishRequest` of a `Publish` call. The first message names the topic; later ones
    /// repeat it or leave it empty. The first bad message ends the call, naming its position, with the
    /// last seq published so far in the `newsroom-last-seq` trailer.
    func publish(
        _ request: ByteBuffer, call: inout PublishCall, principal: Principal, client: String
    ) async throws(GRPCStatus) {
        call.position += 1
        let position = call.position
        let count = call.count
        let lastSeq = call.lastSeq
        func failure(_ status: GRPCStatus) -> GRPCStatus {
            var status = status
            status.message = "message \(position): \(status.message)"
            if count > 0 { status.metadata.append(("newsroom-last-seq", String(lastSeq))) }
            return status
        }
        let message: Newsroom_V1_PublishRequest
        do throws(ControlError) {
            message = try Self.decode(request)
        } catch {
            throw failure(GRPCStatus(error))
        }
        if let current = call.topic {
            guard message.topic.isEmpty || message.topic == current else {
                throw failure(
                    GRPCStatus(
                        .invalidArgument, "a Publish call publishes to one topic ('\(current)'); open another call for another",
                        metadata: [(GRPCStatus.newsroomCodeKey, "invalid_topic")]))
            }
        } else {
            call.topic = message.topic
        }
        guard message.unknownFields.data.isEmpty else {
            throw failure(
                GRPCStatus(
                    .invalidArgument, "unknown fields in the request (is the client's .proto newer than the hub's?)",
                    metadata: [(GRPCStatus.newsroomCodeKey, "invalid_event")]))
        }
        guard message.hasEvent else {
            throw failure(GRPCStatus(.invalidArgument, "missing 'event'", metadata: [(GRPCStatus.newsroomCodeKey, "invalid_event")]))
        }
        let payload: EventPayload
        do {
            payload = try ProtobufEventDecoder.decodePublished(message.event)
        } catch {
            throw failure(GRPCStatus(.invalidArgument, error.message, metadata: [(GRPCStatus.newsroomCodeKey, "invalid_event")]))
        }
        do throws(ControlError) {
            // Access, the publish rate limit, the fan-out's back-pressure and the broker-or-hub choice.
            let receipt = try await self.control.publish([payload], to: call.topic!, as: principal, from: client)
            if call.count == 0 { call.firstSeq = receipt.firstSeq }
            call.lastSeq = receipt.lastSeq
            call.count += 1
        } catch {
            throw failure(GRPCStatus(error))
        }
    }

    /// The `PublishSummary` that answers a `Publish` call that published `call`.
    static func summary(_ call: PublishCall) throws(GRPCStatus) -> [UInt8] {
        guard let topic = call.topic, call.count > 0 else {
            throw GRPCStatus(.invalidArgument, "the call sent no events", metadata: [(GRPCStatus.newsroomCodeKey, "invalid_event")])
        }
        var summary = Newsroom_V1_PublishSummary()
        summary.topic = topic
        summary.firstSeq = UInt64(call.firstSeq)
        summary.lastSeq = UInt64(call.lastSeq)
        summary.count = UInt64(call.count)
        do throws(ControlError) {
            return try Self.encode(summary)
        } catch {
            throw GRPCStatus(error)
        }
    }

    // MARK: Messages

    static func decode<Message: SwiftProtobuf.Message>(_ bytes: ByteBuffer) throws(ControlError) -> Message {
        do {
            return try Message(serializedBytes: Array(bytes.readableBytesView))
        } catch {
            throw ControlError.invalidArgument("the request message is not a valid \(Message.protoMessageName)")
        }
    }

    static func encode(_ message: some SwiftProtobuf.Message) throws(ControlError) -> [UInt8] {
        do {
            return try message.serializedBytes()
        } catch {
            throw ControlError.internalError
        }
    }

    /// The hub's generation request for a protobuf one (the JSON form's rules; limits are the control
    /// service's).
    static func generationRequest(
        _ message: Newsroom_V1_GenerationRequest, traceHeaders: [(String, String)]
    ) throws(ControlError) -> GenerationRequest {
        guard !message.provider.isEmpty else { throw ControlError.invalidArgument("missing field 'provider'") }
        guard !message.request.isEmpty else {
            throw ControlError.invalidArgument("missing field 'request' (the provider's JSON body)")
        }
        let body: JSONValue
        do {
            body = try JSONValue.parse(message.request.utf8)
        } catch {
            throw ControlError.invalidArgument("'request' is not valid JSON: \(error.message)")
        }
        guard case .object = body else { throw ControlError.invalidArgument("'request' must be a JSON object") }
        let idle = message.hasCancelWhenIdleS ? try ControlService.cancelWhenIdle(seconds: message.cancelWhenIdleS) : nil
        return GenerationRequest(
            provider: message.provider, body: body, topic: message.hasTopic ? message.topic : nil,
            cancelWhenIdle: idle, traceHeaders: traceHeaders,
            conversation: message.hasConversation ? message.conversation : nil, announcePrompt: message.announcePrompt)
    }
}
