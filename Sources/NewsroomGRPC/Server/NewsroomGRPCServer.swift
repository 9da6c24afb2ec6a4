import CoreMetrics
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOPosix
import NewsroomControl
import NewsroomCore
import NewsroomProto
import NewsroomWire
import Synchronization

/// The hub's gRPC port: ``NewsroomService`` and the standard health service on grpc-swift's HTTP/2
/// transport (SwiftNIO, plaintext or TLS).
///
/// ```swift
/// let hub = Hub(encoders: [SSEChunkedEncoder(), SSEEncoder(), WebSocketFrameEncoder(), GRPCFrameEncoder()], …)
/// let control = ControlService(hub: hub, generations: manager)
/// let grpc = NewsroomGRPCServer(configuration: .defaults { $0.port = 50051 }, control: control,
///                               eventLoopGroup: group, logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await grpc.run() }
///     print("newsroom: grpc listening on 127.0.0.1:\(try await grpc.listeningPort())")
///     …
///     grpc.shutdown()   // run() returns once every call has ended
/// }
/// ```
///
/// At shutdown the health service turns `NOT_SERVING`, the listener closes, and gRPC cancels the open
/// calls: subscriptions end with `UNAVAILABLE` so their clients resume elsewhere or later.
public final class NewsroomGRPCServer: Sendable {
    /// The configuration the server was created with.
    public let configuration: Configuration
    /// The `newsroom.v1.Newsroom` service.
    public let service: NewsroomService
    /// The `grpc.health.v1.Health` service.
    public let health: HealthService
    /// The grpc-swift server; released once ``run()`` returns, because its transport completes a promise
    /// on the event loop group when it is deallocated, and the app shuts the group down afterwards.
    private let server: Mutex<GRPCServer<HTTP2ServerTransport.Posix>?>
    private let logger: Logger

    /// Creates the server; it listens once ``run()`` is called.
    /// - Parameters:
    ///   - configuration: Address, TLS, keepalive and limits.
    ///   - control: The control service every call goes through; its hub's encoders must include a
    ///     ``GRPCFrameEncoder``.
    ///   - eventLoopGroup: The loops of the connections and of the subscriptions; the app's group.
    ///   - logger: Where the server logs (levels up to `info`).
    ///   - metricsFactory: Where the port's metrics go (see ``NewsroomGRPCServer`` and the module overview);
    ///     the process-wide factory by default.
    public init(
        configuration: Configuration, control: ControlService, eventLoopGroup: MultiThreadedEventLoopGroup = .singleton,
        logger: Logger, metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        let metrics = GRPCMetrics(factory: metricsFactory ?? MetricsSystem.factory)
        let connectionLoops = ConnectionLoops(metrics: metrics)
        self.service = NewsroomService(
            control: control, eventLoopGroup: eventLoopGroup, subscriberBufferBytes: configuration.subscriberBufferBytes,
            connectionLoops: connectionLoops, logger: logger)
        self.health = HealthService(statuses: [
            "": .serving, Newsroom_V1_Newsroom.descriptor.fullyQualifiedService: .serving,
        ])
        let transport = HTTP2ServerTransport.Posix(
            address: Self.address(host: configuration.host, port: configuration.port),
            transportSecurity: Self.transportSecurity(configuration.tls),
            config: Self.transportConfig(configuration, connectionLoops: connectionLoops),
            eventLoopGroup: eventLoopGroup)
        self.server = Mutex(
            GRPCServer(
                transport: transport, services: [self.service, self.health],
                interceptors: [GRPCTracingInterceptor(), GRPCMetricsInterceptor(metrics: metrics)]))
    }

    /// Serves until ``shutdown()`` is called and every call has ended.
    /// - Throws: If the port cannot be bound (in use, bad address, unreadable TLS files).
    public func run() async throws {
        guard let server = self.server.withLock({ $0 }) else {
            throw RPCError(code: .failedPrecondition, message: "the gRPC server has already run")
        }
        defer { self.server.withLock { $0 = nil } }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await server.serve()
            }
            group.addTask {
                guard let port = try? await self.listeningPort() else { return }
                self.logger.info(
                    "grpc listening",
                    metadata: [
                        "newsroom.grpc.host": "\(self.configuration.host)", "newsroom.grpc.port": "\(port)",
                        "newsroom.grpc.tls": "\(self.configuration.tls != nil)",
                    ])
            }
        }
    }

    /// The port the server listens on, once it does (the actual one when configured with 0).
    ///
    /// Suspends until ``run()`` has bound the port.
    /// - Throws: If the server failed to bind, or has stopped.
    public func listeningPort() async throws -> Int {
        guard let server = self.server.withLock({ $0 }), let address = try await server.listeningAddress else {
            throw RPCError(code: .unavailable, message: "the gRPC server is not listening")
        }
        if let ipv4 = address.ipv4 { return ipv4.port }
        if let ipv6 = address.ipv6 { return ipv6.port }
        throw RPCError(code: .unavailable, message: "the gRPC server listens on a non-IP address")
    }

    /// Begins a graceful shutdown: health turns `NOT_SERVING`, no new connection is accepted, open calls
    /// are cancelled (subscriptions end with `UNAVAILABLE`); ``run()`` returns when they have ended.
    public func shutdown() {
        self.logger.info("grpc shutting down")
        self.service.beginShutdown()
        self.health.markAllNotServing()
        self.server.withLock { $0 }?.beginGracefulShutdown()
    }

    // MARK: Transport configuration

    static func address(host: String, port: Int) -> GRPCNIOTransportCore.SocketAddress {
        let host = host == "localhost" ? "127.0.0.1" : host
        return host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
    }

    static func transportSecurity(_ tls: TLS?) -> HTTP2ServerTransport.Posix.TransportSecurity {
        guard let tls else { return .plaintext }
        return .tls(
            certificateChain: [.file(path: tls.certificatePath, format: .pem)],
            privateKey: .file(path: tls.privateKeyPath, format: .pem))
    }

    static func transportConfig(
        _ configuration: Configuration, connectionLoops: ConnectionLoops
    ) -> HTTP2ServerTransport.Posix.Config {
        .defaults { config in
            // Only notes each connection's loop (see ConnectionLoops); the pipeline is left alone.
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in connectionLoops.register(channel) }
            let keepalive = configuration.keepalive
            config.connection.keepalive = HTTP2ServerTransport.Config.Keepalive(
                time: keepalive.interval, timeout: keepalive.timeout,
                clientBehavior: HTTP2ServerTransport.Config.ClientKeepaliveBehavior(
                    minPingIntervalWithoutCalls: keepalive.minClientPingInterval,
                    allowWithoutCalls: keepalive.permitClientPingsWithoutCalls))
            config.rpc.maxRequestPayloadSize = configuration.maxReceiveMessageBytes
            config.http2.maxConcurrentStreams = configuration.maxConcurrentStreamsPerConnection ?? Int(Int32.max)
        }
    }
}
