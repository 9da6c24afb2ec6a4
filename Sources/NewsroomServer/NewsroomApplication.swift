import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import NewsroomAuth
import NewsroomBroker
import NewsroomControl
import NewsroomCore
import NewsroomGRPC
import NewsroomHTTP
import NewsroomDemo
import NewsroomUpstream
import NewsroomWire
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The composition root: the event loops, the hub with its wire formats, the generation runner, the
/// HTTP listener and, optionally, the demo (the simulated reporter plus a replay upstream that plays
/// recorded provider streams, so generations can be tried without keys) — run as one `Service` with an
/// ordered graceful shutdown.
///
/// Shutdown order: mark not ready, stop the demo, cancel running generations (their topics end with
/// `cancelled`), end every subscription (SSE streams receive a retryable `server_shutdown` error and
/// end cleanly), stop accepting and let open requests finish, then stop the event loops.
public struct NewsroomApplication: Service, CustomStringConvertible {
    /// A short name for service-lifecycle logs (the configuration is not dumped into logs).
    public var description: String { "NewsroomApplication" }

    public let configuration: NewsroomConfiguration
    let logger: Logger
    let demo: DemoReporter.Configuration?
    let metricsRegistry: PrometheusCollectorRegistry?
    let onStarted: @Sendable (Started) -> Void

    /// What a running application tells its owner.
    public struct Started: Sendable {
        /// The HTTP listener's address.
        public var httpAddress: SocketAddress
        /// The gRPC listener's port (on the HTTP listener's host), or `nil` when gRPC is off.
        public var grpcPort: Int?
        /// The hub (for in-process publishers and tests).
        public var hub: Hub
    }

    /// - Parameters:
    ///   - configuration: The settings.
    ///   - logger: The root logger.
    ///   - demo: Run the demo reporter with these settings; `nil` for no demo.
    ///   - metricsRegistry: Serve this registry at `GET /metrics` (see ``Observability``); `nil` for none.
    ///   - onStarted: Called once everything is listening.
    public init(
        configuration: NewsroomConfiguration, logger: Logger, demo: DemoReporter.Configuration? = nil,
        metricsRegistry: PrometheusCollectorRegistry? = nil, onStarted: @escaping @Sendable (Started) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.demo = demo
        self.metricsRegistry = metricsRegistry
        self.onStarted = onStarted
    }

    /// The hub's wire formats: SSE as HTTP/1.1 chunks, bare SSE (HTTP/2), WebSocket frames, and gRPC
    /// messages when the gRPC port is on (each event is encoded once per format and kept in the history,
    /// so a format nobody can use is not made).
    public static func encoders(grpc: Bool) -> [any FrameEncoder] {
        let http: [any FrameEncoder] = [SSEChunkedEncoder(), SSEEncoder(), WebSocketFrameEncoder()]
        return grpc ? http + [GRPCFrameEncoder()] : http
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.configuration.threads)
        let hub = Hub(
            configuration: self.configuration.hub,
            encoders: Self.encoders(grpc: self.configuration.effectiveGRPCPort != nil), eventLoopGroup: group,
            logger: self.logger)
        var generationsConfiguration = self.configuration.generations
        var replay: ReplayUpstream?
        if self.demo != nil {
            // The demo's upstream: recorded provider streams served on loopback, under `demo-<adapter>`.
            let upstream = ReplayUpstream(
                configuration: .defaults { $0.eventDelay = .milliseconds(40) }, eventLoopGroup: group)
            let port = try await upstream.start()
            for adapter in ProviderConfiguration.adapterNames {
                generationsConfiguration.providers["demo-\(adapter)"] = ProviderConfiguration(
                    adapter: adapter, baseURL: "http://127.0.0.1:\(port)")
            }
            replay = upstream
        }
        var broker: RedisBroker?
        if let url = self.configuration.brokerURL {
            var brokerConfiguration = RedisBroker.Configuration(url: url)
            brokerConfiguration.sharded = self.configuration.brokerSharded
            brokerConfiguration.retention = self.configuration.hub.retention
            brokerConfiguration.maxStreamLength = self.configuration.hub.maxHistoryEvents
            do {
                broker = try await RedisBroker.connect(
                    configuration: brokerConfiguration, hub: hub, eventLoopGroup: group, logger: self.logger)
            } catch {
                await hub.shutdown()
                try? await replay?.stop()
                try? await group.shutdownGracefully()
                throw error
            }
        }
        let generations = GenerationManager(
            configuration: generationsConfiguration, hub: hub, eventLoopGroup: group, logger: self.logger,
            broker: broker)
        var metricsText: (@Sendable () -> ByteBuffer)?
        if let registry = self.metricsRegistry {
            metricsText = { Observability.metricsText(registry: registry, hub: hub) }
        }
        let authenticator: Authenticator? =
            self.configuration.auth.isEnabled ? try await Authenticator(configuration: self.configuration.auth) : nil
        // The one control service every transport calls.
        let control = ControlService(
            hub: hub, generations: generations, broker: broker, authenticator: authenticator,
            configuration: self.configuration.control, logger: self.logger)
        let http = HTTPServer(
            configuration: self.configuration.http, control: control, eventLoopGroup: group, logger: self.logger,
            metricsText: metricsText)
        let address: SocketAddress
        do {
            address = try await http.start()
        } catch {
            await generations.shutdown()
            try? await replay?.stop()
            await hub.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        // The gRPC port: the same hub, generations, broker, tokens and certificate as the HTTP port.
        var grpc: (server: NewsroomGRPCServer, task: Task<Void, any Error>, port: Int)?
        if let port = self.configuration.effectiveGRPCPort {
            var grpcConfiguration = NewsroomGRPCServer.Configuration.defaults
            grpcConfiguration.host = self.configuration.http.host
            grpcConfiguration.port = port
            grpcConfiguration.tls = self.configuration.http.tls.map {
                .init(certificatePath: $0.certificateChainPath, privateKeyPath: $0.privateKeyPath)
            }
            let server = NewsroomGRPCServer(
                configuration: grpcConfiguration, control: control, eventLoopGroup: group, logger: self.logger)
            // The one long-running task of the composition root besides the service group's: grpc-swift's
            // server runs until it is shut down.
            let task = Task { try await server.run() }
            do {
                grpc = (server, task, try await server.listeningPort())
            } catch {
                // Usually the port is taken: run() failed to bind, and its error says so.
                server.shutdown()
                let failure: any Error =
                    if case .failure(let runError) = await task.result { runError } else { error }
                await generations.shutdown()
                await broker?.shutdown()
                await hub.shutdown()
                await http.shutdown()
                try? await replay?.stop()
                try? await group.shutdownGracefully()
                throw failure
            }
        }
        self.onStarted(Started(httpAddress: address, grpcPort: grpc?.port, hub: hub))

        await withTaskGroup(of: Void.self) { tasks in
            if let demo = self.demo {
                let reporter = DemoReporter(control: control, configuration: demo, logger: self.logger)
                let base = "http://\(Self.displayHost(address)):\(address.port ?? self.configuration.http.port)"
                tasks.addTask {
                    await reporter.run { topic in
                        print("demo: new answer on topic '\(topic)' — watch it live with:")
                        print("  curl -N \(base)/v1/topics/\(topic)/events")
                        fflush(nil)
                    }
                }
            }
            if self.configuration.http.tls != nil {
                // SIGHUP reloads the certificate and key: new connections get them, open ones keep theirs.
                let logger = self.logger
                tasks.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        do {
                            try http.reloadTLS()
                        } catch {
                            logger.warning("tls reload failed; keeping the previous certificate", metadata: ["error": "\(error)"])
                        }
                    }
                }
            }
            // Runs until the service group asks for a graceful shutdown (SIGINT/SIGTERM) or is cancelled.
            try? await gracefulShutdown()
            self.logger.info("shutting down")
            http.markDraining()
            grpc?.server.shutdown()
            tasks.cancelAll()
        }
        await generations.shutdown()
        await broker?.shutdown()
        await hub.shutdown()
        await http.shutdown()
        if let grpc, case .failure(let error) = await grpc.task.result {
            self.logger.warning("the grpc server ended with an error", metadata: ["error": "\(error)"])
        }
        try? await replay?.stop()
        try? await group.shutdownGracefully()
        self.logger.info("stopped")
    }

    static func displayHost(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress else { return "127.0.0.1" }
        if ip == "0.0.0.0" || ip == "::" { return "127.0.0.1" }
        return address.protocol == .inet6 ? "[\(ip)]" : ip
    }
}
