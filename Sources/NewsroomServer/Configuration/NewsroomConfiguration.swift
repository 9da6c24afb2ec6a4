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
    /// An extra port for gRPC clients that cannot be pointed at the HTTP port (the same listener code
    /// serves it: gRPC, gRPC-Web and the HTTP API); `nil` or `0` (the default): none — gRPC and gRPC-Web
    /// are served on the HTTP port. It binds the HTTP port's host, with its certificate when TLS is on.
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
    /// How often the C allocator's free memory is checked and, past ``memoryTrimThreshold``, returned to
    /// the system (`memory.trimInterval`); zero: never. Default 30 s.
    public var memoryTrimInterval: TimeAmount = .seconds(30)
    /// Free bytes held by the allocator that make a trim worth it (`memory.trimThreshold`). Default 8 MiB.
    public var memoryTrimThreshold: Int = 8 << 20
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

    /// The extra gRPC port to bind, or `nil` for none.
    public var effectiveGRPCPort: Int? {
        switch self.grpcPort {
        case nil, 0?: nil
        case let port?: port
        }
    }
}
