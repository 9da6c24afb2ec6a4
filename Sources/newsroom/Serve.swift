import ArgumentParser
import Logging
import NewsroomDemo
import NewsroomServer
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ServiceLifecycle
import UnixSignals

/// `newsroom serve`: run the hub.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the hub.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try await self.options.load()
        let observability = try bootstrapObservability(configuration)
        let app = NewsroomApplication(
            configuration: configuration, logger: observability.logger, metricsRegistry: observability.registry
        ) { started in
            printListening(started)
        }
        try await runApplication(app, observability: observability)
    }
}

/// `newsroom demo`: run the hub with the built-in simulated reporter.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hub with a built-in simulated reporter (no API keys, no external services).")

    @OptionGroup var options: ServerOptions
    @Option(help: "Average tokens per second of the simulated model.") var tokensPerSecond: Double = 30
    @Option(help: "Stop the reporter after this many answers (the hub keeps serving).") var answers: Int?

    func run() async throws {
        let configuration = try await self.options.load()
        let observability = try bootstrapObservability(configuration)
        var demo = DemoReporter.Configuration()
        demo.tokensPerSecond = self.tokensPerSecond
        demo.maxAnswers = self.answers
        let app = NewsroomApplication(
            configuration: configuration, logger: observability.logger, demo: demo,
            metricsRegistry: observability.registry
        ) { started in
            printListening(started)
        }
        try await runApplication(app, observability: observability)
    }
}

/// The first line on standard output: where the hub listens (scripts read the port from it).
func printListening(_ started: NewsroomApplication.Started) {
    let host = started.httpAddress.ipAddress ?? "127.0.0.1"
    print("newsroom: listening on http://\(host):\(started.httpAddress.port ?? 0)")
    print("newsroom: grpc listening on \(host):\(started.grpcPort ?? started.httpAddress.port ?? 0)")
    fflush(nil)
}

func runApplication(_ app: NewsroomApplication, observability: Observability) async throws {
    var services: [any Service] = [app]
    if let tracing = observability.tracing { services.append(tracing) }
    let group = ServiceGroup(
        configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
            logger: observability.logger))
    do {
        try await group.run()
    } catch let error as ListenError {
        // Already said by the log; this line is for a person at a terminal.
        FileHandleOutput.stderr("newsroom: \(error)\n")
        throw ExitCode.failure
    }
}

/// Installs the process-wide log, metrics and trace backends (the only place they are chosen).
func bootstrapObservability(_ configuration: NewsroomConfiguration) throws -> Observability {
    var environment: [String: String] = [:]
    for (key, value) in ProcessEnvironment.all where key.hasPrefix("OTEL_") { environment[key] = value }
    return try Observability.bootstrap(
        logFormat: configuration.logFormat, logLevel: configuration.logLevel,
        metricsEnabled: configuration.metricsEnabled, environment: environment)
}
