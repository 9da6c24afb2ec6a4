import CoreMetrics
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import NIOWebSocket
import NewsroomControl
import NewsroomCore
import NewsroomWire
import Synchronization

/// The hub's HTTP listener: the control API, publishing, SSE and WebSocket subscriptions, on one port.
/// Every request goes through one ``ControlService``; the listener only speaks the protocols.
///
/// One port speaks HTTP/1.1 (with WebSocket upgrades) and HTTP/2: in cleartext, h2 with prior
/// knowledge is told apart by its connection preface (``HTTPVersionSniffer``); with TLS, ALPN chooses
/// `h2` or `http/1.1`. An HTTP/1.1 connection gets NIO's server pipeline, a ``ConnectionIOHandler``
/// where pre-framed SSE chunks and WebSocket frames are written (below the encoders, above TLS), and an
/// ``HTTPRequestHandler``. An HTTP/2 connection gets one ``HTTPRequestHandler`` per stream.
///
/// Start it with ``start()``; stop it with ``shutdown()``: it stops accepting, lets open requests finish
/// (the owner ends open SSE streams by shutting the hub down), then closes what is left after the grace
/// period.
public final class HTTPServer: Sendable {
    public let configuration: Configuration
    private let dependencies: HTTPDependencies
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger

    private struct Running {
        var channel: (any Channel)?
        var quiesce: ServerQuiescingHelper?
    }
    private let running = Mutex(Running())

    /// The current TLS context; replaced by ``reloadTLS()``, read by every new connection.
    private final class TLSBox: Sendable {
        let context = Mutex<NIOSSLContext?>(nil)
    }
    private let tls = TLSBox()

    /// The wire formats the listener's transports write: its hub must be made with these encoders (each
    /// event is encoded only for the formats that have subscribers, so a format nobody uses costs
    /// nothing).
    public static let encoders: [any FrameEncoder] = [
        SSEChunkedEncoder(), SSEEncoder(), WebSocketFrameEncoder(), GRPCFrameEncoder(), GRPCWebTextEncoder(),
        GRPCWebChunkedEncoder(), GRPCWebTextChunkedEncoder(),
    ] + SocketIOEventEncoder.all

    /// Creates a server; nothing is bound until ``start()``.
    /// - Parameters:
    ///   - configuration: The listener settings.
    ///   - control: The control service every request goes through; its hub must have the wire formats
    ///     of ``encoders``.
    ///   - eventLoopGroup: The loops that run connections (and so the hub's delivery shards).
    ///   - logger: Where connection-level events are logged.
    ///   - metricsText: Renders `GET /metrics`, or `nil` to answer 404.
    ///   - metricsFactory: Where the listener's metrics go (the global `MetricsSystem` by default).
    public init(
        configuration: Configuration, control: ControlService, eventLoopGroup: any EventLoopGroup, logger: Logger,
        metricsText: (@Sendable () -> ByteBuffer)? = nil, metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.dependencies = HTTPDependencies(
            control: control, configuration: configuration, logger: logger, metricsText: metricsText,
            metricsFactory: metricsFactory)
    }

    /// The bound address, once started.
    public var localAddress: SocketAddress? {
        self.running.withLock { $0.channel?.localAddress }
    }

    /// Binds and starts accepting connections.
    /// - Returns: The bound address (useful with port 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let quiesce = ServerQuiescingHelper(group: self.eventLoopGroup)
        let dependencies = self.dependencies
        let configuration = self.configuration
        if let files = configuration.tls {
            let context = try Self.makeTLSContext(files)
            self.tls.context.withLock { $0 = context }
        }
        let tlsBox = self.tls
        var bootstrap = ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Accept up to 256 connections per wake-up (NIO's default is 4): when thousands of viewers
            // reconnect at once (a restart, a network blip), the kernel's accept queue is drained before
            // it overflows — an overflow drops the handshake and costs the client a 1 s SYN retransmit.
            .serverChannelOption(.maxMessagesPerRead, value: 256)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Each channel keeps its receive buffer between reads: start small (viewers send one short
            // request), and let it grow for large publish bodies. Saves ~1.5 KB per idle subscriber.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            // (No SO_REUSEADDR on accepted sockets: it only matters for binding, and each option applied
            // is a setsockopt and a future per accept — thousands at once when viewers reconnect together.)
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(low: configuration.writeBufferLowWaterMark, high: configuration.writeBufferHighWaterMark))
            .childChannelInitializer { channel in
                let tls = tlsBox.context.withLock { $0 }
                return channel.eventLoop.makeCompletedFuture {
                    try Self.configureConnection(channel: channel, dependencies: dependencies, tls: tls)
                }
            }
        if let sendBuffer = configuration.socketSendBufferBytes {
            bootstrap = bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(sendBuffer))
        }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        self.running.withLock {
            $0.channel = channel
            $0.quiesce = quiesce
        }
        self.logger.info(
            "http listener started",
            metadata: ["newsroom.address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        return channel.localAddress!
    }

    /// Sets up a new connection: TLS with ALPN, or the cleartext HTTP/1.1-or-h2c sniffer.
    static func configureConnection(channel: any Channel, dependencies: HTTPDependencies, tls: NIOSSLContext?) throws {
        let sync = channel.pipeline.syncOperations
        let io = ConnectionIOHandler(
            metrics: dependencies.metrics, logger: dependencies.logger, limiter: dependencies.connections,
            onLimit: { dependencies.control.recordLimitRejection($0) })
        if let tls {
            try sync.addHandler(NIOSSLServerHandler(context: tls))
            try sync.addHandler(io)
            try sync.addHandler(
                ApplicationProtocolNegotiationHandler { result, channel in
                    channel.eventLoop.makeCompletedFuture {
                        if case .negotiated("h2") = result {
                            try Self.configureHTTP2(channel: channel, dependencies: dependencies)
                        } else {
                            try Self.configureHTTP1(channel: channel, dependencies: dependencies)
                        }
                    }
                })
        } else {
            try sync.addHandler(io)
            try sync.addHandler(
                HTTPVersionSniffer(
                    timeout: dependencies.configuration.requestTimeout,
                    configureHTTP1: { try Self.configureHTTP1(channel: $0, dependencies: dependencies) },
                    configureHTTP2: { try Self.configureHTTP2(channel: $0, dependencies: dependencies) }))
        }
    }

    /// Sets up an HTTP/1.1 connection's pipeline, with WebSocket upgrades.
    static func configureHTTP1(channel: any Channel, dependencies: HTTPDependencies) throws {
        let sync = channel.pipeline.syncOperations
        // The connection's ConnectionIOHandler sits next to the socket (or to TLS), right before the
        // handlers added here: pre-framed bytes written through it pass below the HTTP and WebSocket
        // encoders.
        let io = try sync.handler(type: ConnectionIOHandler.self)
        io.setTransport("http1")
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: dependencies.configuration.webSocketMaxMessageBytes, automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                WebSocketRouting.shouldUpgrade(head, channel: channel, dependencies: dependencies)
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    try WebSocketRouting.configureUpgraded(channel: channel, head: head, dependencies: dependencies)
                }
            })
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = dependencies.configuration.maxHeaderBytes
        limits.maxHeaderFieldSize = dependencies.configuration.maxHeaderBytes
        limits.maxHeaderFieldCount = dependencies.configuration.maxHeaderCount
        // Parse errors are answered by HTTPRequestHandler (400, or 431 for oversized headers).
        try sync.configureHTTPServerPipeline(
            position: .last, withPipeliningAssistance: true,
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }), withErrorHandling: false,
            withOutboundHeaderValidation: true, withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
        try sync.addHandler(HTTPRequestHandler(dependencies: dependencies, isHTTP2: false, statistics: io.statistics))
    }

    /// Sets up an HTTP/2 connection: each stream is routed by its headers to gRPC (``GRPCStreamHandler``)
    /// or to the HTTP API (``HTTPRequestHandler``).
    static func configureHTTP2(channel: any Channel, dependencies: HTTPDependencies) throws {
        let io = try channel.pipeline.syncOperations.handler(type: ConnectionIOHandler.self)
        io.setTransport("http2")
        let statistics = io.statistics
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: dependencies.configuration.http2MaxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16 << 10),
        ]
        // A client may cancel every stream it has open at once (a service shutting down its calls): the
        // rapid-reset guard allows twice the stream limit per 30 s, not NIOHTTP2's default 200.
        var streams = NIOHTTP2Handler.StreamConfiguration()
        streams.streamResetFrameRateLimit.maximumCount = max(200, 2 * dependencies.configuration.http2MaxConcurrentStreams)
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: streams
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(
                    HTTP2StreamRouter(dependencies: dependencies, statistics: statistics))
            }
        }
        try channel.pipeline.syncOperations.addHandler(
            HTTP2PingHandler(keepalive: dependencies.keepalive(for: channel.eventLoop)))
    }

    static func makeTLSContext(_ files: Configuration.TLSFiles) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(files.certificateChainPath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: files.privateKeyPath, format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["h2", "http/1.1"]
        return try NIOSSLContext(configuration: tls)
    }

    /// Reloads the TLS certificate and key from their files; new connections use them, open ones keep
    /// theirs. Throws (and keeps the old ones) if the files are unreadable or do not match.
    public func reloadTLS() throws {
        guard let files = self.configuration.tls else { return }
        let context = try Self.makeTLSContext(files)
        self.tls.context.withLock { $0 = context }
        self.logger.info("tls certificate reloaded")
    }

    /// Marks the hub not ready (`/readyz` answers 503, gRPC health `NOT_SERVING`) ahead of a shutdown, so
    /// load balancers drain it.
    public func markDraining() {
        self.dependencies.ready.store(false, ordering: .relaxed)
        self.dependencies.drainingBegan()
    }

    /// Stops accepting, asks open connections to finish their current request, and closes whatever is
    /// still open after the grace period.
    public func shutdown() async {
        self.markDraining()
        // Socket.IO sessions end now (a held poll would otherwise keep its connection for the grace
        // period); their clients reconnect elsewhere.
        for session in self.dependencies.socketIO.openSessions {
            session.onLoop { $0.close(reason: "shutdown", unexpected: false) }
        }
        let (channel, quiesce) = self.running.withLock { ($0.channel, $0.quiesce) }
        guard let channel, let quiesce else { return }
        let done = channel.eventLoop.makePromise(of: Void.self)
        quiesce.initiateShutdown(promise: done)
        let grace = channel.eventLoop.scheduleTask(in: self.configuration.shutdownGracePeriod) {
            done.fail(ChannelError.ioOnClosedChannel)
        }
        do {
            try await done.futureResult.get()
        } catch {
            self.logger.info("closing the connections still open after the grace period")
            self.dependencies.connections.closeAll()
        }
        grace.cancel()
        self.running.withLock {
            $0.channel = nil
            $0.quiesce = nil
        }
        self.logger.info("http listener stopped")
    }
}
