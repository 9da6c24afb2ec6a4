import CoreMetrics
import Logging
import NIOCore
import NewsroomControl
import NewsroomCore
import NewsroomWire
import Synchronization

/// What every connection of the listener shares: the control service, the settings, the wire formats
/// of its subscribers, and the listener-wide state (readiness, connection limits, per-loop timers).
final class HTTPDependencies: Sendable {
    /// Every operation goes through it.
    let control: ControlService
    let configuration: HTTPServer.Configuration
    let logger: Logger
    /// Renders `GET /metrics`; `nil` answers 404.
    let metricsText: (@Sendable () -> ByteBuffer)?
    let metrics: HTTPMetrics
    let cors: CORSPolicy
    /// `false` once draining: `/readyz` answers 503.
    let ready = Atomic<Bool>(true)
    let connections: ConnectionLimiter
    /// SSE on HTTP/1.1: each event as one chunk of a chunked body.
    let sseChunkedFormat: WireFormat
    /// SSE on HTTP/2: each event as a bare SSE block.
    let sseFormat: WireFormat
    /// WebSocket: each event as one text frame.
    let webSocketFormat: WireFormat
    private let keepalives = Mutex<[ObjectIdentifier: WebSocketKeepalive]>([:])

    init(
        control: ControlService, configuration: HTTPServer.Configuration, logger: Logger,
        metricsText: (@Sendable () -> ByteBuffer)?
    ) {
        let hub = control.hub
        guard let chunked = hub.format(named: SSEChunkedEncoder.name), let plain = hub.format(named: SSEEncoder.name),
            let webSocket = hub.format(named: WebSocketFrameEncoder.name)
        else {
            preconditionFailure(
                "the hub needs the 'sse-chunked', 'sse' and 'websocket' wire formats (SSEChunkedEncoder, SSEEncoder, WebSocketFrameEncoder)")
        }
        self.control = control
        self.configuration = configuration
        self.logger = logger
        self.metricsText = metricsText
        self.metrics = HTTPMetrics(factory: MetricsSystem.factory)
        self.cors = CORSPolicy(allowedOrigins: configuration.allowedOrigins)
        self.connections = ConnectionLimiter(
            maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerIP)
        self.sseChunkedFormat = chunked
        self.sseFormat = plain
        self.webSocketFormat = webSocket
    }

    var hub: Hub { self.control.hub }

    /// The WebSocket ping timer of `loop` (one per loop, created on first use).
    func keepalive(for loop: any EventLoop) -> WebSocketKeepalive {
        self.keepalives.withLock { keepalives in
            if let existing = keepalives[ObjectIdentifier(loop)] { return existing }
            let keepalive = WebSocketKeepalive(eventLoop: loop, interval: self.configuration.webSocketPingInterval)
            keepalives[ObjectIdentifier(loop)] = keepalive
            return keepalive
        }
    }
}
