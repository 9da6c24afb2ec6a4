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
import NewsroomDemo
import NewsroomHTTP
import NewsroomUpstream
import NewsroomWire
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The composition root: the event loops, the hub with its wire formats, the broker, the generation
/// runner, the control service, the listeners and, optionally, the demo (the simulated reporter plus a
/// replay upstream that plays recorded provider streams, so generations can be tried without keys) —
/// run as one `ServiceGroup`, whose graceful shutdown stops the parts in reverse order of start.
///
/// Shutdown order: mark not ready, stop the demo, cancel running generations (their
/// topics end with `cancelled`), end every subscription (SSE streams receive a retryable
/// `server_shutdown` error and end cleanly), stop accepting and let open requests finish, disconnect
/// from the broker, stop the demo's upstream; then the event loops stop.
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
        /// The extra gRPC port (on the HTTP listener's host), when one is configured; gRPC and gRPC-Web
        /// are always served on the HTTP port too.
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

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.configuration.threads)
        do {
            // Each part is added to `services` as soon as it holds a resource, so that a failure further
            // on still releases what was made (the group below stops it; here, `stopAll`).
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            do {
                try await self.assemble(on: group, into: &services)
            } catch {
                for service in services.reversed() { await (service.service as? Part)?.stop() }
                throw error
            }
            let serviceGroup = ServiceGroup(configuration: .init(services: services, logger: self.logger))
            try await serviceGroup.run()
            self.logger.info("stopped")
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
    }

    /// Makes the parts, binding the listening ports, in start order (the group stops them in reverse).
    private func assemble(
        on group: MultiThreadedEventLoopGroup, into services: inout [ServiceGroupConfiguration.ServiceConfiguration]
    ) async throws {
        func add(_ service: any Service) {
            services.append(.init(service: service, successTerminationBehavior: service is BackgroundPart ? .ignore : .cancelGroup))
        }
        let logger = self.logger
        let hub = Hub(
            configuration: self.configuration.hub,
            encoders: HTTPServer.encoders, eventLoopGroup: group,
            logger: logger)
        var generationsConfiguration = self.configuration.generations
        var controlConfiguration = self.configuration.control
        if self.demo != nil {
            // The demo's upstream: recorded provider streams served on loopback, under `demo-<adapter>`.
            let upstream = ReplayUpstream(configuration: .defaults { $0.eventDelay = .milliseconds(40) }, eventLoopGroup: group)
            let port = try await upstream.start()
            add(Part("replay-upstream") { try? await upstream.stop() })
            for adapter in ProviderConfiguration.adapterNames {
                generationsConfiguration.providers["demo-\(adapter)"] = ProviderConfiguration(
                    adapter: adapter, baseURL: "http://127.0.0.1:\(port)")
            }
            // The SDK endpoints (`/v1/chat/completions`, …) answer from the replay too while their
            // provider has no key, so the README's SDK examples work against the demo as they are.
            for (path, id) in controlConfiguration.proxyRouting.defaults
            where generationsConfiguration.providers[id]?.apiKey == nil {
                if let adapter = generationsConfiguration.providers[id]?.adapter {
                    controlConfiguration.proxyRouting.defaults[path] = "demo-\(adapter)"
                }
            }
        }
        let withoutKeys = generationsConfiguration.hostedProvidersWithoutKeys
        if !withoutKeys.isEmpty {
            logger.warning(
                "hosted providers without an API key: generations with them are refused until one is set",
                metadata: [
                    "newsroom.providers": "\(withoutKeys.joined(separator: ","))",
                    "newsroom.setting": "NEWSROOM_PROVIDER_<ID>_API_KEY",
                ])
        }
        var broker: RedisBroker?
        if let url = self.configuration.brokerURL {
            var brokerConfiguration = RedisBroker.Configuration(url: url)
            brokerConfiguration.sharded = self.configuration.brokerSharded
            brokerConfiguration.retention = self.configuration.hub.retention
            brokerConfiguration.maxStreamLength = self.configuration.hub.maxHistoryEvents
            let connected = try await RedisBroker.connect(
                configuration: brokerConfiguration, hub: hub, eventLoopGroup: group, logger: logger)
            add(Part("broker") { await connected.shutdown() })
            broker = connected
        }
        let generations = GenerationManager(
            configuration: generationsConfiguration, hub: hub, eventLoopGroup: group, logger: logger, broker: broker)
        let authenticator: Authenticator? =
            self.configuration.auth.isEnabled ? try await Authenticator(configuration: self.configuration.auth) : nil
        // The one control service every transport calls.
        let control = ControlService(
            hub: hub, generations: generations, broker: broker, authenticator: authenticator,
            configuration: controlConfiguration, logger: logger)
        var metricsText: (@Sendable () -> ByteBuffer)?
        if let registry = self.metricsRegistry {
            metricsText = { Observability.metricsText(registry: registry, hub: hub) }
        }
        let http = HTTPServer(
            configuration: self.configuration.http, control: control, eventLoopGroup: group, logger: logger,
            metricsText: metricsText)
        // Stopped after the hub: open SSE streams end with the hub's notice before the listener closes.
        add(Part("http") { await http.shutdown() })
        add(Part("hub") { await hub.shutdown() })
        add(Part("generations") { await generations.shutdown() })
        let address: SocketAddress
        do {
            address = try await http.start()
        } catch {
            throw ListenError(
                host: self.configuration.http.host, port: self.configuration.http.port, listener: .http, cause: error)
        }

        // The optional extra gRPC port: the same listener code, control service and certificate, on
        // another port (off by default: gRPC and gRPC-Web are served on the HTTP port).
        var grpcListener: HTTPServer?
        var grpcAddress: SocketAddress?
        if let port = self.configuration.effectiveGRPCPort {
            var grpcConfiguration = self.configuration.http
            grpcConfiguration.port = port
            let extra = HTTPServer(
                configuration: grpcConfiguration, control: control, eventLoopGroup: group, logger: logger,
                metricsText: metricsText)
            add(Part("grpc-port") { await extra.shutdown() })
            do {
                grpcAddress = try await extra.start()
            } catch {
                throw ListenError(host: grpcConfiguration.host, port: port, listener: .grpc, cause: error)
            }
            grpcListener = extra
        }
        let grpcPort = grpcAddress?.port
        let listeners = [http] + (grpcListener.map { [$0] } ?? [])
        // Once every listener is up: the announcement (the first line on standard output, which scripts
        // read), then the demo's answers.
        var demoTask: (@Sendable () async -> Void)?
        if let demo = self.demo {
            let reporter = DemoReporter(control: control, configuration: demo, logger: logger)
            let base = "http://\(Self.displayHost(address)):\(address.port ?? self.configuration.http.port)"
            demoTask = {
                print("demo: watch in a browser: \(base)/ (the page follows each new answer)")
                print("demo: or point an OpenAI or Anthropic SDK at \(base)/v1 (see the README's \"Point your SDK at the hub\")")
                fflush(nil)
                await reporter.run { topic in
                    print("demo: new answer on topic '\(topic)' — watch it live with:")
                    print("  curl -N \(base)/v1/topics/\(topic)/events")
                    fflush(nil)
                }
            }
        }
        add(
            Announcement(then: demoTask) {
                self.onStarted(Started(httpAddress: address, grpcPort: grpcPort, hub: hub))
            })
        if self.configuration.http.tls != nil {
            // SIGHUP reloads the certificate and key: new connections get them, open ones keep theirs.
            add(
                BackgroundPart("tls-reload") {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        do {
                            for listener in listeners { try listener.reloadTLS() }
                        } catch {
                            logger.warning("tls reload failed; keeping the previous certificate", metadata: ["error": "\(error)"])
                        }
                    }
                })
        }
        if self.configuration.memoryTrimInterval > .zero, MemoryTrimmer.isAvailable {
            let trimmer = MemoryTrimmer(
                interval: .nanoseconds(self.configuration.memoryTrimInterval.nanoseconds),
                threshold: self.configuration.memoryTrimThreshold, logger: logger)
            add(BackgroundPart("memory-trim") { await trimmer.run() })
        }
        // Last, so it is the first to stop: load balancers see `/readyz` fail before anything closes.
        add(
            Part("readiness") {
                logger.info("shutting down")
                http.markDraining()
                // Keep serving while load balancers notice (`http.drainDelay`).
                let delay = http.configuration.drainDelay
                if delay > .zero {
                    logger.info("draining", metadata: ["newsroom.drain_delay_ms": "\(delay.nanoseconds / 1_000_000)"])
                    try? await Task.sleep(for: .nanoseconds(delay.nanoseconds))
                }
            })
    }

    static func displayHost(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress else { return "127.0.0.1" }
        if ip == "0.0.0.0" || ip == "::" { return "127.0.0.1" }
        return address.protocol == .inet6 ? "[\(ip)]" : ip
    }
}

// MARK: The parts

/// A part that needs no task of its own while it runs: it waits for the group's graceful shutdown (or
/// cancellation), then stops.
struct Part: Service, CustomStringConvertible {
    let description: String
    let stop: @Sendable () async -> Void

    init(_ name: String, stop: @escaping @Sendable () async -> Void) {
        self.description = name
        self.stop = stop
    }

    func run() async throws {
        try? await gracefulShutdown()
        await self.stop()
    }
}

/// A part that is a long-running task: cancelled at the group's graceful shutdown. It may also end by
/// itself (a demo with a set number of answers) without stopping the rest.
struct BackgroundPart: Service, CustomStringConvertible {
    let description: String
    let body: @Sendable () async -> Void

    init(_ name: String, body: @escaping @Sendable () async -> Void) {
        self.description = name
        self.body = body
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.body() }
    }
}

/// Tells the owner that every listener is up, then runs what must come after (the demo) until the
/// group's graceful shutdown.
struct Announcement: Service, CustomStringConvertible {
    let then: (@Sendable () async -> Void)?
    let announce: @Sendable () -> Void
    var description: String { "announcement" }

    func run() async throws {
        self.announce()
        if let then = self.then {
            await cancelWhenGracefulShutdown { await then() }
        }
        try? await gracefulShutdown()
    }
}
