import Logging
import NIOCore
import NewsroomCore
import NewsroomAuth
import NewsroomControl
import NewsroomHTTP
import NewsroomUpstream

/// Everything `newsroom serve` can be told, gathered from flags, `NEWSROOM_*` environment variables
/// and a JSON config file (in that order of precedence) by ``init(reader:)``.
public struct NewsroomConfiguration: Sendable {
    /// The topic layer's limits and timings.
    public var hub: Hub.Configuration = .defaults
    /// The rules and limits every transport applies (publish rate, subscriptions per connection,
    /// private metrics).
    public var control: ControlService.Configuration = .defaults
    /// The HTTP listener.
    public var http: HTTPServer.Configuration = .defaults
    /// The gRPC port: `nil` (the default) for 50051, or an ephemeral port when ``NewsroomHTTP/HTTPServer/Configuration/port``
    /// is 0 (tests and embedders that ask for free ports get a free gRPC port too); `0` switches gRPC off. It
    /// binds the HTTP port's host and speaks TLS with the HTTP port's certificate when that is configured.
    public var grpcPort: Int?
    /// Event-loop threads; the number of cores by default.
    public var threads: Int = System.coreCount
    /// Providers, upstream timeouts, retries and the generation limit.
    public var generations: GenerationManager.Configuration = .defaults
    /// `text` (human-readable, default) or `json` (one object per line).
    public var logFormat: LogFormat = .text
    /// The cross-node broker: `redis://[user:pass@]host:port[/db]`, or `nil` for a single node.
    public var brokerURL: String?
    /// Use sharded Pub/Sub (Redis Cluster).
    public var brokerSharded = false
    /// Token verification; off (every request allowed) unless a key is configured.
    public var auth: Authenticator.Configuration = .init()
    /// Whether metrics are recorded and served at `/metrics`. Default on.
    public var metricsEnabled: Bool = true
    /// The lowest level logged. Default `info`.
    public var logLevel: Logger.Level = .info

    /// How log lines are written.
    public enum LogFormat: String, Sendable {
        case text
        case json
    }

    public init() {
        // A 40 ms flush window: at the 20–150 tokens/s a model streams, a viewer gets 1 to 6 tokens per
        // write instead of one write per token — the kernel's write is most of the cost of a delivery —
        // and 40 ms is well under what a reader notices (Ably batches AI tokens at 40 ms too).
        self.hub.flushInterval = .milliseconds(40)
    }

    /// The gRPC port to bind (0: an ephemeral one), or `nil` when gRPC is off.
    public var effectiveGRPCPort: Int? {
        switch self.grpcPort {
        case nil: self.http.port == 0 ? 0 : 50051
        case 0?: nil
        case let port?: port
        }
    }
}
