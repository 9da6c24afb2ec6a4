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
        /// The listen backlog. Default 4096.
        public var backlog: Int32 = 4096
        /// How long graceful shutdown waits for open requests to finish. Default 5 s.
        public var shutdownGracePeriod: TimeAmount = .seconds(5)
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
