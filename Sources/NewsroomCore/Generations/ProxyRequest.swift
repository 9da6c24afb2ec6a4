import NIOCore

/// A provider API the hub answers as that provider does (an SDK pointed at the hub by base URL).
public struct ProxyEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// The request path, the same on the hub and on the provider (`/v1/chat/completions`).
    public let path: String
    /// The adapter that reads its answers (`openai`, `openai-responses`, `anthropic`).
    public let adapter: String
    /// The provider adapters whose servers speak it: a provider configured with one of them (its base
    /// URL, key and auth header) can serve the endpoint.
    public let providerAdapters: Set<String>
    /// The error shape of the provider's API (for the hub's own errors on this endpoint).
    public let errorShape: ErrorShape

    /// How a provider's API shapes an error body.
    public enum ErrorShape: Hashable, Sendable {
        /// `{"error": {"message", "type", "param", "code"}}` (OpenAI and compatible servers).
        case openAI
        /// `{"type": "error", "error": {"type", "message"}}` (Anthropic).
        case anthropic
    }

    /// OpenAI Chat Completions (and every OpenAI-compatible server: vLLM, TGI's Messages API, Ollama's
    /// OpenAI endpoint).
    public static let chatCompletions = ProxyEndpoint(
        path: "/v1/chat/completions", adapter: "openai", providerAdapters: ["openai", "openai-responses"],
        errorShape: .openAI)
    /// The OpenAI Responses API.
    public static let responses = ProxyEndpoint(
        path: "/v1/responses", adapter: "openai-responses", providerAdapters: ["openai", "openai-responses"],
        errorShape: .openAI)
    /// The Anthropic Messages API.
    public static let messages = ProxyEndpoint(
        path: "/v1/messages", adapter: "anthropic", providerAdapters: ["anthropic"], errorShape: .anthropic)

    public static let all: [ProxyEndpoint] = [.chatCompletions, .responses, .messages]

    /// The endpoint served at `path`, if any.
    public init?(path: String) {
        guard let endpoint = Self.all.first(where: { $0.path == path }) else { return nil }
        self = endpoint
    }

    private init(path: String, adapter: String, providerAdapters: Set<String>, errorShape: ErrorShape) {
        self.path = path
        self.adapter = adapter
        self.providerAdapters = providerAdapters
        self.errorShape = errorShape
    }

    public var description: String { self.path }
}

/// Where a proxied answer goes: the caller's HTTP response, written as the provider's bytes arrive.
///
/// The generation calls it from its task, in order: ``head(status:headers:)`` once, then
/// ``body(_:)`` for each piece of the provider's body (each returns once the piece is written, which is
/// what holds the upstream read back to the caller's pace), then ``end()``. A relay whose caller has
/// gone answers `false` from ``body(_:)``.
public protocol ProxyRelay: Sendable {
    /// The response's status and headers (the provider's, filtered by the generation manager).
    func head(status: Int, headers: [(String, String)]) async
    /// Writes a piece of the body; `false` once the caller is gone.
    func body(_ bytes: ByteBuffer) async -> Bool
    /// Ends the response normally.
    func end() async
    /// Ends the response abruptly (the caller's connection is closed, so its SDK sees a cut stream).
    func abort() async
}

/// A request to a provider's own API, forwarded unchanged (`POST /v1/chat/completions`, …), whose
/// answer goes back to the caller in the provider's wire format while its events are published to a
/// topic.
public struct ProxyRequest: Sendable {
    public var endpoint: ProxyEndpoint
    /// The provider id the request goes to (routed by the control service).
    public var provider: String
    /// The caller's body.
    public var body: ByteBuffer
    /// The model the provider is asked for.
    public var model: String?
    /// The body's `model` had a `provider/` prefix: it is sent as ``model``.
    public var rewritesModel: Bool
    /// Whether the body asks for a stream (`"stream": true`).
    public var stream: Bool
    /// Caller headers forwarded to the provider (API versions and betas; never credentials).
    public var headers: [(String, String)]
    /// The caller's own provider key (bring-your-own-key providers only); `nil`: the hub's key.
    public var callerKey: String?
    /// The topic; a new unique name when `nil`.
    public var topic: String?
    /// Whether the topic was named by the caller (an SDK retry may then continue on it).
    public var topicNamed: Bool { self.topic != nil }
    /// Keep the answer running for the viewers when the caller disconnects (under the usual idle
    /// rules); by default the caller's disconnect cancels the upstream request.
    public var detach: Bool
    /// Cancel once the topic has had no subscriber for this long (only meaningful with `detach`).
    public var cancelWhenIdle: TimeAmount?
    public var traceHeaders: [(String, String)]
    public var owner: String?
    /// The conversation the answer belongs to (`X-Newsroom-Conversation`).
    public var conversation: String?
    /// Put the prompt's last user message in `generation_started` (`X-Newsroom-Announce-Prompt: true`).
    public var announcePrompt: Bool = false
    /// Where the answer goes.
    public var relay: any ProxyRelay

    public init(
        endpoint: ProxyEndpoint, provider: String, body: ByteBuffer, model: String?, rewritesModel: Bool = false,
        stream: Bool,
        headers: [(String, String)] = [], callerKey: String? = nil, topic: String? = nil, detach: Bool = false,
        cancelWhenIdle: TimeAmount? = nil, traceHeaders: [(String, String)] = [], owner: String? = nil,
        conversation: String? = nil, announcePrompt: Bool = false, relay: any ProxyRelay
    ) {
        self.conversation = conversation
        self.announcePrompt = announcePrompt
        self.endpoint = endpoint
        self.provider = provider
        self.body = body
        self.model = model
        self.rewritesModel = rewritesModel
        self.stream = stream
        self.headers = headers
        self.callerKey = callerKey
        self.topic = topic
        self.detach = detach
        self.cancelWhenIdle = cancelWhenIdle
        self.traceHeaders = traceHeaders
        self.owner = owner
        self.relay = relay
    }
}

extension GenerationService {
    /// Starts a proxied generation (see ``ProxyRequest``); returns once it runs. The default refuses:
    /// only services that speak to providers implement it.
    public func proxy(_ request: ProxyRequest) async throws(GenerationError) -> GenerationInfo {
        throw GenerationError(code: .unknownProvider, message: "this hub does not forward provider requests")
    }

    /// The adapter a provider id uses, for routing a proxied request; `nil` if it is not configured.
    public func adapterName(ofProvider provider: String) -> String? { nil }

    /// Whether a provider forwards the caller's own key (bring-your-own-key).
    public func passesCallerKey(provider: String) -> Bool { false }

    /// Decodes a teed provider stream; the default refuses (only services with the adapters decode).
    public func decodeProviderStream(
        topic: String, format: String, body: ByteBuffer, chunkLines: Bool, final: Bool
    ) throws(GenerationError) -> [EventPayload] {
        throw GenerationError(code: .badRequest, message: "this hub does not decode provider streams")
    }
}
