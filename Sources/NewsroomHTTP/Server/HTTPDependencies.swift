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
    /// gRPC (and gRPC-Web binary on HTTP/2): each event as one length-prefixed message.
    let grpcFormat: WireFormat
    /// gRPC-Web text on HTTP/2: the same in base64.
    let grpcWebTextFormat: WireFormat
    /// gRPC-Web on HTTP/1.1: binary and text, each message as one chunk.
    let grpcWebChunkedFormat: WireFormat
    let grpcWebTextChunkedFormat: WireFormat
    /// The Socket.IO endpoint (its sessions and settings).
    let socketIO: EngineIOServer
    private let keepalives = Mutex<[ObjectIdentifier: ConnectionKeepalive]>([:])
    /// What to do when the hub starts draining (gRPC health watchers send `NOT_SERVING`).
    /// Health `Watch` calls waiting for the drain, by registration id (removed when a call ends).
    private let drainingCallbacks = Mutex<(next: UInt64, waiting: [UInt64: (any EventLoop, @Sendable () -> Void)])>(
        (0, [:]))

    init(
        control: ControlService, configuration: HTTPServer.Configuration, logger: Logger,
        metricsText: (@Sendable () -> ByteBuffer)?, metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        let hub = control.hub
        guard let chunked = hub.format(named: SSEChunkedEncoder.name), let plain = hub.format(named: SSEEncoder.name),
            let webSocket = hub.format(named: WebSocketFrameEncoder.name), let grpc = hub.format(named: GRPCFrameEncoder.name),
            let grpcWebText = hub.format(named: GRPCWebTextEncoder.name),
            let grpcWebChunked = hub.format(named: GRPCWebChunkedEncoder.name),
            let grpcWebTextChunked = hub.format(named: GRPCWebTextChunkedEncoder.name)
        else {
            preconditionFailure("the hub needs every wire format of HTTPServer.encoders")
        }
        self.control = control
        self.configuration = configuration
        self.logger = logger
        self.metricsText = metricsText
        self.metrics = HTTPMetrics(factory: metricsFactory)
        self.cors = CORSPolicy(allowedOrigins: configuration.allowedOrigins)
        self.connections = ConnectionLimiter(
            maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerIP)
        self.sseChunkedFormat = chunked
        self.sseFormat = plain
        self.webSocketFormat = webSocket
        self.grpcFormat = grpc
        self.grpcWebTextFormat = grpcWebText
        self.grpcWebChunkedFormat = grpcWebChunked
        self.grpcWebTextChunkedFormat = grpcWebTextChunked
        self.socketIO = EngineIOServer(
            settings: configuration.socketIO, control: control, logger: logger, configuration: configuration,
            metrics: SocketIOMetrics(factory: metricsFactory))
    }

    /// Runs `callback` on `loop` when the hub starts draining (once).
    /// Calls `callback` on `loop` when the hub starts draining (at once if it already has).
    /// - Returns: The registration, for ``unwatchDraining(_:)``.
    func watchDraining(on loop: any EventLoop, _ callback: @escaping @Sendable () -> Void) -> UInt64 {
        let id = self.drainingCallbacks.withLock { state in
            state.next += 1
            state.waiting[state.next] = (loop, callback)
            return state.next
        }
        if !self.ready.load(ordering: .relaxed) { self.drainingBegan() }
        return id
    }

    func unwatchDraining(_ id: UInt64) {
        _ = self.drainingCallbacks.withLock { $0.waiting.removeValue(forKey: id) }
    }

    func drainingBegan() {
        let callbacks = self.drainingCallbacks.withLock { state in
            defer { state.waiting.removeAll() }
            return state.waiting.values
        }
        for (loop, callback) in callbacks { loop.execute(callback) }
    }

    var hub: Hub { self.control.hub }

    /// The ping timer (WebSockets and HTTP/2 connections) of `loop` (one per loop, created on first use).
    func keepalive(for loop: any EventLoop) -> ConnectionKeepalive {
        self.keepalives.withLock { keepalives in
            if let existing = keepalives[ObjectIdentifier(loop)] { return existing }
            let keepalive = ConnectionKeepalive(eventLoop: loop, interval: self.configuration.pingInterval)
            keepalives[ObjectIdentifier(loop)] = keepalive
            return keepalive
        }
    }
}
