import Configuration
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemPackage
import Logging
import NIOCore
import NewsroomControl
import NewsroomCore
import NewsroomAuth
import NewsroomHTTP
import NewsroomUpstream

extension NewsroomConfiguration {
    /// Reads the configuration from `reader`; missing keys keep their defaults.
    ///
    /// Keys (environment variable in brackets; a JSON config file uses the same dotted keys as nested
    /// objects, e.g. `{"http": {"maxBodyBytes": 1048576}}`):
    /// - `host` [`NEWSROOM_HOST`], `port` [`NEWSROOM_PORT`], `threads` [`NEWSROOM_THREADS`]
    /// - `grpc.port` [`NEWSROOM_GRPC_PORT`] (an extra port for gRPC; default none: gRPC is on the HTTP port)
    /// - `heartbeatInterval` seconds [`NEWSROOM_HEARTBEAT_INTERVAL`], `defaultPolicy` [`NEWSROOM_DEFAULT_POLICY`]
    /// - `queue.maxEvents`, `queue.maxBytes` [`NEWSROOM_QUEUE_MAX_EVENTS`, `NEWSROOM_QUEUE_MAX_BYTES`]
    /// - `history.maxEvents`, `history.maxBytes`, `history.maxTotalBytes`, `history.retention` seconds
    /// - `topics.max`, `topics.idleTtl` seconds, `topics.maxSubscribers`
    /// - `http.maxBodyBytes`, `http.requestTimeout` seconds, `http.shutdownGrace` seconds, `http.drainDelay` seconds, `http.sendBufferBytes`, `http.listenBacklog`,
    ///   `http.sseRetryMs`
    /// - `http.webSocketMaxMessageBytes`, `http.http2MaxConcurrentStreams`
    /// - `tls.certificate`, `tls.privateKey` (PEM paths) [`NEWSROOM_TLS_CERTIFICATE`, `NEWSROOM_TLS_PRIVATE_KEY`]
    /// - `metrics.enabled` (default true) [`NEWSROOM_METRICS_ENABLED`]
    /// - `memory.trimInterval` (a duration; `0`: never), `memory.trimThreshold` bytes
    /// - `broker.url` (`redis://…`) [`NEWSROOM_BROKER_URL`], `broker.sharded` [`NEWSROOM_BROKER_SHARDED`]
    /// - `log.format` (`text`|`json`) [`NEWSROOM_LOG_FORMAT`], `log.level` [`NEWSROOM_LOG_LEVEL`]
    /// - `socketio.*` (see ``readSocketIO(_:duration:)``)
    /// - `flush.interval`, `flush.maxInterval` (durations: `40ms`, `0.5s`, `0`) [`NEWSROOM_FLUSH_INTERVAL`],
    ///   `fanout.maxDelay` (duration), `fanout.maxBacklog` (deliveries per loop), `publish.waitTimeout` seconds
    /// - Throws: ``ConfigurationError`` for a value of the right type but not an allowed one.
    public init(reader: ConfigReader) throws {
        self.init()
        func seconds(_ key: ConfigKey) -> TimeAmount? {
            reader.double(forKey: key).map { .nanoseconds(Int64($0 * 1e9)) }
        }
        if let host = reader.string(forKey: "host") { self.http.host = host }
        if let port = reader.int(forKey: "port") { self.http.port = port }
        if let port = reader.int(forKey: "grpc.port") {
            guard (0...65_535).contains(port) else { throw ConfigurationError("grpc.port must be 0...65535 (0: none)") }
            self.grpcPort = port
        }
        if let threads = reader.int(forKey: "threads") {
            guard threads > 0 else { throw ConfigurationError("threads must be positive") }
            self.threads = threads
        }
        if let interval = seconds("heartbeatInterval") {
            guard interval >= .milliseconds(100) else {
                throw ConfigurationError("heartbeatInterval must be at least 0.1 seconds")
            }
            self.hub.heartbeatInterval = interval
        }
        // WebSocket pings keep the same rhythm as heartbeats.
        self.http.pingInterval = self.hub.heartbeatInterval
        if let name = reader.string(forKey: "defaultPolicy") {
            guard let policy = SlowConsumerPolicy(name: name) else {
                throw ConfigurationError(
                    "defaultPolicy must be one of \(SlowConsumerPolicy.names.joined(separator: ", "))")
            }
            self.hub.defaultPolicy = policy
        }
        if let value = reader.int(forKey: "queue.maxEvents") { self.hub.maxQueuedEvents = try positive(value, "queue.maxEvents") }
        if let value = reader.int(forKey: "queue.maxBytes") { self.hub.maxQueuedBytes = try positive(value, "queue.maxBytes") }
        if let value = reader.int(forKey: "history.maxEvents") { self.hub.maxHistoryEvents = try positive(value, "history.maxEvents") }
        if let value = reader.int(forKey: "history.maxBytes") { self.hub.maxHistoryBytes = try positive(value, "history.maxBytes") }
        if let value = reader.int(forKey: "history.maxTotalBytes") {
            self.hub.maxTotalHistoryBytes = try positive(value, "history.maxTotalBytes")
        }
        if let value = seconds("history.retention") { self.hub.retention = value }
        func duration(_ key: ConfigKey) throws -> TimeAmount? {
            guard let text = reader.string(forKey: key) else { return nil }
            do {
                return try ControlService.duration(text, name: key.description)
            } catch {
                throw ConfigurationError(error.message)
            }
        }
        if let value = try duration("flush.maxInterval") { self.hub.maxFlushInterval = value }
        if let value = try duration("flush.interval") {
            guard value <= self.hub.maxFlushInterval else {
                throw ConfigurationError("flush.interval must be at most flush.maxInterval")
            }
            self.hub.flushInterval = value
        }
        if let value = try duration("fanout.maxDelay") { self.hub.maxFanOutDelay = value }
        if let value = try duration("memory.trimInterval") {
            guard value >= .zero else { throw ConfigurationError("memory.trimInterval must be 0 or more") }
            self.memoryTrimInterval = value
        }
        if let value = reader.int(forKey: "memory.trimThreshold") {
            self.memoryTrimThreshold = try positive(value, "memory.trimThreshold")
        }
        if let value = reader.int(forKey: "fanout.maxBacklog") { self.hub.maxFanOutBacklog = try positive(value, "fanout.maxBacklog") }
        if let value = seconds("publish.waitTimeout") { self.control.publishWaitTimeout = value }
        if let value = reader.int(forKey: "topics.max") { self.hub.maxTopics = try positive(value, "topics.max") }
        if let value = seconds("topics.idleTtl") { self.hub.idleTopicTTL = value }
        if let value = reader.int(forKey: "topics.maxSubscribers") {
            self.hub.maxSubscribersPerTopic = try positive(value, "topics.maxSubscribers")
        }
        if let value = reader.int(forKey: "http.maxBodyBytes") { self.http.maxBodyBytes = try positive(value, "http.maxBodyBytes") }
        if let value = seconds("http.requestTimeout") { self.http.requestTimeout = value }
        if let value = seconds("http.shutdownGrace") { self.http.shutdownGracePeriod = value }
        if let value = seconds("http.drainDelay") {
            guard value >= .zero else { throw ConfigurationError("http.drainDelay must be 0 or more seconds") }
            self.http.drainDelay = value
        }
        if let value = reader.int(forKey: "http.sendBufferBytes") { self.http.socketSendBufferBytes = value }
        if let value = reader.int(forKey: "http.listenBacklog") {
            self.http.backlog = Int32(clamping: try positive(value, "http.listenBacklog"))
        }
        if let value = reader.int(forKey: "http.sseRetryMs") { self.http.sseRetryMilliseconds = value }
        if let value = reader.int(forKey: "http.webSocketMaxMessageBytes") {
            self.http.webSocketMaxMessageBytes = try positive(value, "http.webSocketMaxMessageBytes")
        }
        if let value = reader.int(forKey: "http.http2MaxConcurrentStreams") {
            self.http.http2MaxConcurrentStreams = try positive(value, "http.http2MaxConcurrentStreams")
        }
        try self.readSocketIO(reader, duration: duration)
        let certificate = reader.string(forKey: "tls.certificate")
        let key = reader.string(forKey: "tls.privateKey", isSecret: false)
        switch (certificate, key) {
        case (let certificate?, let key?):
            self.http.tls = .init(certificateChainPath: certificate, privateKeyPath: key)
        case (nil, nil):
            break
        default:
            throw ConfigurationError("tls.certificate and tls.privateKey must be given together")
        }
        try self.readGenerations(reader)
        try self.readSecurity(reader)
        if let url = reader.string(forKey: "broker.url", isSecret: true), !url.isEmpty {
            guard url.hasPrefix("redis://") || url.hasPrefix("rediss://") else {
                throw ConfigurationError("broker.url must be redis://[user:pass@]host:port[/db]")
            }
            self.brokerURL = url
        }
        if let sharded = reader.bool(forKey: "broker.sharded") { self.brokerSharded = sharded }
        if let enabled = reader.bool(forKey: "metrics.enabled") { self.metricsEnabled = enabled }
        if let format = reader.string(forKey: "log.format") {
            guard let parsed = LogFormat(rawValue: format) else {
                throw ConfigurationError("log.format must be text or json")
            }
            self.logFormat = parsed
        }
        if let level = reader.string(forKey: "log.level") {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw ConfigurationError("log.level must be one of trace, debug, info, notice, warning, error, critical")
            }
            self.logLevel = parsed
        }
    }

    /// Socket.IO: `socketio.path` (default `/socket.io/`), `socketio.pingInterval`, `socketio.pingTimeout`,
    /// `socketio.connectTimeout`, `socketio.upgradeTimeout` (durations), `socketio.maxPayload` (bytes),
    /// `socketio.maxPacketsPerPoll`, `socketio.recovery` (how long a dropped session can be recovered;
    /// `0`, the default, turns connection state recovery off), `socketio.maxRecoverableSessions`.
    mutating func readSocketIO(_ reader: ConfigReader, duration: (ConfigKey) throws -> TimeAmount?) throws {
        if let path = reader.string(forKey: "socketio.path") {
            let segments = path.split(separator: "/")
            guard path.hasPrefix("/"), !segments.isEmpty, !path.contains("?"), !path.contains("//") else {
                throw ConfigurationError("socketio.path must be an absolute path such as /socket.io/")
            }
            self.http.socketIO.path = path
        }
        func positiveDuration(_ key: String) throws -> TimeAmount? {
            guard let value = try duration(ConfigKey(key.split(separator: ".").map(String.init))) else { return nil }
            guard value > .zero else { throw ConfigurationError("\(key) must be more than 0") }
            return value
        }
        if let value = try positiveDuration("socketio.pingInterval") { self.http.socketIO.pingInterval = value }
        if let value = try positiveDuration("socketio.pingTimeout") { self.http.socketIO.pingTimeout = value }
        if let value = try positiveDuration("socketio.connectTimeout") { self.http.socketIO.connectTimeout = value }
        if let value = try positiveDuration("socketio.upgradeTimeout") { self.http.socketIO.upgradeTimeout = value }
        if let value = reader.int(forKey: "socketio.maxPayload") {
            self.http.socketIO.maxPayload = try positive(value, "socketio.maxPayload")
        }
        if let value = reader.int(forKey: "socketio.maxPacketsPerPoll") {
            self.http.socketIO.maxPacketsPerPoll = try positive(value, "socketio.maxPacketsPerPoll")
        }
        if let value = try duration("socketio.recovery") { self.http.socketIO.recoveryWindow = value > .zero ? value : nil }
        if let value = reader.int(forKey: "socketio.maxRecoverableSessions") {
            self.http.socketIO.maxRecoverableSessions = try positive(value, "socketio.maxRecoverableSessions")
        }
    }

    /// Providers: for every default id (`openai`, `openai-responses`, `vllm`, `tgi-chat`, `tgi`,
    /// `anthropic`, `ollama`, `gemini`) and every id listed in `providers` (comma-separated), the keys
    /// `provider.<id>.baseUrl`, `provider.<id>.apiKey` (secret) and, for extra ids, `provider.<id>.adapter`
    /// — in the environment `NEWSROOM_PROVIDER_<ID>_BASE_URL` and `NEWSROOM_PROVIDER_<ID>_API_KEY` (ID
    /// upper-cased, `-` as `_`). Limits and timeouts: `generations.maxRunning`, `upstream.connectTimeout`,
    /// `upstream.firstByteTimeout`, `upstream.idleTimeout`, `upstream.totalTimeout` (seconds),
    /// `upstream.maxAttempts`.
    mutating func readGenerations(_ reader: ConfigReader) throws {
        func seconds(_ key: ConfigKey) -> TimeAmount? {
            reader.double(forKey: key).map { .nanoseconds(Int64($0 * 1e9)) }
        }
        var ids = Set(self.generations.providers.keys)
        if let extra = reader.string(forKey: "providers") {
            ids.formUnion(extra.split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty })
        }
        for id in ids.sorted() {
            let scope = reader.scoped(to: ConfigKey(["provider", id]))
            var provider = self.generations.providers[id]
            if let adapter = scope.string(forKey: "adapter") {
                provider = ProviderConfiguration(
                    adapter: adapter, baseURL: provider?.baseURL ?? "", apiKey: provider?.apiKey,
                    headers: provider?.headers ?? [:])
            }
            guard var configured = provider else {
                throw ConfigurationError("provider '\(id)' needs provider.\(id).adapter (one of \(ProviderConfiguration.adapterNames.joined(separator: ", ")))")
            }
            if let baseURL = scope.string(forKey: "baseUrl") { configured.baseURL = baseURL }
            if let key = scope.string(forKey: "apiKey", isSecret: true) { configured.apiKey = key }
            if let byok = scope.bool(forKey: "passCallerKey") { configured.passCallerKey = byok }
            self.generations.providers[id] = configured
        }
        try self.readProxyRouting(reader, providers: Set(self.generations.providers.keys))
        if let value = reader.int(forKey: "generations.maxRunning") {
            self.generations.maxConcurrentGenerations = try positive(value, "generations.maxRunning")
        }
        if let value = seconds("upstream.connectTimeout") { self.generations.timeouts.connect = value }
        if let value = seconds("upstream.firstByteTimeout") { self.generations.timeouts.firstByte = value }
        if let value = seconds("upstream.idleTimeout") { self.generations.timeouts.idle = value }
        if let value = seconds("upstream.totalTimeout") { self.generations.timeouts.total = value }
        if let value = reader.int(forKey: "upstream.maxAttempts") {
            self.generations.retry.maxAttempts = try positive(value, "upstream.maxAttempts")
        }
        do {
            try self.generations.validate()
        } catch {
            throw ConfigurationError(error.message)
        }
    }

    /// Provider APIs on the hub (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`):
    /// `proxy.chatCompletions`, `proxy.responses`, `proxy.messages` (the provider each endpoint uses when
    /// the model says nothing), `proxy.models` (`model=provider` pairs, comma-separated),
    /// `proxy.retryGrace` (seconds a named topic stays open for an SDK's retry after a retryable upstream
    /// error), `proxy.maxAnswerBytes` (the largest non-streaming answer broadcast).
    mutating func readProxyRouting(_ reader: ConfigReader, providers: Set<String>) throws {
        func provider(_ key: String) throws -> String? {
            guard let id = reader.string(forKey: ConfigKey(["proxy", key])) else { return nil }
            guard providers.contains(id) else {
                throw ConfigurationError("proxy.\(key): no provider '\(id)' (configured: \(providers.sorted().joined(separator: ", ")))")
            }
            return id
        }
        for (key, path) in [("chatCompletions", "/v1/chat/completions"), ("responses", "/v1/responses"), ("messages", "/v1/messages")] {
            if let id = try provider(key) { self.control.proxyRouting.defaults[path] = id }
        }
        if let pairs = reader.string(forKey: "proxy.models") {
            for pair in pairs.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0.filter { $0 != " " }) }
                guard parts.count == 2, !parts[0].isEmpty, providers.contains(parts[1]) else {
                    throw ConfigurationError("proxy.models: '\(pair)' is not model=provider with a configured provider")
                }
                self.control.proxyRouting.models[parts[0]] = parts[1]
            }
        }
        if let value = reader.double(forKey: "proxy.retryGrace") {
            guard value >= 0 else { throw ConfigurationError("proxy.retryGrace must be 0 or more seconds") }
            self.generations.proxyRetryGrace = .nanoseconds(Int64(value * 1e9))
        }
        if let value = reader.int(forKey: "proxy.maxAnswerBytes") {
            self.generations.maxCompleteAnswerBytes = try positive(value, "proxy.maxAnswerBytes")
        }
    }

    /// Authentication and limits (see docs/security.md):
    /// - `auth.hs256Secret` (secret) [`NEWSROOM_AUTH_HS256_SECRET`], `auth.publicKey` (PEM path),
    ///   `auth.jwks` (JWKS path), `auth.audience`, `auth.issuer`, `auth.leeway` (seconds)
    /// - `cors.allowedOrigins` (comma-separated; `*` for any)
    /// - `limits.maxConnections`, `limits.maxConnectionsPerIp`, `limits.maxSubscriptionsPerConnection`,
    ///   `limits.publishRate` (events/s per token or address, 0 = none), `limits.publishBurst`,
    ///   `limits.maxHeaderBytes`, `limits.maxHeaderCount`, `limits.generationsPerToken`
    /// - `metrics.private` (true: `/metrics` needs an admin token)
    mutating func readSecurity(_ reader: ConfigReader) throws {
        if let secret = reader.string(forKey: "auth.hs256Secret", isSecret: true) {
            // RFC 7518 §3.2: an HS256 key is at least as long as the hash (32 bytes); shorter ones also
            // trip an assertion in JWTKit.
            guard secret.utf8.count >= 32 else { throw ConfigurationError("auth.hs256Secret must be at least 32 bytes") }
            self.auth.hs256Secret = secret
        }
        func read(_ path: String, _ key: String) throws -> String {
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigurationError("\(key): cannot read '\(path)'")
            }
        }
        if let path = reader.string(forKey: "auth.publicKey") { self.auth.publicKeysPEM.append(try read(path, "auth.publicKey")) }
        if let path = reader.string(forKey: "auth.jwks") { self.auth.jwksJSON = try read(path, "auth.jwks") }
        if let audience = reader.string(forKey: "auth.audience") { self.auth.audience = audience }
        if let issuer = reader.string(forKey: "auth.issuer") { self.auth.issuer = issuer }
        if let leeway = reader.int(forKey: "auth.leeway") { self.auth.leewaySeconds = Int64(leeway) }
        if let origins = reader.string(forKey: "cors.allowedOrigins") {
            self.http.allowedOrigins = origins.split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty }
        }
        if let value = reader.int(forKey: "limits.maxConnections") { self.http.maxConnections = value }
        if let value = reader.int(forKey: "limits.maxConnectionsPerIp") { self.http.maxConnectionsPerIP = value }
        if let value = reader.int(forKey: "limits.maxSubscriptionsPerConnection") {
            self.control.maxSubscriptionsPerConnection = try positive(value, "limits.maxSubscriptionsPerConnection")
        }
        if let value = reader.double(forKey: "limits.publishRate") { self.control.publishEventsPerSecond = value }
        if let value = reader.int(forKey: "limits.publishBurst") { self.control.publishBurst = try positive(value, "limits.publishBurst") }
        if let value = reader.int(forKey: "limits.maxHeaderBytes") { self.http.maxHeaderBytes = try positive(value, "limits.maxHeaderBytes") }
        if let value = reader.int(forKey: "limits.maxHeaderCount") { self.http.maxHeaderCount = try positive(value, "limits.maxHeaderCount") }
        if let value = reader.int(forKey: "limits.generationsPerToken") { self.generations.maxConcurrentGenerationsPerOwner = value }
        if let value = reader.bool(forKey: "metrics.private") { self.control.metricsRequireAdmin = value }
        if let value = reader.bool(forKey: "admin.console") { self.control.adminConsoleWithoutAuth = value }
    }

    /// A reader over, in order: `overrides` (the parsed command-line flags), `NEWSROOM_*` environment
    /// variables, and the JSON file at `configFile` if given — each checked against
    /// ``ConfigurationKey/all`` first.
    ///
    /// - Parameters:
    ///   - overrides: the flags, by key; every key must be in ``ConfigurationKey/all``.
    ///   - environment: the environment (the process's when `nil`).
    ///   - configFile: the JSON config file's path.
    /// - Throws: ``ConfigurationProblems`` listing every unknown key or variable, every value of the wrong
    ///   type and a config file that cannot be read or is not JSON, each naming where it was written.
    public static func reader(
        overrides: [AbsoluteConfigKey: ConfigValue], environment: [String: String]? = nil, configFile: String?
    ) async throws -> ConfigReader {
        ConfigReader(providers: try Self.sources(overrides: overrides, environment: environment, configFile: configFile).providers)
    }

    /// The whole configuration from flags, environment and file: ``reader(overrides:environment:configFile:)``
    /// then ``init(reader:)``.
    ///
    /// - Throws: ``ConfigurationProblems``: every mistake in the sources, or the first value that is of the
    ///   right type but not allowed (`threads` 0), each naming where the value was written.
    public static func load(
        overrides: [AbsoluteConfigKey: ConfigValue], environment: [String: String]? = nil, configFile: String?
    ) throws(ConfigurationProblems) -> NewsroomConfiguration {
        let sources = try Self.sources(overrides: overrides, environment: environment, configFile: configFile)
        do {
            return try NewsroomConfiguration(reader: ConfigReader(providers: sources.providers))
        } catch {
            let message = (error as? ConfigurationError)?.description ?? "\(error)"
            // The key a message starts with ("threads must be positive", "'flush.interval' must be …").
            let first = message.prefix(while: { $0 != " " }).filter { $0 != "'" && $0 != ":" }
            let source = sources.source(of: String(first)) ?? "configuration"
            throw ConfigurationProblems(problems: [ConfigurationProblem(source: source, message: message)])
        }
    }

    static func sources(
        overrides: [AbsoluteConfigKey: ConfigValue], environment: [String: String]?, configFile: String?
    ) throws(ConfigurationProblems) -> ConfigurationSources {
        var file: (path: String, text: String)?
        if let configFile {
            guard let text = try? String(contentsOfFile: configFile, encoding: .utf8) else {
                throw ConfigurationProblems(problems: [
                    ConfigurationProblem(source: configFile, message: "cannot read the config file (missing, unreadable or not UTF-8)")
                ])
            }
            file = (configFile, text)
        }
        let sources = ConfigurationSources(
            flags: overrides, environment: environment ?? ProcessInfo.processInfo.environment, file: file)
        guard sources.problems.isEmpty else { throw ConfigurationProblems(problems: sources.problems) }
        return sources
    }
}

private func positive(_ value: Int, _ key: String) throws -> Int {
    guard value > 0 else { throw ConfigurationError("\(key) must be positive") }
    return value
}

/// A configuration value that is not allowed.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
