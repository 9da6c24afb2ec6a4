/// How the simulated viewers talk to the server.
public struct TransportMix: Sendable, Hashable, Codable, CustomStringConvertible {
    enum Kind: String, Sendable, Hashable, Codable {
        case sse, ws, grpc, mixed
    }

    let kind: Kind

    /// Server-Sent Events over HTTP/1.1 (`GET /v1/topics/{topic}/events`).
    public static let sse = TransportMix(kind: .sse)
    /// WebSocket (`GET /v1/topics/{topic}/ws`), one text frame per event.
    public static let webSocket = TransportMix(kind: .ws)
    /// gRPC server streaming.
    public static let grpc = TransportMix(kind: .grpc)
    /// An even share of every transport.
    public static let mixed = TransportMix(kind: .mixed)

    /// Parses `sse`, `ws`, `grpc` or `mixed`.
    public init?(_ name: String) {
        guard let kind = Kind(rawValue: name.lowercased()) else { return nil }
        self.kind = kind
    }

    init(kind: Kind) { self.kind = kind }

    public var description: String { self.kind.rawValue }

    /// The transport of viewer `index` (under ``mixed``: SSE, WebSocket and gRPC in turn).
    func transport(viewer index: Int) -> ViewerTransport {
        switch self.kind {
        case .sse: .sse
        case .ws: .webSocket
        case .grpc: .grpc
        case .mixed: [ViewerTransport.sse, .webSocket, .grpc][index % 3]
        }
    }

    /// Whether any viewer uses gRPC.
    var includesGRPC: Bool { self.kind == .grpc || self.kind == .mixed }
}

/// How one simulated viewer talks to the server.
enum ViewerTransport: Sendable {
    case sse, webSocket, grpc
}

/// Which server the load tester talks to: the paths it subscribes and publishes on, and how it publishes.
public struct ServerFlavor: Sendable, Hashable, Codable, CustomStringConvertible {
    enum Kind: String, Sendable, Hashable, Codable {
        case newsroom, nchan
    }

    let kind: Kind

    /// The Newsroom hub: `GET /v1/topics/{t}/events`, `POST /v1/topics/{t}/events` with one event object.
    public static let newsroom = ServerFlavor(kind: .newsroom)
    /// nginx with the nchan module as `bench/nchan.conf.template` sets it up: `GET /sub/{t}` (EventSource),
    /// `POST /pub/{t}` with the raw message as the body.
    public static let nchan = ServerFlavor(kind: .nchan)

    /// Parses `newsroom` or `nchan`.
    public init?(_ name: String) {
        guard let kind = Kind(rawValue: name.lowercased()) else { return nil }
        self.kind = kind
    }

    init(kind: Kind) { self.kind = kind }

    public var description: String { self.kind.rawValue }

    /// The request target a viewer of `topic` asks for.
    func subscribePath(topic: String, policy: String?) -> String {
        switch self.kind {
        case .newsroom:
            if let policy { return "/v1/topics/\(topic)/events?policy=\(policy)" }
            return "/v1/topics/\(topic)/events"
        case .nchan:
            return "/sub/\(topic)"
        }
    }

    /// The request target a WebSocket viewer of `topic` upgrades (nchan: the same location as SSE).
    func webSocketPath(topic: String, policy: String?) -> String {
        switch self.kind {
        case .newsroom:
            if let policy { return "/v1/topics/\(topic)/ws?policy=\(policy)" }
            return "/v1/topics/\(topic)/ws"
        case .nchan:
            return "/sub/\(topic)"
        }
    }

    /// The request target the publisher posts one event of `topic` to.
    func publishPath(topic: String) -> String {
        switch self.kind {
        case .newsroom: "/v1/topics/\(topic)/events"
        case .nchan: "/pub/\(topic)"
        }
    }
}

extension LoadTestRunner {
    /// Everything one load-test run does. Defaults are the `newsroom loadtest` flags' defaults.
    public struct Configuration: Sendable, Codable {
        /// The server's base URL (`http://HOST:PORT`, or `https://HOST:PORT` for TLS). Default
        /// `http://127.0.0.1:8080`.
        public var url: String = "http://127.0.0.1:8080"
        /// For an `https://` URL: a PEM file of the certificate authority (or the server's self-signed
        /// certificate) to trust instead of the system's trust store.
        public var caCertificate: String?
        /// Allow a host other than loopback (off by default: a load test is not aimed at others' hosts).
        public var allowRemote = false
        /// The server being measured. Default ``ServerFlavor/newsroom``.
        public var server: ServerFlavor = .newsroom
        /// The viewers' transport. Default ``TransportMix/sse``.
        public var transport: TransportMix = .sse
        /// The hub's gRPC port (on the host of ``url``), for gRPC viewers. Default `nil`: the port of ``url``
        /// (the hub serves gRPC on its HTTP port).
        public var grpcPort: Int?
        /// Simulated viewers. Default 100.
        public var clients = 100
        /// Topics; viewer `i` watches topic `i % topics`. Default 1.
        public var topics = 1
        /// Events per second published to each topic. 0 publishes nothing (an idle-memory run). Default 10.
        public var rate: Double = 10
        /// Bytes of text per event (the marker plus padding). Default 100.
        public var payloadBytes = 100
        /// Events per publish request (hub only; an NDJSON batch, sent when its last event falls due, every
        /// event stamped with the send time). Default 1: one event per request, like a token stream.
        public var publishBatch = 1
        /// Seconds of publishing. Default 10.
        public var duration: Double = 10
        /// New connections per second while connecting. Default 2,000.
        public var ramp: Double = 2_000
        /// Most connection attempts in flight at once while ramping. Default 1,000.
        public var maxPendingConnects = 1_000
        /// Seconds to wait for all connections before starting anyway. Default: enough for the ramp plus 20 s.
        public var connectTimeout: Double?
        /// Seconds to let the server settle after connecting, before the idle RSS sample. Default 2.
        public var idleSettle: Double = 2
        /// Seconds after the last publish to wait for the viewers to catch up. Default 5.
        public var drain: Double = 5
        /// Child processes to split the viewers over (0: all in this process). Default 0.
        public var workers = 0
        /// The server's process id, for CPU and memory figures from `/proc`.
        public var serverPID: Int?
        /// Share of viewers that read slowly (0…1). Default 0.
        public var slowFraction: Double = 0
        /// Bytes per second a slow viewer reads; 0 stalls it completely. Default 0.
        public var slowReadBytesPerSecond = 0
        /// Drop every connection at once in the middle of the run and resume with `Last-Event-ID`.
        public var reconnectStorm = false
        /// Viewers leave and new ones join continuously, at ``churnRate`` per second.
        public var churn = false
        /// Viewers replaced per second with ``churn``. Default: 5 % of the viewers per second.
        public var churnRate: Double?
        /// Start real generations through `POST /v1/generations` with this provider instead of publishing.
        public var generationProvider: String?
        /// The provider request of each generation (a JSON object).
        public var generationRequest = #"{"model":"loadtest","stream":true,"messages":[{"role":"user","content":"Tell me a story."}]}"#
        /// `?policy=` for every viewer (hub only). Default: the server's default.
        public var policy: String?
        /// Event-loop threads of this process. Default: the number of cores.
        public var threads: Int?
        /// Topic names are `<topicPrefix>-<k>`. Default: `lt-` and a random run id.
        public var topicPrefix: String = "lt-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        /// Hard bound on the whole run in seconds (the run stops and reports what it has). Default: all
        /// phases' bounds plus 30 s.
        public var timeout: Double?
        /// Whether to end the run's topics on the hub at the end (`DELETE /v1/topics/{t}`). Default true.
        public var cleanup = true

        /// This process's share when it is a worker: viewers `[range]` of `clients`.
        public var clientRange: Range<Int>?

        public init() {}

        /// The defaults.
        public static var defaults: Self { Self() }

        /// The defaults with changes.
        public static func defaults(configure: (inout Self) -> Void) -> Self {
            var configuration = Self()
            configure(&configuration)
            return configuration
        }

        /// Seconds allowed for connecting.
        var effectiveConnectTimeout: Double {
            self.connectTimeout ?? (Double(self.clients) / max(self.ramp, 1) + 20)
        }

        /// Seconds the whole run may take.
        var effectiveTimeout: Double {
            self.timeout
                ?? (self.effectiveConnectTimeout + self.idleSettle + self.duration + self.drain + 30)
        }

        /// Viewers replaced per second under churn.
        var effectiveChurnRate: Double { self.churnRate ?? max(1, Double(self.clients) * 0.05) }

        /// The name of topic `k`.
        func topicName(_ k: Int) -> String { "\(self.topicPrefix)-\(k)" }

        /// Whether viewer `i` is one of the slow ones (spread evenly: every 1/F-th viewer).
        func isSlow(_ i: Int) -> Bool {
            guard self.slowFraction > 0 else { return false }
            return Int(Double(i + 1) * self.slowFraction) > Int(Double(i) * self.slowFraction)
        }

        /// Checks the values and the target; the errors name the flag.
        public func validate() throws(LoadTestError) {
            guard let endpoint = Endpoint(url: self.url) else {
                throw .invalidConfiguration("--url must look like http://HOST:PORT or https://HOST:PORT (got '\(self.url)')")
            }
            if self.caCertificate != nil && !endpoint.secure {
                throw .invalidConfiguration("--ca-certificate needs an https:// --url")
            }
            if !endpoint.isLoopback && !self.allowRemote {
                throw .invalidConfiguration(
                    "--url \(self.url) is not a loopback address; pass --allow-remote to load another host")
            }
            guard self.clients >= 0 else { throw .invalidConfiguration("--clients must be ≥ 0") }
            guard self.topics >= 1 else { throw .invalidConfiguration("--topics must be ≥ 1") }
            guard self.rate >= 0, self.rate <= 100_000 else { throw .invalidConfiguration("--rate must be 0…100000") }
            guard self.payloadBytes >= 0, self.payloadBytes <= 1 << 20 else {
                throw .invalidConfiguration("--payload must be 0…1048576 bytes")
            }
            guard self.duration >= 0, self.duration <= 86_400 else {
                throw .invalidConfiguration("--duration must be 0…86400 seconds")
            }
            guard self.ramp > 0 else { throw .invalidConfiguration("--ramp must be > 0") }
            guard self.workers >= 0, self.workers <= 64 else { throw .invalidConfiguration("--workers must be 0…64") }
            guard (0...1).contains(self.slowFraction) else {
                throw .invalidConfiguration("--slow-fraction must be between 0 and 1")
            }
            guard self.slowReadBytesPerSecond >= 0 else { throw .invalidConfiguration("--slow-read-bps must be ≥ 0") }
            if self.transport.includesGRPC && self.server.kind != .newsroom {
                throw .invalidConfiguration("--transport grpc and mixed work only against the newsroom hub")
            }
            if let grpcPort = self.grpcPort, !(1...65_535).contains(grpcPort) { throw .invalidConfiguration("--grpc-port must be 1…65535") }
            if self.generationProvider != nil && self.server.kind != .newsroom {
                throw .invalidConfiguration("--generation works only against the newsroom hub")
            }
            guard (1...10_000).contains(self.publishBatch) else { throw .invalidConfiguration("--batch must be 1…10000") }
            if self.publishBatch > 1 && self.server.kind != .newsroom {
                throw .invalidConfiguration("--batch works only against the newsroom hub (nchan takes one message per request)")
            }
            if self.policy != nil && self.server.kind != .newsroom {
                throw .invalidConfiguration("--policy works only against the newsroom hub")
            }
        }
    }
}

/// An `http://host:port` or `https://host:port` base URL, split.
struct Endpoint: Sendable, Hashable {
    var host: String
    var port: Int
    /// `https://`: every connection speaks TLS.
    var secure: Bool

    init?(url: String) {
        var rest = Substring(url)
        if rest.lowercased().hasPrefix("https://") {
            self.secure = true
            rest = rest.dropFirst("https://".count)
        } else if rest.lowercased().hasPrefix("http://") {
            self.secure = false
            rest = rest.dropFirst("http://".count)
        } else {
            return nil
        }
        let defaultPort = self.secure ? 443 : 80
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            self.host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.isEmpty {
                self.port = defaultPort
            } else {
                guard after.hasPrefix(":"), let port = Int(after.dropFirst()) else { return nil }
                self.port = port
            }
        } else if let colon = rest.lastIndex(of: ":") {
            self.host = String(rest[..<colon])
            guard let port = Int(rest[rest.index(after: colon)...]) else { return nil }
            self.port = port
        } else {
            self.host = String(rest)
            self.port = defaultPort
        }
        guard !self.host.isEmpty, (1...65_535).contains(self.port) else { return nil }
    }

    /// 127.0.0.0/8, `::1` or `localhost`.
    var isLoopback: Bool {
        self.host == "localhost" || self.host == "::1" || self.host.hasPrefix("127.")
    }

    /// Whether viewers may bind other 127.0.0.x source addresses (IPv4 loopback targets only).
    var canSpreadSourceAddresses: Bool { self.host.hasPrefix("127.") }
}

/// Why a load test could not run.
public struct LoadTestError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable {
        case invalidConfiguration, unsupported, serverUnavailable, workerFailed, connectionClosed
    }

    private let code: Code
    /// What went wrong, for a person.
    public let message: String

    /// A flag has a wrong value.
    public static func invalidConfiguration(_ message: String) -> Self { Self(code: .invalidConfiguration, message: message) }
    /// The run asks for something not implemented (yet) by the load tester or the server.
    public static func unsupported(_ message: String) -> Self { Self(code: .unsupported, message: message) }
    /// The server could not be reached or answered unexpectedly.
    public static func serverUnavailable(_ message: String) -> Self { Self(code: .serverUnavailable, message: message) }
    /// A worker process failed.
    public static func workerFailed(_ message: String) -> Self { Self(code: .workerFailed, message: message) }

    /// The server closed a control connection before answering.
    static var connectionClosed: Self { Self(code: .connectionClosed, message: "the server closed the connection") }

    var isConnectionClosed: Bool { self.code == .connectionClosed }

    public var description: String { self.message }
}
