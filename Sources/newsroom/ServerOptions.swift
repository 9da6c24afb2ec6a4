import ArgumentParser
import Configuration
import Logging
import NewsroomServer

/// The flags shared by `serve` and `demo`. Every flag is optional so that, when it is absent, the
/// `NEWSROOM_*` environment variable and then the config file decide.
struct ServerOptions: ParsableArguments {
    @Option(help: "The address to bind (default 127.0.0.1).") var host: String?
    @Option(help: "The HTTP port (default 8080).") var port: Int?
    @Option(help: "An extra port for gRPC (default none: gRPC and gRPC-Web are served on --port).") var grpcPort: Int?
    @Option(help: "A JSON config file (also NEWSROOM_CONFIG).") var config: String?
    @Option(help: "Seconds of silence before a subscriber gets a heartbeat (default 15; fractions allowed).")
    var heartbeatInterval: Double?
    @Option(help: "Slow-consumer policy when a subscriber asks for none: coalesce, drop_oldest, disconnect.")
    var defaultPolicy: String?
    @Option(help: "Most events queued for one slow subscriber (default 4096).") var queueMaxEvents: Int?
    @Option(help: "Most bytes queued for one slow subscriber (default 1 MiB).") var queueMaxBytes: Int?
    @Option(help: "Most events kept in one topic's history (default 100000).") var historyMaxEvents: Int?
    @Option(help: "Most bytes kept in one topic's history (default 16 MiB).") var historyMaxBytes: Int?
    @Option(help: "Most bytes kept by all histories together (default 1 GiB).") var historyMaxTotalBytes: Int?
    @Option(help: "Seconds an ended topic keeps its history (default 600).") var retention: Double?
    @Option(help: "Most topics held at once (default 100000).") var maxTopics: Int?
    @Option(help: "Largest accepted request body in bytes (default 1 MiB).") var maxBodyBytes: Int?
    @Option(
        help: "On shutdown, seconds to keep serving after /readyz turns 503, so load balancers drain the node first (default 0).")
    var drainDelay: Double?
    @Option(
        help: """
            The flush window: a topic's events that arrive within it reach each viewer as one write \
            (default 40ms; 0 writes every event at once). Topics (?flush_interval= on publish) and viewers \
            (?max_delay=) may choose their own, up to 1s.
            """)
    var flushInterval: String?
    @Option(help: "How long a published event may wait for its core before publishers are held back (default 50ms).")
    var maxFanOutDelay: String?
    @Option(help: "Deliveries (events × viewers) a core may have queued before publishers are held back (default 200000).")
    var maxFanOutBacklog: Int?
    @Option(
        help: """
            How often memory freed by topics and connections that went away is returned to the system \
            (default 30s; 0: never).
            """)
    var memoryTrimInterval: String?
    @Option(help: "Event-loop threads (default: one per core).") var threads: Int?
    @Option(help: "PEM certificate chain: with --tls-private-key, the port speaks TLS (h2 or http/1.1 by ALPN).")
    var tlsCertificate: String?
    @Option(help: "PEM private key for --tls-certificate.") var tlsPrivateKey: String?
    @Option(help: "Require tokens: an HS256 secret (also NEWSROOM_AUTH_HS256_SECRET).") var authHs256Secret: String?
    @Option(help: "Require tokens: a PEM public key (RSA → RS256, P-256 → ES256, P-384 → ES384).") var authPublicKey: String?
    @Option(help: "Require tokens: a JWKS file.") var authJwks: String?
    @Option(help: "Share topics with other nodes through Redis: redis://[user:pass@]host:port[/db] (also NEWSROOM_BROKER_URL).")
    var broker: String?
    @Option(help: "Allowed browser origins, comma-separated ('*' for any): CORS and WebSocket Origin checks.")
    var allowedOrigins: String?
    @Flag(
        help: """
            Serve the operator's console at /admin even with authentication off (anyone who reaches the hub \
            can then use it). With authentication on it is always served, to tokens with admin.
            """)
    var adminConsole = false
    @Option(help: "Log format: text or json (also NEWSROOM_LOG_FORMAT).") var logFormat: String?
    @Option(help: "Lowest log level (default info).") var logLevel: String?

    /// The parsed flags as configuration keys, for the top of the provider hierarchy.
    var overrides: [AbsoluteConfigKey: ConfigValue] {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        func set(_ key: AbsoluteConfigKey, _ content: ConfigContent?) {
            if let content { values[key] = ConfigValue(content, isSecret: false) }
        }
        set("host", self.host.map { .string($0) })
        set("port", self.port.map { .int($0) })
        set("grpc.port", self.grpcPort.map { .int($0) })
        set("heartbeatInterval", self.heartbeatInterval.map { .double($0) })
        set("defaultPolicy", self.defaultPolicy.map { .string($0) })
        set("queue.maxEvents", self.queueMaxEvents.map { .int($0) })
        set("queue.maxBytes", self.queueMaxBytes.map { .int($0) })
        set("history.maxEvents", self.historyMaxEvents.map { .int($0) })
        set("history.maxBytes", self.historyMaxBytes.map { .int($0) })
        set("history.maxTotalBytes", self.historyMaxTotalBytes.map { .int($0) })
        set("history.retention", self.retention.map { .double($0) })
        set("topics.max", self.maxTopics.map { .int($0) })
        set("http.maxBodyBytes", self.maxBodyBytes.map { .int($0) })
        set("http.drainDelay", self.drainDelay.map { .double($0) })
        set("flush.interval", self.flushInterval.map { .string($0) })
        set("fanout.maxBacklog", self.maxFanOutBacklog.map { .int($0) })
        set("fanout.maxDelay", self.maxFanOutDelay.map { .string($0) })
        set("threads", self.threads.map { .int($0) })
        set("memory.trimInterval", self.memoryTrimInterval.map { .string($0) })
        set("tls.certificate", self.tlsCertificate.map { .string($0) })
        set("tls.privateKey", self.tlsPrivateKey.map { .string($0) })
        if let secret = self.authHs256Secret { values["auth.hs256Secret"] = ConfigValue(.string(secret), isSecret: true) }
        set("auth.publicKey", self.authPublicKey.map { .string($0) })
        set("auth.jwks", self.authJwks.map { .string($0) })
        set("cors.allowedOrigins", self.allowedOrigins.map { .string($0) })
        if let broker = self.broker { values["broker.url"] = ConfigValue(.string(broker), isSecret: true) }
        set("log.format", self.logFormat.map { .string($0) })
        set("log.level", self.logLevel.map { .string($0) })
        set("admin.console", self.adminConsole ? .bool(true) : nil)
        return values
    }

    /// Reads the whole configuration: flags, then `NEWSROOM_*`, then the config file. Every mistake is
    /// printed on standard error, naming where it was written, and ends the command with exit status 1.
    func load() async throws -> NewsroomConfiguration {
        let file = self.config ?? ProcessInfoEnvironment.value("NEWSROOM_CONFIG")
        do {
            return try NewsroomConfiguration.load(
                overrides: self.overrides, environment: ProcessEnvironment.all, configFile: file)
        } catch {
            for problem in error.problems { FileHandleOutput.stderr("newsroom: \(problem)\n") }
            throw ExitCode.failure
        }
    }
}

enum ProcessEnvironment {
    /// Every environment variable of the process.
    static var all: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let pair = String(cString: entry)
            if let equals = pair.firstIndex(of: "=") {
                result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

enum ProcessInfoEnvironment {
    static func value(_ name: String) -> String? {
        guard let pointer = getenv(name) else { return nil }
        return String(cString: pointer)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
