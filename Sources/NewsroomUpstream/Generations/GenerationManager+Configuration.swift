import NIOCore

extension GenerationManager {
    /// How generations run: the providers, the timeouts, the retry policy and the limits.
    ///
    /// ```swift
    /// let configuration = GenerationManager.Configuration.defaults { config in
    ///     config.providers["openai"]?.apiKey = key
    ///     config.providers["vllm"] = ProviderConfiguration(adapter: "openai", baseURL: "http://gpu-1:8000")
    ///     config.timeouts.idle = .seconds(30)
    /// }
    /// ```
    public struct Configuration: Sendable {
        /// The providers by id. Default: every built-in id with its default base URL and no key
        /// (see ``ProviderConfiguration/defaults``).
        public var providers: [String: ProviderConfiguration] = ProviderConfiguration.defaults
        /// Upstream timeouts.
        public var timeouts = Timeouts()
        /// Retries before the first byte of a response body.
        public var retry = RetryPolicy()
        /// The most generations that may run at once; a start beyond it fails with
        /// ``GenerationError/Code/tooManyGenerations``. Default 256.
        public var maxConcurrentGenerations = 256
        /// At most this many running at once per owner (the token's subject); 0 for no per-owner limit.
        public var maxConcurrentGenerationsPerOwner = 0
        /// The `Retry-After` suggested when the limit is reached. Default 1 s.
        public var busyRetryAfter: TimeAmount = .seconds(1)
        /// How long a finished generation can still be looked up with `info(generation:)`. Default 10 min
        /// (the hub's default topic retention).
        public var retention: TimeAmount = .minutes(10)
        /// How often the subscriber count of a topic is polled for `cancel_when_idle`. Default 250 ms.
        public var idlePollInterval: TimeAmount = .milliseconds(250)
        /// The most bytes of an HTTP error body read to classify it. Default 64 KiB.
        public var maxErrorBodyBytes = 64 << 10
        /// The largest non-streaming answer of a proxied request that is broadcast (decoded whole); a
        /// larger one still reaches its caller, and the viewers get an error. Default 8 MiB.
        public var maxCompleteAnswerBytes = 8 << 20
        /// How long a topic stays open after a proxied request failed with an error its caller's SDK
        /// retries (429, 5xx), waiting for that retry. Default 60 s.
        public var proxyRetryGrace: TimeAmount = .seconds(60)

        public init() {}

        /// Checks what a configuration file or the environment may get wrong: every provider names a
        /// known adapter and an `http` or `https` base URL, and the limits are positive.
        /// - Throws: ``GenerationManager/ConfigurationError`` naming the first problem.
        public func validate() throws(ConfigurationError) {
            for (id, provider) in self.providers.sorted(by: { $0.key < $1.key }) {
                guard UpstreamAdapters.names.contains(provider.adapter) else {
                    throw ConfigurationError(
                        message: "provider '\(id)': unknown adapter '\(provider.adapter)' (known: "
                            + UpstreamAdapters.names.joined(separator: ", ") + ")")
                }
                guard provider.baseURL.hasPrefix("http://") || provider.baseURL.hasPrefix("https://") else {
                    throw ConfigurationError(
                        message: "provider '\(id)': the base URL must start with http:// or https://")
                }
            }
            guard self.maxConcurrentGenerations > 0 else {
                throw ConfigurationError(message: "maxConcurrentGenerations must be positive")
            }
            guard self.retry.maxAttempts > 0 else {
                throw ConfigurationError(message: "retry.maxAttempts must be positive")
            }
            for (name, value) in [
                ("connect", self.timeouts.connect), ("firstByte", self.timeouts.firstByte),
                ("idle", self.timeouts.idle),
                ("total", self.timeouts.total),
            ] where value <= .zero {
                throw ConfigurationError(message: "timeouts.\(name) must be positive")
            }
        }

        /// The defaults.
        /// The providers on a hosted API (OpenAI, Anthropic, Gemini) that have no API key and do not pass
        /// the caller's: every generation with them is refused (`provider_not_configured`). Sorted by id.
        public var hostedProvidersWithoutKeys: [String] {
            self.providers.filter { _, provider in
                let base = provider.baseURL.hasSuffix("/") ? String(provider.baseURL.dropLast()) : provider.baseURL
                return provider.apiKey == nil && !provider.passCallerKey && GenerationManager.hostedBaseURLs.contains(base)
            }.keys.sorted()
        }

        public static var defaults: Configuration { Configuration() }

        /// The defaults, changed by `configure`.
        public static func defaults(configure: (inout Configuration) -> Void) -> Configuration {
            var configuration = Configuration()
            configure(&configuration)
            return configuration
        }
    }

    /// A configuration that cannot work (see ``Configuration/validate()``).
    public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { self.message }
    }

    /// Upstream timeouts. Each one that fires publishes `error` (`upstream_timeout`, retryable) and then
    /// `stream_complete(error)`, keeping the output before it.
    public struct Timeouts: Sendable {
        /// Establishing the TCP (and TLS) connection. Default 10 s. A connect timeout is a connect error,
        /// so it is retried like one before it is reported.
        public var connect: TimeAmount = .seconds(10)
        /// From sending a request (each attempt) to the first byte of the response body. Default 120 s
        /// (reasoning models may think a long time before their first token).
        public var firstByte: TimeAmount = .seconds(120)
        /// The longest gap between two chunks of the body once it started. Default 120 s.
        public var idle: TimeAmount = .seconds(120)
        /// The whole generation, retries included. Default 15 minutes.
        public var total: TimeAmount = .minutes(15)

        public init() {}
    }

    /// Retries of an upstream request. Only before the first byte of the response body — once output
    /// has started a retry would duplicate text — and only for connect errors and the statuses in
    /// ``retryableStatuses``.
    public struct RetryPolicy: Sendable {
        /// Attempts in all, the first included; 1 disables retries. Default 3.
        public var maxAttempts = 3
        /// The delay before the first retry. Default 500 ms.
        public var initialBackoff: TimeAmount = .milliseconds(500)
        /// The longest computed delay. Default 8 s.
        public var maxBackoff: TimeAmount = .seconds(8)
        /// The factor between consecutive delays. Default 2.
        public var multiplier: Double = 2
        /// The fraction of each computed delay that is random (0 = none, 1 = "full jitter"). Default 0.2.
        public var jitter: Double = 0.2
        /// The longest `Retry-After` / `retry-after-ms` honoured; asked to wait longer, the hub reports
        /// the error instead of waiting. Default 30 s.
        public var maxRetryAfter: TimeAmount = .seconds(30)
        /// HTTP statuses that are retried (an `x-should-retry: false` header vetoes). Default 429, 500,
        /// 502, 503, 504, 529.
        public var retryableStatuses: Set<Int> = [429, 500, 502, 503, 504, 529]

        public init() {}

        /// The delay before retry number `retry` (1 for the first retry), with jitter.
        func backoff(retry: Int, using generator: inout some RandomNumberGenerator) -> TimeAmount {
            var factor = 1.0
            for _ in 0..<min(64, max(0, retry - 1)) { factor *= self.multiplier }
            let base = min(Double(self.maxBackoff.nanoseconds), Double(self.initialBackoff.nanoseconds) * factor)
            let jitter = min(1, max(0, self.jitter))
            let nanoseconds = base * (1 - jitter) + base * jitter * Double.random(in: 0...1, using: &generator)
            return .nanoseconds(Int64(nanoseconds))
        }
    }
}

/// One configured provider: which wire format it speaks, where it is, and its key.
public struct ProviderConfiguration: Sendable, CustomStringConvertible {
    /// The adapter (wire format): `openai`, `openai-responses`, `anthropic`, `tgi`, `ollama` or `gemini`.
    public var adapter: String
    /// The base URL; the adapter appends its path (`/v1/chat/completions`, …).
    public var baseURL: String
    /// The API key, sent only in the provider's own header (`Authorization: Bearer`, `x-api-key`,
    /// `x-goog-api-key`); never logged, never in events or errors. `nil` sends no auth header.
    public var apiKey: String?
    /// Extra headers for every request (e.g. `OpenAI-Organization`, `anthropic-beta`); they replace an
    /// adapter header of the same name.
    public var headers: [String: String]
    /// Bring-your-own-key: requests proxied to this provider (`/v1/chat/completions`, …) carry the
    /// caller's own key (its SDK's `Authorization` or `x-api-key`) instead of ``apiKey``; the hub token
    /// then goes in `X-Newsroom-Token`. Never logged. Default off.
    public var passCallerKey: Bool

    public init(
        adapter: String, baseURL: String, apiKey: String? = nil, headers: [String: String] = [:],
        passCallerKey: Bool = false
    ) {
        self.adapter = adapter
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.headers = headers
        self.passCallerKey = passCallerKey
    }

    /// The built-in providers with their default base URLs and no keys:
    ///
    /// | id | adapter | base URL |
    /// |---|---|---|
    /// | `openai` | `openai` | `https://api.openai.com` |
    /// | `openai-responses` | `openai-responses` | `https://api.openai.com` |
    /// | `vllm` | `openai` | `http://127.0.0.1:8000` |
    /// | `tgi-chat` | `openai` | `http://127.0.0.1:8080` |
    /// | `anthropic` | `anthropic` | `https://api.anthropic.com` |
    /// | `tgi` | `tgi` | `http://127.0.0.1:8080` |
    /// | `ollama` | `ollama` | `http://127.0.0.1:11434` |
    /// | `gemini` | `gemini` | `https://generativelanguage.googleapis.com` |
    public static let defaults: [String: ProviderConfiguration] = [
        "openai": .init(adapter: "openai", baseURL: "https://api.openai.com"),
        "openai-responses": .init(adapter: "openai-responses", baseURL: "https://api.openai.com"),
        "vllm": .init(adapter: "openai", baseURL: "http://127.0.0.1:8000"),
        "tgi-chat": .init(adapter: "openai", baseURL: "http://127.0.0.1:8080"),
        "anthropic": .init(adapter: "anthropic", baseURL: "https://api.anthropic.com"),
        "tgi": .init(adapter: "tgi", baseURL: "http://127.0.0.1:8080"),
        "ollama": .init(adapter: "ollama", baseURL: "http://127.0.0.1:11434"),
        "gemini": .init(adapter: "gemini", baseURL: "https://generativelanguage.googleapis.com"),
    ]

    /// The adapter names ``adapter`` may take.
    public static let adapterNames = UpstreamAdapters.names

    /// Never shows the key.
    public var description: String {
        "ProviderConfiguration(adapter: \(self.adapter), baseURL: \(self.baseURL), apiKey: "
            + (self.apiKey == nil ? "nil" : "<redacted>") + ", headers: \(self.headers.keys.sorted()))"
    }
}

/// The built-in adapters by name.
public enum UpstreamAdapters {
    /// Every adapter name.
    public static let names = ["openai", "openai-responses", "anthropic", "tgi", "ollama", "gemini"]

    /// The adapter called `name`, or `nil`.
    public static func adapter(named name: String) -> (any UpstreamAdapter)? {
        switch name {
        case "openai": OpenAIChatAdapter()
        case "openai-responses": OpenAIResponsesAdapter()
        case "anthropic": AnthropicAdapter()
        case "tgi": TGIAdapter()
        case "ollama": OllamaAdapter()
        case "gemini": GeminiAdapter()
        default: nil
        }
    }
}
