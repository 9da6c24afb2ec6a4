import NIOCore

extension ControlService {
    /// The rules and limits that apply to every transport.
    public struct Configuration: Sendable {
        /// Events a token (or, without auth, a client address) may publish per second; 0 for no limit.
        /// Default 10,000, with bursts of ``publishBurst``. Over it: ``ControlError/Kind/rateLimited``.
        public var publishEventsPerSecond: Double = 10_000
        /// The burst of the publish rate limit. Default 20,000 events.
        public var publishBurst: Int = 20_000
        /// The most topics one connection (a multiplexed WebSocket, a Socket.IO session) may subscribe
        /// to at once. Default 256.
        public var maxSubscriptionsPerConnection: Int = 256
        /// Whether `GET /metrics` needs an admin token (when auth is on). Default off.
        public var metricsRequireAdmin: Bool = false
        /// Whether the operator's console (`/admin`, `/v1/admin`) is on while auth is off, when anyone who
        /// reaches the hub could use it (`--admin-console`). With auth on it is always on, for tokens with
        /// `admin`. Default off.
        public var adminConsoleWithoutAuth: Bool = false
        /// How long a publish waits for the fan-out backlog to drain when the hub is overloaded, before
        /// it is refused with ``ControlError/Kind/unavailable`` and a `Retry-After`. Default 5 s.
        public var publishWaitTimeout: TimeAmount = .seconds(5)
        /// Which provider serves a request to a provider API on the hub (`/v1/chat/completions`, …).
        public var proxyRouting = ProxyRouting()

        public init() {}

        /// The defaults.
        public static var defaults: Configuration { Configuration() }

        /// The defaults, changed by `configure`.
        public static func defaults(configure: (inout Configuration) -> Void) -> Configuration {
            var configuration = Configuration()
            configure(&configuration)
            return configuration
        }
    }
}

/// The routing of requests made to provider APIs on the hub (`POST /v1/chat/completions`,
/// `/v1/responses`, `/v1/messages`), first match wins:
///
/// 1. a `provider/model` prefix naming a configured provider (`vllm/qwen`): that provider, and the body's
///    `model` loses the prefix;
/// 2. the model in ``models`` (`{"qwen": "vllm"}`);
/// 3. the endpoint's default in ``defaults``: `openai` for `/v1/chat/completions` and `/v1/responses`,
///    `anthropic` for `/v1/messages`.
public struct ProxyRouting: Sendable, Hashable {
    /// The provider of each endpoint path when the model says nothing.
    public var defaults: [String: String] = [
        "/v1/chat/completions": "openai", "/v1/responses": "openai", "/v1/messages": "anthropic",
    ]
    /// Providers by model name.
    public var models: [String: String] = [:]

    public init() {}
}
