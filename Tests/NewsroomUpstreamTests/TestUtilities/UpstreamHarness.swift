import Foundation
import NIOCore
import NIOPosix
import NewsroomCore
import NewsroomDemo
import NewsroomTesting
import NewsroomUpstream
import NewsroomWire
import Synchronization

/// The real path for one test: a hub with the SSE encoder, the replay upstream on loopback serving the
/// test transcripts, and a generation manager whose every provider points at the replay server with
/// ``apiKey``. Everything is torn down when the body returns.
struct UpstreamHarness {
    /// The key configured for every provider; it must never leave in an event, error or log line.
    static let apiKey = "sk-test-REPLAYKEY0123456789"

    let group: any EventLoopGroup
    let hub: Hub
    let upstream: ReplayUpstream
    let manager: GenerationManager
    let logs: LogRecorder
    let metrics: TestMetricsFactory

    static func run(
        configure: (inout GenerationManager.Configuration) -> Void = { _ in },
        replay: (inout ReplayUpstream.Configuration) -> Void = { _ in },
        publishObserver: (@Sendable (PublishObservation) -> Void)? = nil,
        _ body: (UpstreamHarness) async throws -> Void
    ) async throws {
        // Own threads per test: the upstream on one loop, the hub and the HTTP client on another, so
        // the timings a test asserts do not depend on what other tests do with shared loops.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstreamGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hub = Hub(encoders: [SSEEncoder()], eventLoopGroup: group)
        var replayConfiguration = ReplayUpstream.Configuration.defaults
        replayConfiguration.eventDelay = .milliseconds(2)
        replay(&replayConfiguration)
        let upstream = try ReplayUpstream(
            directory: TranscriptFixtures.directory, configuration: replayConfiguration, eventLoopGroup: upstreamGroup)
        try await upstream.start()
        var configuration = GenerationManager.Configuration.defaults
        for id in configuration.providers.keys {
            configuration.providers[id]!.baseURL = upstream.baseURL
            configuration.providers[id]!.apiKey = Self.apiKey
        }
        configuration.retry.initialBackoff = .milliseconds(20)
        configuration.retry.maxBackoff = .milliseconds(100)
        configure(&configuration)
        let logs = LogRecorder()
        let logger = logs.logger(label: "newsroom.upstream.test")
        let metrics = TestMetricsFactory()
        let manager = GenerationManager(
            configuration: configuration, hub: hub, eventLoopGroup: group, logger: logger, metricsFactory: metrics,
            publishObserver: publishObserver)
        let harness = UpstreamHarness(
            group: group, hub: hub, upstream: upstream, manager: manager, logs: logs, metrics: metrics)
        do {
            try await body(harness)
        } catch {
            await manager.shutdown()
            try? await upstream.stop()
            await hub.shutdown()
            try? await group.shutdownGracefully()
            try? await upstreamGroup.shutdownGracefully()
            throw error
        }
        await manager.shutdown()
        try await upstream.stop()
        await hub.shutdown()
        try await group.shutdownGracefully()
        try await upstreamGroup.shutdownGracefully()
    }

    /// A request body for `provider` that asks the replay server for `transcript` (and `behavior`).
    static func body(provider: String, transcript: String, behavior: String? = nil) -> JSONValue {
        var object: [String: JSONValue] = [
            "model": .string(provider == "gemini" ? "gemini-2.5-flash" : "test-model"),
            "replay_transcript": .string(transcript),
        ]
        switch provider {
        case "tgi": object["inputs"] = .string("What is deep learning?")
        case "gemini": object["contents"] = .array([.object(["parts": .array([.object(["text": .string("Hi")])])])])
        case "openai-responses": object["input"] = .string("Hi")
        default:
            object["messages"] = .array([.object(["role": .string("user"), "content": .string("Hi")])])
        }
        if let behavior { object["replay_behavior"] = .string(behavior) }
        return .object(object)
    }

    /// Subscribes a recording sink to a new topic, then starts a generation into it.
    func start(
        provider: String, transcript: String, behavior: String? = nil, topic: String? = nil,
        cancelWhenIdle: TimeAmount? = nil, subscribe: Bool = true, traceHeaders: [(String, String)] = []
    ) async throws -> (info: GenerationInfo, sink: RecordingSink?) {
        let topic = topic ?? "test:\(UUID().uuidString.prefix(8))"
        let sink =
            subscribe ? try await RecordingSink.subscribe(to: topic, hub: self.hub, eventLoop: self.group.next()) : nil
        let info = try await self.manager.start(
            GenerationRequest(
                provider: provider, body: Self.body(provider: provider, transcript: transcript, behavior: behavior),
                topic: topic, cancelWhenIdle: cancelWhenIdle, traceHeaders: traceHeaders))
        return (info, sink)
    }

    /// Waits until the topic has ended, then replays its whole history to a new subscriber.
    func replay(topic: String, timeout: TimeAmount = .seconds(10)) async throws -> [EventPayload] {
        let deadline = NIODeadline.now() + timeout
        while self.hub.snapshot(ofTopic: topic)?.state != .ended, NIODeadline.now() < deadline {
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        let sink = try await RecordingSink.subscribe(to: topic, hub: self.hub, eventLoop: self.group.next())
        try await sink.waitForClose()
        return try await sink.payloads()
    }

    /// Waits until `info(generation:)` reports an end state.
    func waitForEnd(of id: String, timeout: TimeAmount = .seconds(10)) async throws -> GenerationInfo? {
        let deadline = NIODeadline.now() + timeout
        while NIODeadline.now() < deadline {
            if let info = await self.manager.info(generation: id), info.state != .running { return info }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        return await self.manager.info(generation: id)
    }
}

/// A TCP listener that never accepts and whose accept queue is full, so a connect to it hangs until
/// the client's connect timeout (Linux drops the SYNs). For the connect-timeout test.
final class BlackholeListener {
    private var descriptors: [Int32] = []
    private(set) var port = 0

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EIO) }
        self.descriptors.append(listener)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, listen(listener, 0) == 0 else { throw POSIXError(.EIO) }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        // Fill the accept queue with connections nobody accepts.
        for _ in 0..<3 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            self.descriptors.append(filler)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        usleep(100_000)
    }

    deinit {
        for descriptor in self.descriptors { close(descriptor) }
    }
}
