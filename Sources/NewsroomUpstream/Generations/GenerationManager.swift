import AsyncHTTPClient
import CoreMetrics
import Logging
import NIOCore
import NewsroomCore
import Synchronization
import Tracing

/// Runs generations: one upstream LLM request each, streamed, decoded by its provider's adapter and
/// published to a hub topic as standard events.
///
/// One shared `HTTPClient` serves every generation. A generation is one task: it sends the request
/// (retrying connect errors and retryable statuses before the first byte of the body), then reads the
/// response body with backpressure — the next chunk is read only after the events decoded from the
/// previous one are published, and publishing never blocks (the hub queues per subscriber) — and
/// publishes the events decoded from each chunk as one batch. A watchdog next to it enforces the
/// first-byte, idle and total timeouts and `cancel_when_idle`.
///
/// Cancelling a generation (``cancel(generation:)``, ``cancel(topic:)``, idleness, ``shutdown()``)
/// cancels its task, which makes AsyncHTTPClient close the upstream connection at once; the topic then
/// ends with `stream_complete(finish_reason: cancelled)` after whatever was published before.
///
/// - Important: Call ``shutdown()`` (or use
///   ``withGenerationManager(configuration:hub:eventLoopGroup:logger:metricsFactory:_:)``)
///   before releasing the manager: it cancels running generations and shuts the HTTP client down.
public final class GenerationManager: GenerationService, Sendable {
    /// What the manager was created with.
    public let configuration: Configuration
    let hub: Hub
    let httpClient: HTTPClient
    let logger: Logger
    let metrics: GenerationMetrics
    let providers: [String: (adapter: any UpstreamAdapter, provider: UpstreamProvider)]
    let publishObserver: (@Sendable (PublishObservation) -> Void)?
    /// Shares topics with other nodes: generations then hold a lease on their topic and publish through it.
    let broker: (any Broker)?

    struct Registry {
        /// Running generations by id.
        var running: [String: GenerationRun] = [:]
        var runningByTopic: [String: String] = [:]
        /// Ended generations (only their info: the run and its request body are released), by id.
        var finished: [String: (info: GenerationInfo, endedAt: NIODeadline)] = [:]
        var isShuttingDown = false
        var lastPrune = NIODeadline.uptimeNanoseconds(0)
    }

    let registry = Mutex(Registry())
    /// Provider streams that apps tee into topics (`POST /v1/topics/{topic}/events?format=…`).
    let providerStreams = ProviderStreamDecoders()

    /// Creates a manager and its HTTP client.
    /// - Parameters:
    ///   - configuration: Providers, timeouts, retries and limits.
    ///   - hub: Where the events are published.
    ///   - eventLoopGroup: The group the HTTP client's connections run on (the server's group is fine).
    ///   - logger: Where generation lifecycle events are logged (levels ≤ info; never keys, bodies or
    ///     model output).
    ///   - metricsFactory: Where metrics go; the process-wide factory by default.
    ///   - publishObserver: Called after every publish with the time the upstream chunk arrived, for
    ///     measuring the hub-added latency. Called on the generation's task; keep it cheap.
    /// - Precondition: The configuration is valid (``Configuration/validate()``): check configuration read
    ///   from files or the environment with it first.
    public init(
        configuration: Configuration = .defaults, hub: Hub, eventLoopGroup: any EventLoopGroup,
        logger: Logger = Logger(label: "newsroom.upstream"), metricsFactory: (any MetricsFactory)? = nil,
        publishObserver: (@Sendable (PublishObservation) -> Void)? = nil, broker: (any Broker)? = nil
    ) {
        self.broker = broker
        do {
            try configuration.validate()
        } catch {
            preconditionFailure("invalid generation configuration: \(error)")
        }
        self.configuration = configuration
        self.hub = hub
        self.logger = logger
        self.publishObserver = publishObserver
        var providers: [String: (adapter: any UpstreamAdapter, provider: UpstreamProvider)] = [:]
        for (id, provider) in configuration.providers {
            guard let adapter = UpstreamAdapters.adapter(named: provider.adapter) else {
                preconditionFailure(
                    "provider '\(id)' names unknown adapter '\(provider.adapter)'; known: \(UpstreamAdapters.names)")
            }
            providers[id] = (
                adapter,
                UpstreamProvider(id: id, baseURL: provider.baseURL, apiKey: provider.apiKey, headers: provider.headers)
            )
        }
        self.providers = providers
        self.metrics = GenerationMetrics(
            providers: providers.keys.sorted(), factory: metricsFactory ?? MetricsSystem.factory)
        var clientConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,  // a redirect could carry the key to another host
            timeout: .init(connect: configuration.timeouts.connect, read: nil),
            decompression: .disabled)
        clientConfiguration.connectionPool.idleTimeout = .seconds(60)
        self.httpClient = HTTPClient(
            eventLoopGroup: eventLoopGroup, configuration: clientConfiguration, backgroundActivityLogger: logger)
        if let broker {
            // Another node asked to cancel the generation this node runs on a topic.
            broker.onCancelRequest { [weak self] topic in _ = await self?.cancel(topic: topic) }
        }
    }

    /// The number of running generations.
    public var runningCount: Int { self.registry.withLock { $0.running.count } }

    /// The provider ids that can be used.
    public var providerIDs: [String] { self.providers.keys.sorted() }

    // MARK: GenerationService

    /// Starts a generation and returns once it runs (the upstream request is made in the background).
    ///
    /// - Throws: ``GenerationError`` — `unknownProvider`; `badRequest` (body not an object, invalid
    ///   topic name, an adapter's required field missing); `topicBusy` (the topic has a running
    ///   generation, or has ended); `tooManyGenerations` with `retryAfterSeconds`; `shuttingDown`.
    public func start(_ request: GenerationRequest) async throws(GenerationError) -> GenerationInfo {
        guard let (adapter, provider) = self.providers[request.provider] else {
            throw GenerationError(
                code: .unknownProvider,
                message:
                    "unknown provider '\(request.provider.prefix(64))'; configured: "
                    + self.providerIDs.joined(separator: ", ")
            )
        }
        try Self.requireKey(provider)
        let upstreamRequest = try adapter.makeRequest(body: request.body, provider: provider)
        let id = Self.makeID()
        let topic = request.topic ?? id
        guard TopicName.isValid(topic) else {
            throw GenerationError(
                code: .badRequest, message: "'topic' must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")
        }
        if let cancelWhenIdle = request.cancelWhenIdle, cancelWhenIdle <= .zero {
            throw GenerationError(code: .badRequest, message: "'cancel_when_idle_s' must be positive")
        }
        if self.hub.snapshot(ofTopic: topic)?.state == .ended {
            throw GenerationError(code: .topicBusy, message: "topic '\(topic)' has ended")
        }
        let run = GenerationRun(
            id: id, topic: topic, provider: request.provider, adapter: adapter, request: upstreamRequest,
            traceHeaders: request.traceHeaders.filter { ["traceparent", "tracestate"].contains($0.0.lowercased()) },
            cancelWhenIdle: request.cancelWhenIdle, owner: request.owner, redactor: SecretRedactor(secrets: [provider.apiKey]),
            logger: self.logger(for: id, topic: topic, provider: request.provider),
            conversationTopic: request.conversation.map(Conversation.topic),
            announcedPrompt: request.announcePrompt ? ConversationPrompt.lastUserMessage(in: request.body) : nil)
        return try await self.launch(run)
    }

    /// Registers a new run, takes its topic's lease (with a broker), creates the topic and starts the
    /// run's task.
    func launch(_ run: GenerationRun) async throws(GenerationError) -> GenerationInfo {
        let topic = run.topic
        try self.register(run)
        if let broker = self.broker {
            // One generation per topic across every node: the lease decides.
            let acquired: Bool
            do {
                acquired = try await broker.acquireLease(of: topic)
            } catch {
                self.unregister(run)
                throw GenerationError(code: .shuttingDown, message: "the broker is unavailable: \(error.message)")
            }
            guard acquired else {
                self.unregister(run)
                throw GenerationError(code: .topicBusy, message: "topic '\(topic)' already has a running generation")
            }
        }
        do {
            try self.hub.createTopic(named: topic)
        } catch {
            self.unregister(run)
            throw error.code == .shuttingDown
                ? GenerationError(code: .shuttingDown, message: "the hub is shutting down")
                : GenerationError(
                    code: .tooManyGenerations, message: error.message,
                    retryAfterSeconds: Self.seconds(self.configuration.busyRetryAfter))
        }
        // Every node can now answer for this id (GET, and DELETE reaching this node through the broker).
        await self.broker?.recordGeneration(run.info)
        self.metrics.running.increment()
        // The generation's span continues the caller's trace (`traceparent`); AsyncHTTPClient makes the
        // upstream call a child span and injects its context into the provider request.
        var parent = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(run.traceHeaders, into: &parent, using: TraceHeadersExtractor())
        let task = Task {
            await withSpan("newsroom.generation", context: parent, ofKind: .internal) { span in
                span.attributes["newsroom.generation"] = run.id
                span.attributes["newsroom.topic"] = run.topic
                span.attributes["gen_ai.system"] = run.provider
                // Logged inside the span: the line carries the caller's trace id.
                run.logger.info("generation started")
                await self.run(run)
                let info = run.info
                span.attributes["newsroom.generation.state"] = info.state.rawValue
                if let finish = info.finishReason { span.attributes["gen_ai.response.finish_reasons"] = [finish.rawValue] }
                if let usage = info.usage {
                    if let input = usage.inputTokens { span.attributes["gen_ai.usage.input_tokens"] = input }
                    if let output = usage.outputTokens { span.attributes["gen_ai.usage.output_tokens"] = output }
                }
                if info.state == .failed { span.setStatus(SpanStatus(code: .error)) }
            }
        }
        run.attach(task: task)
        return run.info
    }

    public func cancel(generation id: String) async -> GenerationInfo? {
        let (run, finished) = self.registry.withLock { ($0.running[id], $0.finished[id]?.info) }
        guard let run else {
            if let finished { return finished }
            return await self.cancelElsewhere(generation: id)
        }
        return await self.cancel(run, reason: .cancelled)
    }

    /// With a broker, a generation another node runs: its topic is cancelled through the broker, which
    /// asks that node to abort the upstream request. The answer is the shared record, marked cancelled
    /// when it was running (the owner records the final state as it ends).
    private func cancelElsewhere(generation id: String) async -> GenerationInfo? {
        guard let broker = self.broker, var remote = await broker.generation(id) else { return nil }
        guard remote.state == .running else { return remote }
        do {
            _ = try await broker.cancelTopic(remote.topic)
        } catch {
            self.logger.info("cross-node cancel failed", metadata: ["newsroom.hub.error": "\(error.code)"])
            return remote
        }
        remote.state = .cancelled
        remote.finishReason = .cancelled
        return remote
    }

    public func cancel(topic: String) async -> GenerationInfo? {
        let run = self.registry.withLock { registry in
            registry.runningByTopic[topic].flatMap { registry.running[$0] }
        }
        guard let run else { return nil }
        return await self.cancel(run, reason: .cancelled)
    }

    /// The running generations, oldest first, then up to `limit` ended ones still remembered, most
    /// recently ended first.
    public func recentGenerations(limit: Int) async -> [GenerationInfo] {
        let (running, finished) = self.registry.withLock { registry in
            (Array(registry.running.values), Array(registry.finished.values))
        }
        let live = running.map(\.info).sorted { $0.queuedAt < $1.queuedAt }
        let ended = finished.sorted { $0.endedAt > $1.endedAt }.prefix(max(0, limit)).map(\.info)
        return live + ended
    }

    public func info(generation id: String) async -> GenerationInfo? {
        self.prune()
        let (run, finished) = self.registry.withLock { ($0.running[id], $0.finished[id]?.info) }
        if let local = run?.info ?? finished { return local }
        return await self.broker?.generation(id)
    }

    /// Cancels every running generation (each topic ends with `stream_complete(cancelled)`), waits for
    /// them to end, and shuts the HTTP client down. New starts fail with `shuttingDown`. Idempotent.
    public func shutdown() async {
        let (runs, first) = self.registry.withLock { registry -> ([GenerationRun], Bool) in
            let first = !registry.isShuttingDown
            registry.isShuttingDown = true
            return (Array(registry.running.values), first)
        }
        for run in runs { run.abort(.shutdown) }
        for run in runs { await run.state.withLock { $0.task }?.value }
        guard first else { return }
        do {
            try await self.httpClient.shutdown()
        } catch {
            self.logger.debug("http client shutdown failed", metadata: ["newsroom.error": "\(type(of: error))"])
        }
        self.logger.info("generation manager stopped")
    }

    // MARK: Registry

    private func register(_ run: GenerationRun) throws(GenerationError) {
        self.prune()
        try self.registry.withLock { (registry: inout Registry) throws(GenerationError) in
            if registry.isShuttingDown {
                throw GenerationError(code: .shuttingDown, message: "the hub is shutting down")
            }
            if registry.runningByTopic[run.topic] != nil {
                throw GenerationError(
                    code: .topicBusy, message: "topic '\(run.topic)' already has a running generation")
            }
            let perOwner = self.configuration.maxConcurrentGenerationsPerOwner
            if perOwner > 0, let owner = run.owner,
                registry.running.values.lazy.filter({ $0.owner == owner }).count >= perOwner
            {
                throw GenerationError(
                    code: .tooManyGenerations, message: "\(perOwner) generations of this token are running, the most allowed",
                    retryAfterSeconds: Self.seconds(self.configuration.busyRetryAfter))
            }
            guard registry.running.count < self.configuration.maxConcurrentGenerations else {
                throw GenerationError(
                    code: .tooManyGenerations,
                    message: "\(self.configuration.maxConcurrentGenerations) generations are running, the most allowed",
                    retryAfterSeconds: Self.seconds(self.configuration.busyRetryAfter))
            }
            registry.running[run.id] = run
            registry.runningByTopic[run.topic] = run.id
        }
    }

    private func unregister(_ run: GenerationRun) {
        self.registry.withLock { registry in
            registry.running[run.id] = nil
            registry.runningByTopic[run.topic] = nil
        }
    }

    /// Moves a run to the finished generations (it stays in ``info(generation:)`` for the retention).
    func finished(_ run: GenerationRun) {
        let info = run.info
        self.registry.withLock { registry in
            registry.running[run.id] = nil
            if registry.runningByTopic[run.topic] == run.id { registry.runningByTopic[run.topic] = nil }
            registry.finished[run.id] = (info, .now())
        }
    }

    /// Forgets finished generations older than the retention.
    private func prune() {
        let now = NIODeadline.now()
        let retention = self.configuration.retention
        self.registry.withLock { registry in
            // At most once a second: it visits every remembered generation.
            guard now - registry.lastPrune >= .seconds(1) else { return }
            registry.lastPrune = now
            registry.finished = registry.finished.filter { now - $0.value.endedAt < retention }
        }
    }

    private func cancel(_ run: GenerationRun, reason: AbortReason) async -> GenerationInfo {
        run.abort(reason)
        await run.state.withLock { $0.task }?.value
        return run.info
    }

    // MARK: Helpers

    func logger(for id: String, topic: String, provider: String) -> Logger {
        var logger = self.logger
        logger[metadataKey: "newsroom.generation"] = "\(id)"
        logger[metadataKey: "newsroom.topic"] = "\(topic)"
        logger[metadataKey: "newsroom.upstream.provider"] = "\(provider)"
        return logger
    }

    /// `gen_` and 24 random lowercase hex digits.
    static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        func hex(_ value: UInt64, digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        return "gen_" + hex(high, digits: 16) + hex(low >> 32, digits: 8)
    }

    static func seconds(_ amount: TimeAmount) -> Int {
        max(1, Int((amount.nanoseconds + 999_999_999) / 1_000_000_000))
    }
}

/// One publish of a generation, for measuring the hub-added latency: the time from an upstream chunk
/// arriving to its events being accepted by the hub (``publishedAt`` − ``chunkReceivedAt``); the time
/// from there to a subscriber's write is the hub's delivery lag (its `newsroom_delivery_lag_seconds`).
public struct PublishObservation: Sendable {
    public var generation: String
    public var topic: String
    public var provider: String
    /// When the body chunk the events were decoded from was handed to the runner.
    public var chunkReceivedAt: NIODeadline
    /// When the hub accepted the batch.
    public var publishedAt: NIODeadline
    /// The seqs the batch got.
    public var receipt: Topic.PublishReceipt
}

/// Runs `body` with a new manager and shuts it down when `body` returns or throws.
public func withGenerationManager<Result>(
    configuration: GenerationManager.Configuration = .defaults, hub: Hub, eventLoopGroup: any EventLoopGroup,
    logger: Logger = Logger(label: "newsroom.upstream"), metricsFactory: (any MetricsFactory)? = nil,
    _ body: (GenerationManager) async throws -> Result
) async throws -> Result {
    let manager = GenerationManager(
        configuration: configuration, hub: hub, eventLoopGroup: eventLoopGroup, logger: logger,
        metricsFactory: metricsFactory)
    do {
        let result = try await body(manager)
        await manager.shutdown()
        return result
    } catch {
        await manager.shutdown()
        throw error
    }
}

/// Reads `traceparent`/`tracestate` from the headers the transport passed along.
struct TraceHeadersExtractor: Extractor {
    func extract(key: String, from carrier: [(String, String)]) -> String? {
        carrier.first { $0.0.lowercased() == key }?.1
    }
}

extension GenerationManager {
    /// The hosted APIs, which answer nothing without a key.
    static let hostedBaseURLs: Set<String> = [
        "https://api.openai.com", "https://api.anthropic.com", "https://generativelanguage.googleapis.com",
    ]

    /// Refuses a provider on a hosted API with no key at once (`provider_not_configured`, naming the
    /// setting), rather than accepting a generation whose viewers would wait for the upstream's refusal.
    static func requireKey(_ provider: UpstreamProvider) throws(GenerationError) {
        let base = provider.baseURL.hasSuffix("/") ? String(provider.baseURL.dropLast()) : provider.baseURL
        guard provider.apiKey == nil, Self.hostedBaseURLs.contains(base) else { return }
        let variable = "NEWSROOM_PROVIDER_" + String(provider.id.uppercased().map { $0 == "-" ? "_" : $0 }) + "_API_KEY"
        throw GenerationError(
            code: .providerNotConfigured,
            message: "provider '\(provider.id)' has no API key: set \(variable) (or provider.\(provider.id).apiKey)")
    }
}
