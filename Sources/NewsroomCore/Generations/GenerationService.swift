import NIOCore

/// Runs generations — one upstream LLM request streamed into one topic — for the transports.
///
/// Implemented by `NewsroomUpstream`; the HTTP, WebSocket and gRPC transports call it through this
/// protocol, so they never import provider code (and providers never import transport code).
public protocol GenerationService: Sendable {
    /// Starts a generation. Returns once it is accepted (queued or running), not when it ends.
    /// - Throws: ``GenerationError`` (unknown provider, bad request, topic busy, too many running).
    func start(_ request: GenerationRequest) async throws(GenerationError) -> GenerationInfo

    /// Cancels a generation: the upstream request is aborted and the topic ends with
    /// `stream_complete` (`finish_reason: cancelled`). Returns `nil` if there is no such generation.
    func cancel(generation id: String) async -> GenerationInfo?

    /// Cancels the running generation of a topic; `nil` if none runs there.
    func cancel(topic: String) async -> GenerationInfo?

    /// The state of a generation; `nil` if unknown (or forgotten after the topic's retention).
    func info(generation id: String) async -> GenerationInfo?

    /// The generations this node runs, oldest first, then up to `limit` that ended here, most recent
    /// first (the operator's console).
    func recentGenerations(limit: Int) async -> [GenerationInfo]

    /// Starts a proxied generation: the caller's request to a provider's own API, answered in that
    /// provider's format while its events are published (see ``ProxyRequest``).
    func proxy(_ request: ProxyRequest) async throws(GenerationError) -> GenerationInfo

    /// The adapter a provider id uses (`openai`, `anthropic`, …), for routing proxied requests; `nil` if
    /// the provider is not configured.
    func adapterName(ofProvider provider: String) -> String?

    /// Whether a provider forwards the caller's own key instead of the hub's (bring-your-own-key).
    func passesCallerKey(provider: String) -> Bool

    /// Decodes a provider's own stream that an app tees into `topic` (what its SDK yielded, or the raw
    /// body) into events, with the same decoders as generations. A stream may come in several posts:
    /// the decoder stays open between them until a post with `final`.
    /// - Parameters:
    ///   - format: `openai-chat` (or `openai`), `openai-responses`, `anthropic`, `gemini`, `ollama`, `tgi`.
    ///   - chunkLines: The body holds one chunk object per line (as SDKs yield them), not the raw stream.
    /// - Throws: `bad_request` (unknown format, a format other than the open stream's),
    ///   `too_many_generations` (too many open streams).
    func decodeProviderStream(
        topic: String, format: String, body: ByteBuffer, chunkLines: Bool, final: Bool
    ) throws(GenerationError) -> [EventPayload]
}

extension GenerationService {
    /// None: services that keep no registry list nothing.
    public func recentGenerations(limit: Int) async -> [GenerationInfo] { [] }
}

/// What a client asks for in `POST /v1/generations` (and the WebSocket `generate` op, and gRPC).
public struct GenerationRequest: Sendable, Hashable {
    /// The provider id (`openai`, `anthropic`, …).
    public var provider: String
    /// The provider's own request body; the hub forces streaming and otherwise passes it through.
    public var body: JSONValue
    /// The topic to stream into; a new unique name when `nil`.
    public var topic: String?
    /// Cancel the generation once the topic has had no subscriber for this long.
    public var cancelWhenIdle: TimeAmount?
    /// W3C trace context of the caller (`traceparent`, `tracestate`), propagated to the upstream call.
    public var traceHeaders: [(String, String)]
    /// Who asked (the token's subject when auth is on), for the per-owner generation limit.
    public var owner: String?
    /// The conversation the answer belongs to: announced on ``conversationTopic(_:)``.
    public var conversation: String?
    /// Put the prompt's last user message in the conversation's `generation_started`.
    public var announcePrompt: Bool

    public init(
        provider: String, body: JSONValue, topic: String? = nil, cancelWhenIdle: TimeAmount? = nil,
        traceHeaders: [(String, String)] = [], owner: String? = nil, conversation: String? = nil,
        announcePrompt: Bool = false
    ) {
        self.conversation = conversation
        self.announcePrompt = announcePrompt
        self.provider = provider
        self.body = body
        self.topic = topic
        self.cancelWhenIdle = cancelWhenIdle
        self.traceHeaders = traceHeaders
        self.owner = owner
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.provider == rhs.provider && lhs.body == rhs.body && lhs.topic == rhs.topic
            && lhs.cancelWhenIdle == rhs.cancelWhenIdle && lhs.conversation == rhs.conversation
            && lhs.announcePrompt == rhs.announcePrompt
            && lhs.traceHeaders.map { "\($0.0)=\($0.1)" } == rhs.traceHeaders.map { "\($0.0)=\($0.1)" }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.provider)
        hasher.combine(self.topic)
    }
}

/// The state of one generation (`GET /v1/generations/{id}`).
public struct GenerationInfo: Sendable, Hashable {
    /// Where a generation is in its life.
    public struct State: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        /// Accepted; the upstream request is being made or streaming.
        public static let running = State("running")
        /// The upstream stream ended normally.
        public static let completed = State("completed")
        /// Cancelled by a client, by idleness or by shutdown.
        public static let cancelled = State("cancelled")
        /// The upstream failed (an `error` event was published).
        public static let failed = State("failed")
        public var description: String { self.rawValue }
    }

    public var id: String
    public var topic: String
    public var provider: String
    public var model: String?
    public var state: State
    /// When the request was accepted.
    public var queuedAt: Timestamp
    /// When the first delta arrived from the upstream.
    public var firstTokenAt: Timestamp?
    /// When the generation ended.
    public var completedAt: Timestamp?
    public var usage: Usage?
    /// The normalized finish reason, once ended.
    public var finishReason: FinishReason?

    public init(
        id: String, topic: String, provider: String, model: String?, state: State, queuedAt: Timestamp,
        firstTokenAt: Timestamp? = nil, completedAt: Timestamp? = nil, usage: Usage? = nil,
        finishReason: FinishReason? = nil
    ) {
        self.id = id
        self.topic = topic
        self.provider = provider
        self.model = model
        self.state = state
        self.queuedAt = queuedAt
        self.firstTokenAt = firstTokenAt
        self.completedAt = completedAt
        self.usage = usage
        self.finishReason = finishReason
    }
}

/// Why a generation could not be started.
public struct GenerationError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        /// No provider with that id is configured (HTTP 400).
        public static let unknownProvider = Code("unknown_provider")
        /// The provider is known but cannot be used as configured (a hosted API with no key).
        public static let providerNotConfigured = Code("provider_not_configured")
        /// The request is malformed (HTTP 400).
        public static let badRequest = Code("bad_request")
        /// The topic already has a running generation, or has ended (HTTP 409).
        public static let topicBusy = Code("topic_busy")
        /// As many generations run as allowed (HTTP 429 with `Retry-After`).
        public static let tooManyGenerations = Code("too_many_generations")
        /// The hub is shutting down (HTTP 503).
        public static let shuttingDown = Code("shutting_down")
        public var description: String { self.rawValue }
    }

    public var code: Code
    public var message: String
    /// For ``Code/tooManyGenerations``: when to try again.
    public var retryAfterSeconds: Int?

    public init(code: Code, message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(self.code): \(self.message)" }
}

/// Conversation topics: where the answers of one conversation are announced as they start and end.
public enum Conversation {
    /// The topic of conversation `id`: `conversation:<id>`.
    public static func topic(_ id: String) -> String { "conversation:" + id }
}
