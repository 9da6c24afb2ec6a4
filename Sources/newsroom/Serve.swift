import ArgumentParser
import Logging
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
        let logger = bootstrapLogging(configuration)
        let app = NewsroomApplication(configuration: configuration, logger: logger) { started in
            printListening(started)
        }
        try await runApplication(app, logger: logger)
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
        let logger = bootstrapLogging(configuration)
        var demo = DemoReporter.Configuration()
        demo.tokensPerSecond = self.tokensPerSecond
        demo.maxAnswers = self.answers
        let app = NewsroomApplication(configuration: configuration, logger: logger, demo: demo) { started in
            printListening(started)
        }
        try await runApplication(app, logger: logger)
    }
}

/// The first line on standard output: where the hub listens (scripts read the port from it).
func printListening(_ started: NewsroomApplication.Started) {
    let host = started.httpAddress.ipAddress ?? "127.0.0.1"
    print("newsroom: listening on http://\(host):\(started.httpAddress.port ?? 0)")
    fflush(nil)
}

func runApplication(_ app: NewsroomApplication, logger: Logger) async throws {
    let group = ServiceGroup(
        configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

/// Installs the process-wide log handler (the only place a backend is chosen).
func bootstrapLogging(_ configuration: NewsroomConfiguration) -> Logger {
    let level = configuration.logLevel
    switch configuration.logFormat {
    case .json:
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    case .text:
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
    return Logger(label: "newsroom")
}
