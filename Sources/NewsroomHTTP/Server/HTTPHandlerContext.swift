import CoreMetrics
import Logging
import NIOCore
import NewsroomAuth
import NewsroomCore
import Synchronization

/// What every connection handler shares: the hub, the optional services, the settings.
final class HTTPHandlerContext: Sendable {
    let hub: Hub
    let generations: (any GenerationService)?
    let configuration: HTTPServer.Configuration
    let logger: Logger
    let metricsText: (@Sendable () -> ByteBuffer)?
    let sseHTTP1Format: WireFormat
    let sseFormat: WireFormat
    let ready = Atomic<Bool>(true)
    let metrics: HTTPMetrics
    /// Verifies tokens; `nil` when auth is off (every request is ``Principal/anonymous``).
    let auth: Authenticator?
    /// Shares topics with other nodes; `nil` for a single node (the hub sequences its topics itself).
    let broker: (any Broker)?
    let connections: ConnectionLimiter
    let publishRate: RateLimiter
    private let keepalives = Mutex<[ObjectIdentifier: WebSocketKeepalive]>([:])

    /// Whether `origin` may use the API from a browser.
    func allows(origin: String) -> Bool {
        self.configuration.allowedOrigins.contains("*") || self.configuration.allowedOrigins.contains(origin)
    }

    /// The WebSocket ping timer of `loop` (one per loop, created on first use).
    func keepalive(for loop: any EventLoop) -> WebSocketKeepalive {
        self.keepalives.withLock { keepalives in
            if let existing = keepalives[ObjectIdentifier(loop)] { return existing }
            let keepalive = WebSocketKeepalive(eventLoop: loop, interval: self.configuration.webSocketPingInterval)
            keepalives[ObjectIdentifier(loop)] = keepalive
            return keepalive
        }
    }

    init(
        hub: Hub, generations: (any GenerationService)?, configuration: HTTPServer.Configuration, logger: Logger,
        metricsText: (@Sendable () -> ByteBuffer)?, auth: Authenticator?, broker: (any Broker)? = nil
    ) {
        self.auth = auth
        self.broker = broker
        self.connections = ConnectionLimiter(
            maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerIP)
        self.publishRate = RateLimiter(rate: configuration.publishEventsPerSecond, burst: configuration.publishBurst)
        self.hub = hub
        self.generations = generations
        self.configuration = configuration
        self.logger = logger
        self.metricsText = metricsText
        self.metrics = HTTPMetrics(factory: MetricsSystem.factory)
        guard let http1 = hub.format(named: "sse-http1"), let plain = hub.format(named: "sse") else {
            preconditionFailure("the hub needs the 'sse-http1' and 'sse' wire formats (SSEChunkedEncoder, SSEEncoder)")
        }
        self.sseHTTP1Format = http1
        self.sseFormat = plain
    }
}
