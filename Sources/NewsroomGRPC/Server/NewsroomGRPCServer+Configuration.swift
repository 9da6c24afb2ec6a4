extension NewsroomGRPCServer {
    /// Where and how the gRPC port listens.
    ///
    /// The gRPC server has its own port, next to the HTTP one. There is no "off" value here: an app
    /// that does not want gRPC does not create a ``NewsroomGRPCServer`` (the `newsroom` command maps
    /// `--grpc-port 0` to that); port 0 in this configuration means "any free port", for tests.
    public struct Configuration: Sendable {
        /// The address to bind: an IPv4 or IPv6 literal, or `localhost`. Default `127.0.0.1`.
        public var host: String = "127.0.0.1"
        /// The port. Default 50051 (gRPC's customary port); 0 picks a free one (see
        /// ``NewsroomGRPCServer/listeningPort()``).
        public var port: Int = 50051
        /// Serve TLS (h2 by ALPN) with this certificate and key instead of plaintext HTTP/2. `nil` by default.
        public var tls: TLS?
        /// Keepalive pings, so idle subscriptions survive proxies and dead peers are noticed.
        public var keepalive: Keepalive = .defaults
        /// The largest message a client may send (a `PublishRequest`, a `GenerationRequest`). Default
        /// 1 MiB, the HTTP API's body limit.
        public var maxReceiveMessageBytes: Int = 1 << 20
        /// The most concurrent calls (HTTP/2 streams) per connection; `nil` for no limit (2^31 - 1 is
        /// advertised: without the setting SwiftNIO's HTTP/2 would enforce 100). Default `nil`: one
        /// connection may carry thousands of subscriptions, as with other gRPC servers.
        public var maxConcurrentStreamsPerConnection: Int?
        /// What one subscription buffers between the hub's event loop and its call before it counts as
        /// slow (the hub's queue and the subscription's policy take over). Default 64 KiB, like NIO's
        /// write-buffer high-water mark for the other transports.
        public var subscriberBufferBytes: Int = 64 << 10

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

    /// The certificate and key of the gRPC port: the same PEM files as the HTTP port's TLS.
    public struct TLS: Sendable, Hashable {
        /// A PEM file holding the certificate chain, leaf first.
        public var certificatePath: String
        /// A PEM file holding the private key.
        public var privateKeyPath: String

        public init(certificatePath: String, privateKeyPath: String) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// HTTP/2 keepalive (gRFC A8/A9): the server pings an idle connection, and allows clients to ping.
    public struct Keepalive: Sendable, Hashable {
        /// Ping a connection when nothing was read from it for this long. Default 30 s: below the idle
        /// timeout of common proxies and load balancers (60 s and up).
        public var interval: Duration = .seconds(30)
        /// Close the connection if a ping is not answered within this. Default 10 s.
        public var timeout: Duration = .seconds(10)
        /// Whether clients may ping while no call is open. Default `true`.
        public var permitClientPingsWithoutCalls: Bool = true
        /// The shortest interval between client pings the server tolerates; clients pinging more often
        /// are told to go away (`too_many_pings`). Default 10 s.
        public var minClientPingInterval: Duration = .seconds(10)

        public init() {}

        /// The defaults.
        public static var defaults: Keepalive { Keepalive() }
    }
}
