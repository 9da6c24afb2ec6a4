import GRPCCore
import NewsroomProto
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOPosix
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomHTTP
import NewsroomWire
import Synchronization
import Testing

/// The trailer with the hub's snake_case error code (`slow_consumer`, `topic_not_found`, …).
let newsroomCodeKey = "newsroom-code"
/// The trailer of a failed `Publish` call with the last seq it published.
let lastSeqKey = "newsroom-last-seq"

/// A hub and its listener on `127.0.0.1:0`, serving gRPC on the hub's one port, for tests over real
/// loopback sockets with grpc-swift's client.
struct GRPCTestHub: Sendable {
    let hub: Hub
    let server: HTTPServer
    let group: MultiThreadedEventLoopGroup
    let port: Int

    /// A client of the Newsroom service on its own connection, for the body's duration.
    func withClient<Result: Sendable>(
        _ body: (Newsroom_V1_Newsroom.Client<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        try await self.withRawClient { client in
            try await body(Newsroom_V1_Newsroom.Client(wrapping: client))
        }
    }

    /// A bare gRPC client on its own connection, for calls with hand-made bytes.
    func withRawClient<Result: Sendable>(
        _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: self.port), transportSecurity: .plaintext,
                eventLoopGroup: GRPCTestHub.clientGroup),
            handleClient: body)
    }

    /// A client of the health service on its own connection, for the body's duration.
    func withHealthClient<Result: Sendable>(
        _ body: (Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        try await self.withRawClient { client in
            try await body(Grpc_Health_V1_Health.Client(wrapping: client))
        }
    }

    /// The number of subscribers of `topic` (0 if it does not exist).
    func subscribers(of topic: String) -> Int {
        self.hub.snapshot(ofTopic: topic)?.subscribers ?? 0
    }

    /// Waits until `condition` holds, polling every 5 ms.
    /// - Throws: If it does not hold within `timeout`.
    func waitUntil(
        timeout: Duration = .seconds(10), _ what: String = "condition",
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while try await !condition() {
            guard clock.now < deadline else {
                Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
                throw TimeoutError()
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    struct TimeoutError: Error {}

    /// The event loops the test clients run on (not the server's).
    static let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
}

/// Starts a hub and its listener on an ephemeral loopback port, runs `body`, then shuts both down.
func withGRPCTestHub<Result: Sendable>(
    threads: Int = 2,
    configureHub: (inout Hub.Configuration) -> Void = { _ in },
    configureHTTP: (inout HTTPServer.Configuration) -> Void = { _ in },
    generations: (any GenerationService)? = nil,
    authenticator: Authenticator? = nil,
    configureControl: (inout ControlService.Configuration) -> Void = { _ in },
    broker: (any Broker)? = nil,
    metrics: RecordingMetricsFactory = RecordingMetricsFactory(),
    _ body: (GRPCTestHub) async throws -> Result
) async throws -> Result {
    let logger = Logger(label: "newsroom.grpc.test")
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    let hub = Hub(
        configuration: .defaults(configure: configureHub), encoders: HTTPServer.encoders, eventLoopGroup: group,
        logger: logger, metricsFactory: metrics)
    var configuration = HTTPServer.Configuration.defaults(configure: configureHTTP)
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.shutdownGracePeriod = .milliseconds(500)
    let control = ControlService(
        hub: hub, generations: generations, broker: broker, authenticator: authenticator,
        configuration: .defaults(configure: configureControl), logger: logger, metricsFactory: metrics)
    let server = HTTPServer(
        configuration: configuration, control: control, eventLoopGroup: group, logger: logger, metricsFactory: metrics)
    let outcome: Swift.Result<Result, any Error>
    do {
        let address = try await server.start()
        outcome = .success(try await body(GRPCTestHub(hub: hub, server: server, group: group, port: address.port!)))
    } catch {
        outcome = .failure(error)
    }
    await hub.shutdown()
    await server.shutdown()
    // Everything that runs on the group has stopped by now.
    try await group.shutdownGracefully()
    return try outcome.get()
}

/// A `SubscribeRequest`.
func subscribeRequest(
    _ topic: String, after: UInt64 = 0, policy: Newsroom_V1_SlowConsumerPolicy = .unspecified
) -> Newsroom_V1_SubscribeRequest {
    var request = Newsroom_V1_SubscribeRequest()
    request.topic = topic
    request.after = after
    request.policy = policy
    return request
}

/// A `PublishRequest` holding `event`.
func publishRequest(_ topic: String, _ event: Newsroom_V1_Event) -> Newsroom_V1_PublishRequest {
    var request = Newsroom_V1_PublishRequest()
    request.topic = topic
    request.event = event
    return request
}

/// A protobuf event holding a text delta.
func textEvent(_ text: String, index: UInt32 = 0) -> Newsroom_V1_Event {
    var delta = Newsroom_V1_TextDelta()
    delta.text = text
    delta.index = index
    var event = Newsroom_V1_Event()
    event.textDelta = delta
    return event
}

/// A protobuf event holding `stream_complete`.
func completeEvent(_ reason: Newsroom_V1_FinishReason = .stop) -> Newsroom_V1_Event {
    var complete = Newsroom_V1_StreamComplete()
    complete.finishReason = reason
    var event = Newsroom_V1_Event()
    event.streamComplete = complete
    return event
}

func text(_ string: String) -> EventPayload { .textDelta(TextDelta(text: string)) }

let complete = EventPayload.streamComplete(StreamComplete(finishReason: .stop))

/// The text of the text deltas among `events`, concatenated.
func assembledText(_ events: [Newsroom_V1_Event]) -> String {
    events.compactMap { event -> String? in
        if case .textDelta(let delta)? = event.payload { return delta.text }
        return nil
    }.joined()
}

/// Collects what a subscription receives, readable while it runs.
final class EventCollector: Sendable {
    private let state = Mutex<[Newsroom_V1_Event]>([])

    var events: [Newsroom_V1_Event] { self.state.withLock { $0 } }
    var count: Int { self.state.withLock { $0.count } }

    func append(_ event: Newsroom_V1_Event) {
        self.state.withLock { $0.append(event) }
    }
}

/// A generation service that records calls and publishes like the real one, with injectable failures.
final class FakeGenerationService: GenerationService {
    struct State {
        var generations: [String: GenerationInfo] = [:]
        var requests: [GenerationRequest] = []
        var failure: GenerationError?
        var next = 1
    }

    let hub: Hub
    let state = Mutex(State())

    init(hub: Hub) {
        self.hub = hub
    }

    func fail(with error: GenerationError?) {
        self.state.withLock { $0.failure = error }
    }

    var requests: [GenerationRequest] { self.state.withLock { $0.requests } }

    func start(_ request: GenerationRequest) async throws(GenerationError) -> GenerationInfo {
        let result = self.state.withLock { state -> Swift.Result<GenerationInfo, GenerationError> in
            state.requests.append(request)
            if let failure = state.failure { return .failure(failure) }
            let id = "gen_\(state.next)"
            state.next += 1
            let topic = request.topic ?? "topic-\(id)"
            if state.generations.values.contains(where: { $0.topic == topic && $0.state == .running }) {
                return .failure(GenerationError(code: .topicBusy, message: "topic '\(topic)' has a running generation"))
            }
            let info = GenerationInfo(
                id: id, topic: topic, provider: request.provider, model: request.body["model"]?.stringValue,
                state: .running, queuedAt: .now())
            state.generations[id] = info
            return .success(info)
        }
        let info = try result.get()
        _ = try? self.hub.publish(
            [
                .streamStart(StreamStart(generation: info.id, provider: info.provider, model: info.model)),
                text("Hello"),
            ],
            to: info.topic)
        return info
    }

    func cancel(generation id: String) async -> GenerationInfo? {
        let info = self.state.withLock { state -> GenerationInfo? in
            guard var info = state.generations[id] else { return nil }
            if info.state == .running {
                info.state = .cancelled
                info.finishReason = .cancelled
                info.completedAt = .now()
                state.generations[id] = info
            }
            return info
        }
        if let info {
            _ = try? self.hub.publish(.streamComplete(StreamComplete(finishReason: .cancelled)), to: info.topic)
        }
        return info
    }

    func cancel(topic: String) async -> GenerationInfo? {
        let id = self.state.withLock { state in
            state.generations.values.first { $0.topic == topic && $0.state == .running }?.id
        }
        guard let id else { return nil }
        return await self.cancel(generation: id)
    }

    func info(generation id: String) async -> GenerationInfo? {
        self.state.withLock { $0.generations[id] }
    }
}

/// Sends bytes as they are (to test what the server does with malformed messages).
struct RawBytesSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }
}
