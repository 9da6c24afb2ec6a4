import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import NewsroomCore
import Synchronization

/// The hub's HTTP listener: the control API, publishing, and SSE subscriptions on one port.
///
/// Each connection gets NIO's HTTP/1.1 server pipeline, a ``ConnectionIOHandler`` next to the socket
/// (where SSE frames are written, below the encoder) and an ``HTTPRequestHandler``.
///
/// Start it with ``start()``; stop it with ``shutdown()``: it stops accepting, lets open requests finish
/// (the owner ends open SSE streams by shutting the hub down), then closes what is left after the grace
/// period.
public final class HTTPServer: Sendable {
    public let configuration: Configuration
    private let shared: HTTPHandlerContext
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger

    private struct Running {
        var channel: (any Channel)?
        var quiesce: ServerQuiescingHelper?
    }
    private let running = Mutex(Running())

    /// Creates a server; nothing is bound until ``start()``.
    /// - Parameters:
    ///   - configuration: The listener settings.
    ///   - hub: The topic layer; it must have the `sse-http1` and `sse` wire formats.
    ///   - generations: The generation service, or `nil` to answer generation requests with 501.
    ///   - eventLoopGroup: The loops that run connections (and so the hub's delivery shards).
    ///   - logger: Where connection-level events are logged.
    ///   - metricsText: Renders `GET /metrics`, or `nil` to answer 404.
    public init(
        configuration: Configuration, hub: Hub, generations: (any GenerationService)? = nil,
        eventLoopGroup: any EventLoopGroup, logger: Logger, metricsText: (@Sendable () -> ByteBuffer)? = nil
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.shared = HTTPHandlerContext(
            hub: hub, generations: generations, configuration: configuration, logger: logger, metricsText: metricsText)
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
        let shared = self.shared
        let configuration = self.configuration
        var bootstrap = ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(low: configuration.writeBufferLowWaterMark, high: configuration.writeBufferHighWaterMark))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configureHTTP1(channel: channel, shared: shared)
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

    /// Sets up an HTTP/1.1 connection's pipeline.
    static func configureHTTP1(channel: any Channel, shared: HTTPHandlerContext) throws {
        let sync = channel.pipeline.syncOperations
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
        try sync.addHandler(ConnectionIOHandler(), position: .first)
        try sync.addHandler(HTTPRequestHandler(shared: shared, isHTTP2: false))
    }

    /// Marks the hub not ready (`/readyz` answers 503) ahead of a shutdown, so load balancers drain it.
    public func markDraining() {
        self.shared.ready.store(false, ordering: .relaxed)
    }

    /// Stops accepting, asks open connections to finish their current request, and closes whatever is
    /// still open after the grace period.
    public func shutdown() async {
        self.markDraining()
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
            self.logger.info("http listener closed with connections still open after the grace period")
        }
        grace.cancel()
        self.running.withLock {
            $0.channel = nil
            $0.quiesce = nil
        }
        self.logger.info("http listener stopped")
    }
}
