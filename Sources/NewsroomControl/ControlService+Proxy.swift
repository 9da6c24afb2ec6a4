import Logging
import NIOCore
import NewsroomAuth
import NewsroomCore

/// A request to a provider's API on the hub (`POST /v1/chat/completions`, `/v1/responses`,
/// `/v1/messages`), as a transport read it.
public struct ProxyCall: Sendable {
    public var endpoint: ProxyEndpoint
    /// The body as the caller sent it.
    public var body: ByteBuffer
    /// The caller's API-version headers to forward (`anthropic-version`, `anthropic-beta`, `openai-beta`).
    public var forwardedHeaders: [(String, String)]
    /// The credential the caller's SDK sent (`Authorization: Bearer`, or `x-api-key`): a hub token, or
    /// for a bring-your-own-key provider the caller's provider key.
    public var sdkCredential: String?
    /// `X-Newsroom-Token`: the hub token when the SDK's credential is a provider key.
    public var hubToken: String?
    /// `X-Newsroom-Topic`.
    public var topic: String?
    /// `X-Newsroom-Detach: true`.
    public var detach: Bool
    /// `X-Newsroom-Conversation`, and `X-Newsroom-Announce-Prompt: true`.
    public var conversation: String?
    public var announcePrompt: Bool = false
    /// `X-Newsroom-Cancel-When-Idle: <seconds>`: as `cancel_when_idle_s` of `/v1/generations` (the text
    /// as sent; checked by ``ControlService/proxy(_:)``).
    public var cancelWhenIdle: String?
    public var traceHeaders: [(String, String)]
    /// Where the answer goes.
    public var relay: any ProxyRelay

    public init(
        endpoint: ProxyEndpoint, body: ByteBuffer, forwardedHeaders: [(String, String)] = [],
        sdkCredential: String? = nil, hubToken: String? = nil, topic: String? = nil, detach: Bool = false,
        cancelWhenIdle: String? = nil, traceHeaders: [(String, String)] = [], relay: any ProxyRelay
    ) {
        self.cancelWhenIdle = cancelWhenIdle
        self.endpoint = endpoint
        self.body = body
        self.forwardedHeaders = forwardedHeaders
        self.sdkCredential = sdkCredential
        self.hubToken = hubToken
        self.topic = topic
        self.detach = detach
        self.traceHeaders = traceHeaders
        self.relay = relay
    }
}

extension ControlService {
    /// Forwards a caller's request to the provider that ``Configuration/proxyRouting`` picks, answering
    /// it in that provider's format while the answer's events are published to the topic.
    ///
    /// The caller needs `generate` on the topic (a token in the SDK's own credential header, or in
    /// `X-Newsroom-Token` for a bring-your-own-key provider).
    /// - Throws: `invalid_argument` (a body that is not a JSON object, no `model`, a provider that does
    ///   not serve the endpoint), `unauthenticated`, `forbidden`, and the generation errors.
    public func proxy(_ call: ProxyCall) async throws(ControlError) -> GenerationInfo {
        guard let generations = self.generations else { throw ControlError.generationsDisabled }
        guard let json = try? JSONValue.parse(call.body.readableBytesView), let object = json.objectValue else {
            throw ControlError.invalidArgument("the request body must be a JSON object")
        }
        guard let model = object["model"]?.stringValue, !model.isEmpty else {
            throw ControlError.invalidArgument("the request needs a 'model'")
        }
        let (provider, upstreamModel) = self.route(model: model, endpoint: call.endpoint, generations: generations)
        guard let adapter = generations.adapterName(ofProvider: provider) else {
            throw ControlError.invalidArgument(
                "no provider '\(provider.prefix(64))' is configured for model '\(model.prefix(128))'",
                code: "unknown_provider")
        }
        guard call.endpoint.providerAdapters.contains(adapter) else {
            throw ControlError.invalidArgument(
                "provider '\(provider)' (\(adapter)) does not serve \(call.endpoint.path)", code: "unknown_provider")
        }
        // Whose key goes upstream decides which header holds the hub token.
        let byok = generations.passesCallerKey(provider: provider)
        let token = byok ? call.hubToken : (call.hubToken ?? call.sdkCredential)
        let principal = try await self.authenticate(token: token).get()
        if let topic = call.topic { try Self.validateTopic(topic) }
        var idle: TimeAmount?
        if let text = call.cancelWhenIdle {
            guard let seconds = Double(text) else {
                throw ControlError.invalidArgument("X-Newsroom-Cancel-When-Idle must be a number of seconds")
            }
            idle = try Self.cancelWhenIdle(seconds: seconds)
        }
        try self.authorize(.startGeneration(into: call.topic), for: principal)
        try self.authorizeConversation(call.conversation, for: principal)
        let request = ProxyRequest(
            endpoint: call.endpoint, provider: provider, body: call.body, model: upstreamModel,
            rewritesModel: upstreamModel != model,
            stream: object["stream"]?.boolValue ?? false, headers: call.forwardedHeaders,
            callerKey: byok ? call.sdkCredential : nil, topic: call.topic, detach: call.detach,
            cancelWhenIdle: idle, traceHeaders: call.traceHeaders, owner: self.requiresCredentials ? principal.subject : nil,
            conversation: call.conversation, announcePrompt: call.announcePrompt, relay: call.relay)
        do {
            let info = try await generations.proxy(request)
            self.logger.info(
                "proxied generation started",
                metadata: [
                    "newsroom.topic": "\(info.topic)", "newsroom.generation": "\(info.id)",
                    "newsroom.upstream.provider": "\(info.provider)", "newsroom.endpoint": "\(call.endpoint.path)",
                ])
            return info
        } catch {
            throw ControlError(error)
        }
    }

    /// The caller of a proxied request left before its answer ended: the upstream request is cancelled
    /// (what the caller would get without the hub). No access check: the request was the caller's.
    public func callerLeft(generation id: String) async {
        _ = await self.generations?.cancel(generation: id)
    }

    /// The provider and the upstream model name for a requested model (see ``ProxyRouting``).
    func route(model: String, endpoint: ProxyEndpoint, generations: any GenerationService) -> (String, String) {
        if let slash = model.firstIndex(of: "/") {
            let prefix = String(model[..<slash])
            if generations.adapterName(ofProvider: prefix) != nil {
                return (prefix, String(model[model.index(after: slash)...]))
            }
        }
        if let provider = self.configuration.proxyRouting.models[model] { return (provider, model) }
        return (self.configuration.proxyRouting.defaults[endpoint.path] ?? "openai", model)
    }
}
