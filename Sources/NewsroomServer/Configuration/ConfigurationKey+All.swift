import Logging
import NIOCore
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomHTTP
import NewsroomUpstream

extension ConfigurationKey {
    /// Every key ``NewsroomConfiguration/init(reader:)`` reads, in the order of `docs/configuration.md`
    /// (grouped by the first part of the name). The provider keys (`provider.<id>.*`) are
    /// ``providerFields``.
    ///
    /// - Important: a key read by the reader and missing here (or the other way round) fails
    ///   `NewsroomServerTests`; after a change, regenerate the documentation with
    ///   `newsroom config docs > docs/configuration.md`.
    public static let all: [ConfigurationKey] = [
        // The listener.
        ConfigurationKey(
            "host", .string, flag: "--host", "The address to bind (`0.0.0.0` for every interface).",
            default: { $0.http.host }),
        ConfigurationKey(
            "port", .int, flag: "--port",
            "The HTTP port (HTTP/1.1, h2c or TLS; SSE, WebSocket, gRPC, the API); "
                + "0 picks a free one.", default: { "\($0.http.port)" }),
        ConfigurationKey(
            "grpc.port", .int, flag: "--grpc-port",
            "An extra port for gRPC clients that cannot use the HTTP port; 0: none (gRPC is served on `port`).",
            default: { "\($0.grpcPort ?? 0)" }),
        ConfigurationKey(
            "threads", .int, flag: "--threads", defaultDescription: "one per core", "Event-loop threads.",
            default: { "\($0.threads)" }),
        ConfigurationKey(
            "tls.certificate", .path, flag: "--tls-certificate",
            "A PEM certificate chain: with `tls.privateKey`, the port speaks TLS (h2 or http/1.1 by ALPN).",
            default: { $0.http.tls?.certificateChainPath }),
        ConfigurationKey(
            "tls.privateKey", .path, flag: "--tls-private-key", "The PEM private key of `tls.certificate`.",
            default: { $0.http.tls?.privateKeyPath }),
        // Subscribers and topics.
        ConfigurationKey(
            "heartbeatInterval", .seconds, flag: "--heartbeat-interval",
            "Seconds of silence before a subscriber gets a heartbeat (also the WebSocket and HTTP/2 ping "
                + "interval); at least 0.1.", default: { secondsText($0.hub.heartbeatInterval) }),
        ConfigurationKey(
            "defaultPolicy", .string, flag: "--default-policy",
            "The slow-consumer policy when a subscriber asks for none: `coalesce`, `drop_oldest` or `disconnect`.",
            default: { $0.hub.defaultPolicy.name }),
        ConfigurationKey(
            "queue.maxEvents", .int, flag: "--queue-max-events", "Most events queued for one slow subscriber.",
            default: { "\($0.hub.maxQueuedEvents)" }),
        ConfigurationKey(
            "queue.maxBytes", .int, flag: "--queue-max-bytes", "Most bytes queued for one slow subscriber.",
            default: { "\($0.hub.maxQueuedBytes)" }),
        ConfigurationKey(
            "history.maxEvents", .int, flag: "--history-max-events", "Most events kept in one topic's history.",
            default: { "\($0.hub.maxHistoryEvents)" }),
        ConfigurationKey(
            "history.maxBytes", .int, flag: "--history-max-bytes", "Most bytes kept in one topic's history.",
            default: { "\($0.hub.maxHistoryBytes)" }),
        ConfigurationKey(
            "history.maxTotalBytes", .int, flag: "--history-max-total-bytes",
            "Most bytes kept by all histories together.", default: { "\($0.hub.maxTotalHistoryBytes)" }),
        ConfigurationKey(
            "history.retention", .seconds, flag: "--retention", "Seconds an ended topic keeps its history.",
            default: { secondsText($0.hub.retention) }),
        ConfigurationKey(
            "topics.max", .int, flag: "--max-topics", "Most topics held at once.",
            default: { "\($0.hub.maxTopics)" }),
        ConfigurationKey(
            "topics.idleTtl", .seconds, "Seconds a topic with no events and no subscribers is kept.",
            default: { secondsText($0.hub.idleTopicTTL) }),
        ConfigurationKey(
            "topics.maxSubscribers", .int, "Most subscribers of one topic.",
            default: { "\($0.hub.maxSubscribersPerTopic)" }),
        // Delivery timing.
        ConfigurationKey(
            "flush.interval", .duration, flag: "--flush-interval",
            "The flush window: a topic's events that arrive within it reach each viewer as one write (0: every "
                + "event at once); at most `flush.maxInterval`.", default: { durationText($0.hub.flushInterval) }),
        ConfigurationKey(
            "flush.maxInterval", .duration,
            "The longest flush window a topic (`?flush_interval=`) or a viewer (`?max_delay=`) may choose.",
            default: { durationText($0.hub.maxFlushInterval) }),
        ConfigurationKey(
            "fanout.maxDelay", .duration, flag: "--max-fan-out-delay",
            "How long a published event may wait for its core before publishers are held back.",
            default: { durationText($0.hub.maxFanOutDelay) }),
        ConfigurationKey(
            "fanout.maxBacklog", .int, flag: "--max-fan-out-backlog",
            "Deliveries (events × viewers) a core may have queued before publishers are held back.",
            default: { "\($0.hub.maxFanOutBacklog)" }),
        ConfigurationKey(
            "publish.waitTimeout", .seconds,
            "Seconds a held-back publish waits before it is refused with 503.",
            default: { secondsText($0.control.publishWaitTimeout) }),
        // HTTP.
        ConfigurationKey(
            "http.maxBodyBytes", .int, flag: "--max-body-bytes", "The largest request body accepted (413 above).",
            default: { "\($0.http.maxBodyBytes)" }),
        ConfigurationKey(
            "http.requestTimeout", .seconds,
            "Seconds a connection may take to send a whole request; also the keep-alive idle timeout.",
            default: { secondsText($0.http.requestTimeout) }),
        ConfigurationKey(
            "http.shutdownGrace", .seconds, "Seconds a graceful shutdown waits for open requests.",
            default: { secondsText($0.http.shutdownGracePeriod) }),
        ConfigurationKey(
            "http.drainDelay", .seconds, flag: "--drain-delay",
            "On shutdown, seconds the hub keeps serving after `/readyz` turned 503, so load balancers polling it "
                + "take the node out before anything is refused.",
            default: { secondsText($0.http.drainDelay) }),
        ConfigurationKey(
            "http.listenBacklog", .int,
            "Connections the kernel holds until the hub accepts them; Linux caps it at `net.core.somaxconn`, "
                + "which is the one to raise where thousands of viewers may reconnect at once.",
            default: { "\($0.http.backlog)" }),
        ConfigurationKey(
            "http.sendBufferBytes", .int,
            "The kernel send buffer per connection (`SO_SNDBUF`); unset: the system's default.",
            default: { $0.http.socketSendBufferBytes.map { "\($0)" } }),
        ConfigurationKey(
            "http.sseRetryMs", .int, "The reconnection delay sent to SSE clients (`retry:`), in milliseconds.",
            default: { "\($0.http.sseRetryMilliseconds)" }),
        ConfigurationKey(
            "http.webSocketMaxMessageBytes", .int, "The largest WebSocket message a client may send (1009 above).",
            default: { "\($0.http.webSocketMaxMessageBytes)" }),
        ConfigurationKey(
            "http.http2MaxConcurrentStreams", .int, "The most concurrent HTTP/2 streams per connection.",
            default: { "\($0.http.http2MaxConcurrentStreams)" }),
        ConfigurationKey(
            "cors.allowedOrigins", .list, flag: "--allowed-origins",
            "Browser origins allowed (CORS and the WebSocket `Origin` check); `*` for any; empty: no CORS.",
            default: { $0.http.allowedOrigins.joined(separator: ",") }),
        // Socket.IO.
        ConfigurationKey(
            "socketio.path", .string, "The Socket.IO endpoint's path.", default: { $0.http.socketIO.path }),
        ConfigurationKey(
            "socketio.pingInterval", .duration, "How often the hub pings each Socket.IO session.",
            default: { durationText($0.http.socketIO.pingInterval) }),
        ConfigurationKey(
            "socketio.pingTimeout", .duration, "How long a pong may take before the session is closed.",
            default: { durationText($0.http.socketIO.pingTimeout) }),
        ConfigurationKey(
            "socketio.connectTimeout", .duration, "How long a new session may take to connect a namespace.",
            default: { durationText($0.http.socketIO.connectTimeout) }),
        ConfigurationKey(
            "socketio.upgradeTimeout", .duration, "How long an upgrade from long-polling to WebSocket may take.",
            default: { durationText($0.http.socketIO.upgradeTimeout) }),
        ConfigurationKey(
            "socketio.maxPayload", .int, "The largest message a Socket.IO client may send, in bytes.",
            default: { "\($0.http.socketIO.maxPayload)" }),
        ConfigurationKey(
            "socketio.maxPacketsPerPoll", .int, "Packets per long-polling answer.",
            default: { "\($0.http.socketIO.maxPacketsPerPoll)" }),
        ConfigurationKey(
            "socketio.recovery", .duration,
            "How long a dropped session can be recovered (connection state recovery); 0: off.",
            default: { durationText($0.http.socketIO.recoveryWindow ?? .zero) }),
        ConfigurationKey(
            "socketio.maxRecoverableSessions", .int, "Most dropped sessions kept for recovery.",
            default: { "\($0.http.socketIO.maxRecoverableSessions)" }),
        // Providers and generations.
        ConfigurationKey(
            "providers", .list,
            "Extra provider ids, each configured by `provider.<id>.adapter`, `.baseUrl`, `.apiKey`.",
            default: { _ in "" }),
        ConfigurationKey(
            "generations.maxRunning", .int, "Most generations running at once.",
            default: { "\($0.generations.maxConcurrentGenerations)" }),
        ConfigurationKey(
            "upstream.connectTimeout", .seconds, "Seconds to connect to a provider.",
            default: { secondsText($0.generations.timeouts.connect) }),
        ConfigurationKey(
            "upstream.firstByteTimeout", .seconds, "Seconds a provider may take to start answering.",
            default: { secondsText($0.generations.timeouts.firstByte) }),
        ConfigurationKey(
            "upstream.idleTimeout", .seconds, "Seconds of silence from a provider mid-answer.",
            default: { secondsText($0.generations.timeouts.idle) }),
        ConfigurationKey(
            "upstream.totalTimeout", .seconds, "Seconds one generation may take in all.",
            default: { secondsText($0.generations.timeouts.total) }),
        ConfigurationKey(
            "upstream.maxAttempts", .int, "Attempts per generation (retryable failures before the first byte).",
            default: { "\($0.generations.retry.maxAttempts)" }),
        ConfigurationKey(
            "proxy.chatCompletions", .string, "The provider of `/v1/chat/completions` when the model names none.",
            default: { $0.control.proxyRouting.defaults["/v1/chat/completions"] }),
        ConfigurationKey(
            "proxy.responses", .string, "The provider of `/v1/responses` when the model names none.",
            default: { $0.control.proxyRouting.defaults["/v1/responses"] }),
        ConfigurationKey(
            "proxy.messages", .string, "The provider of `/v1/messages` when the model names none.",
            default: { $0.control.proxyRouting.defaults["/v1/messages"] }),
        ConfigurationKey(
            "proxy.models", .list, "`model=provider` pairs routing the SDK endpoints by model.",
            default: { c in
                c.control.proxyRouting.models.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }
                    .joined(separator: ",")
            }),
        ConfigurationKey(
            "proxy.retryGrace", .seconds,
            "Seconds a named topic stays open for an SDK's retry after a retryable upstream error.",
            default: { secondsText($0.generations.proxyRetryGrace) }),
        ConfigurationKey(
            "proxy.maxAnswerBytes", .int, "The largest non-streaming answer broadcast.",
            default: { "\($0.generations.maxCompleteAnswerBytes)" }),
        // Authentication and limits.
        ConfigurationKey(
            "auth.hs256Secret", .string, flag: "--auth-hs256-secret", secret: true,
            "Require tokens signed with this HS256 secret (at least 32 bytes).", default: { _ in nil }),
        ConfigurationKey(
            "auth.publicKey", .path, flag: "--auth-public-key",
            "Require tokens: a PEM public key (RSA → RS256, P-256 → ES256, P-384 → ES384).", default: { _ in nil }),
        ConfigurationKey(
            "auth.jwks", .path, flag: "--auth-jwks", "Require tokens: a JWKS file.", default: { _ in nil }),
        ConfigurationKey(
            "auth.audience", .string, "The `aud` a token must carry.", default: { $0.auth.audience }),
        ConfigurationKey(
            "auth.issuer", .string, "The `iss` a token must carry.", default: { $0.auth.issuer }),
        ConfigurationKey(
            "auth.leeway", .int, "Seconds of clock skew allowed on `exp` and `nbf`.",
            default: { "\($0.auth.leewaySeconds)" }),
        ConfigurationKey(
            "limits.maxConnections", .int, "Most open connections (503 above).",
            default: { "\($0.http.maxConnections)" }),
        ConfigurationKey(
            "limits.maxConnectionsPerIp", .int, "Most open connections from one address; 0: no limit.",
            default: { "\($0.http.maxConnectionsPerIP)" }),
        ConfigurationKey(
            "limits.maxSubscriptionsPerConnection", .int, "Most subscriptions on one connection.",
            default: { "\($0.control.maxSubscriptionsPerConnection)" }),
        ConfigurationKey(
            "limits.publishRate", .number, "Events per second per token (or address); 0: no limit.",
            default: { c in
                c.control.publishEventsPerSecond == c.control.publishEventsPerSecond.rounded()
                    ? String(Int(c.control.publishEventsPerSecond)) : String(c.control.publishEventsPerSecond)
            }),
        ConfigurationKey(
            "limits.publishBurst", .int, "Events a publisher may send at once above the rate.",
            default: { "\($0.control.publishBurst)" }),
        ConfigurationKey(
            "limits.maxHeaderBytes", .int, "Most bytes of request headers (431 above).",
            default: { "\($0.http.maxHeaderBytes)" }),
        ConfigurationKey(
            "limits.maxHeaderCount", .int, "Most request header fields (431 above).",
            default: { "\($0.http.maxHeaderCount)" }),
        ConfigurationKey(
            "limits.generationsPerToken", .int, "Most running generations per token; 0: no limit.",
            default: { "\($0.generations.maxConcurrentGenerationsPerOwner)" }),
        // Several nodes.
        ConfigurationKey(
            "broker.url", .string, flag: "--broker", secret: true,
            "Share topics with other nodes through Redis: `redis://[user:pass@]host:port[/db]` (or `rediss://`).",
            default: { $0.brokerURL }),
        ConfigurationKey(
            "broker.sharded", .bool, "Use sharded Pub/Sub (Redis Cluster).", default: { "\($0.brokerSharded)" }),
        // Observability.
        ConfigurationKey(
            "admin.console", .bool, flag: "--admin-console",
            "Serve the operator's console (`/admin`) when authentication is off (with auth on it needs an admin token).",
            default: { "\($0.control.adminConsoleWithoutAuth)" }),
        ConfigurationKey(
            "memory.trimInterval", .duration, flag: "--memory-trim-interval",
            "How often the allocator's free memory is checked and, past `memory.trimThreshold`, returned to the "
                + "system (`malloc_trim`; glibc only). `0`: never.",
            default: { durationText($0.memoryTrimInterval) }),
        ConfigurationKey(
            "memory.trimThreshold", .int,
            "Free bytes held by the allocator (after topics or connections went away) that make a trim worth it.",
            default: { "\($0.memoryTrimThreshold)" }),
        ConfigurationKey(
            "metrics.enabled", .bool, "Record metrics and serve them at `/metrics`.",
            default: { "\($0.metricsEnabled)" }),
        ConfigurationKey(
            "metrics.private", .bool, "`/metrics` needs an admin token.",
            default: { "\($0.control.metricsRequireAdmin)" }),
        ConfigurationKey(
            "log.format", .string, flag: "--log-format", "`text` or `json` (one object per line).",
            default: { $0.logFormat.rawValue }),
        ConfigurationKey(
            "log.level", .string, flag: "--log-level",
            "The lowest level logged: trace, debug, info, notice, warning, error, critical.",
            default: { $0.logLevel.rawValue }),
    ]
}
