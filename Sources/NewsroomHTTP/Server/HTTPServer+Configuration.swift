import NIOCore

extension HTTPServer {
    /// The listener's settings.
    public struct Configuration: Sendable {
        /// The address to bind. Default `127.0.0.1`.
        public var host: String = "127.0.0.1"
        /// The port to bind; 0 picks a free one (see ``HTTPServer/localAddress``). Default 8080.
        public var port: Int = 8080
        /// The largest request body accepted; larger ones get 413. Default 1 MiB.
        public var maxBodyBytes: Int = 1 << 20
        /// After a 413, how much more of the body is read and dropped before the connection closes, so
        /// that the answer reaches a client still sending (closing with unread data resets the
        /// connection, and the reset destroys the answer). Bounded in time by ``requestTimeout`` too.
        /// Default 64 MiB.
        public var maxDiscardedBodyBytes: Int = 64 << 20
        /// The reconnection delay sent to SSE clients in the `retry:` field. Default 1000 ms.
        public var sseRetryMilliseconds: Int = 1000
        /// How long a connection may take to send a complete request (head and body), and how long an
        /// idle keep-alive connection stays open. A slow request gets 408 and is closed. Default 30 s.
        public var requestTimeout: TimeAmount = .seconds(30)
        /// Outbound bytes buffered per connection before it counts as not writable (slow). Default 64 KiB.
        public var writeBufferHighWaterMark: Int = 64 << 10
        /// The low-water mark at which a slow connection is writable again. Default 32 KiB.
        public var writeBufferLowWaterMark: Int = 32 << 10
        /// The kernel send buffer per connection (`SO_SNDBUF`), bounding what a stalled reader costs;
        /// `nil` leaves the system default.
        public var socketSendBufferBytes: Int? = nil
        /// The listen backlog: connections the kernel holds until the hub accepts them. Default 65535;
        /// Linux caps it at `net.core.somaxconn` (4096 on most systems), so raise that too where thousands
        /// of viewers may reconnect at once — an overflow drops the handshake and costs each client a 1 s
        /// SYN retransmit.
        public var backlog: Int32 = 65535
        /// How long graceful shutdown waits for open requests to finish. Default 5 s.
        public var shutdownGracePeriod: TimeAmount = .seconds(5)
        /// On shutdown, how long the listener keeps serving (and accepting) after `/readyz` turned 503
        /// and gRPC health `NOT_SERVING`, so that load balancers stop sending new clients before
        /// anything is refused. Default 0 (a terminal's Ctrl-C stops at once); set it to a few of your
        /// load balancer's probe periods in deployments (the manifests in `deploy/` use 5 s).
        public var drainDelay: TimeAmount = .zero
        /// The largest WebSocket message (after reassembling fragments) a client may send; larger
        /// ones close the socket with 1009. Default 1 MiB.
        public var webSocketMaxMessageBytes: Int = 1 << 20
        /// How often WebSockets (ping frames) and HTTP/2 connections (PING frames, gRPC's keepalive) are
        /// pinged; two missed answers in a row close the connection. Default 15 s (the hub's heartbeat
        /// interval is used when the server is built by `NewsroomServer`).
        public var pingInterval: TimeAmount = .seconds(15)
        /// The most concurrent HTTP/2 streams per connection. Default 256.
        public var http2MaxConcurrentStreams: Int = 256
        /// Origins allowed to call the API from a browser (CORS, preflight handled) and to open
        /// WebSockets (`Origin` checked on the upgrade); `["*"]` allows any. Empty (the default): no CORS
        /// headers, and WebSocket origins are not checked.
        public var allowedOrigins: [String] = []
        /// The most open connections; more are refused with 503. Default 100,000.
        public var maxConnections: Int = 100_000
        /// The most open connections from one client address; 0 (the default) for no limit.
        public var maxConnectionsPerIP: Int = 0
        /// The most bytes of request headers (all fields together); more get 431. Default 16 KiB.
        public var maxHeaderBytes: Int = 16 << 10
        /// The most request header fields; more get 431. Default 100.
        public var maxHeaderCount: Int = 100
        /// A PEM certificate chain and private key: with both, the port speaks TLS (1.2 or later) and
        /// negotiates `h2` or `http/1.1` by ALPN. Without, it serves cleartext HTTP/1.1 and h2c.
        public var tls: TLSFiles? = nil
        /// Socket.IO (Engine.IO v4) on the same port.
        public var socketIO = SocketIOSettings()

        /// The Socket.IO endpoint's settings (the reference server's names and defaults).
        public struct SocketIOSettings: Sendable, Hashable {
            /// The path clients connect to (`path` of the Socket.IO clients), with or without the
            /// trailing slash. Default `/socket.io/`.
            public var path: String = "/socket.io/"
            /// How often the hub pings each session; the client answers within ``pingTimeout``.
            /// Default 25 s.
            public var pingInterval: TimeAmount = .seconds(25)
            /// How long a pong may take before the session is closed. Default 20 s.
            public var pingTimeout: TimeAmount = .seconds(20)
            /// How long a new session may take to connect a namespace (its first Socket.IO packet).
            /// Default 45 s.
            public var connectTimeout: TimeAmount = .seconds(45)
            /// How long an upgrade from long-polling to WebSocket may take. Default 10 s.
            public var upgradeTimeout: TimeAmount = .seconds(10)
            /// The largest message (a polling POST body, a WebSocket message) a client may send,
            /// advertised as `maxPayload`. Default 1,000,000 bytes.
            public var maxPayload: Int = 1_000_000
            /// Packets per long-polling answer; the rest wait for the next poll (the Python client
            /// refuses answers of more than 16). Default 16.
            public var maxPacketsPerPoll: Int = 16
            /// Connection state recovery: how long the subscriptions of a session that dropped are kept
            /// for the client to recover them (`pid` + `offset`); `nil` (the default, as in the
            /// reference server) turns it off: events then carry no offset argument.
            public var recoveryWindow: TimeAmount? = nil
            /// The most sessions kept for recovery at once (the oldest go first). Default 10,000.
            public var maxRecoverableSessions: Int = 10_000
            /// Per session, how many of the last written events are remembered for recovery (where the
            /// client's offset is looked up). Default 512.
            public var recoveryLogSize: Int = 512
            public init() {}
        }

        /// Paths of the PEM files for TLS.
        public struct TLSFiles: Sendable, Hashable {
            public var certificateChainPath: String
            public var privateKeyPath: String
            public init(certificateChainPath: String, privateKeyPath: String) {
                self.certificateChainPath = certificateChainPath
                self.privateKeyPath = privateKeyPath
            }
        }

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
