import ArgumentParser
import NewsroomLoadTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `newsroom loadtest`: simulated viewers and a publisher against a hub (see NewsroomLoadTest).
struct LoadTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "Load-test a hub (or nginx+nchan) with many simulated viewers and a publisher.",
        discussion: """
            Viewers connect at --ramp per second, then the publisher sends --rate events per second to each \
            topic for --duration seconds, each stamped with its send time; every viewer checks its sequence \
            numbers (loss, duplicates, order) and records end-to-end latency in an HdrHistogram. With \
            --server-pid the server's CPU time and memory are read from /proc. Every run is bounded in time.
            """)

    @Option(help: "The server's base URL: http://HOST:PORT, or https://HOST:PORT for TLS (loopback only unless --allow-remote).")
    var url = "http://127.0.0.1:8080"
    @Option(
        help: ArgumentHelp(
            "A PEM file holding the certificate authority (or the server's self-signed certificate) to trust for an "
                + "https:// URL, instead of the system's trust store.", valueName: "pem-file"))
    var caCertificate: String?
    @Flag(help: "Allow a --url that is not a loopback address.") var allowRemote = false
    @Option(help: "The server: newsroom or nchan (nginx with bench/nchan.conf.template).") var target = "newsroom"
    @Option(help: "Viewers' transport: sse, ws, grpc or mixed (a third each).") var transport = "sse"
    @Option(help: "The hub's gRPC port, on the host of --url (default: the port of --url, where the hub serves gRPC).")
    var grpcPort: Int?
    @Option(help: "Simulated viewers.") var clients = 100
    @Option(help: "Topics (viewer i watches topic i % topics).") var topics = 1
    @Option(help: "Events per second per topic (0: publish nothing, an idle-memory run).") var rate: Double = 10
    @Option(help: "Bytes of text per event.") var payload = 100
    @Option(help: "Events per publish request (hub only: an NDJSON batch).") var batch = 1
    @Option(help: "Seconds of publishing (with --generation: the longest wait for the generations).")
    var duration: Double = 10
    @Option(help: "New connections per second while connecting.") var ramp: Double = 2_000
    @Option(help: "Seconds allowed for connecting (default: clients/ramp + 20).") var connectTimeout: Double?
    @Option(help: "Seconds of idling after connecting, before the idle RSS sample.") var idleSettle: Double = 2
    @Option(help: "Seconds after the last publish for the viewers to catch up.") var drain: Double = 5
    @Option(help: "Split the viewers over N child processes (each raises its own fd limit).") var workers = 0
    @Option(help: "Event-loop threads for the viewers (per process; default: cores, or 1 per worker).")
    var threads: Int?
    @Option(help: "The server's pid: CPU µs per delivery and RSS from /proc.") var serverPID: Int?
    @Option(help: "Share of viewers that read slowly (0…1).") var slowFraction: Double = 0
    @Option(help: "Bytes per second a slow viewer reads (0: stalled).") var slowReadBps = 0
    @Flag(help: "Drop every connection at half-time and resume with Last-Event-ID.") var reconnectStorm = false
    @Flag(help: "Viewers leave and new ones join continuously.") var churn = false
    @Option(help: "Viewers replaced per second with --churn (default 5% of --clients).") var churnRate: Double?
    @Option(help: "Run real generations with this provider (POST /v1/generations) instead of publishing.")
    var generation: String?
    @Option(help: "The provider request of each generation (JSON object).") var generationRequest: String?
    @Option(help: "Slow-consumer policy for every viewer: coalesce, drop_oldest, disconnect.") var policy: String?
    @Option(help: "Topic name prefix (default: lt-<random>).") var topicPrefix: String?
    @Option(help: "Hard bound on the whole run in seconds.") var timeout: Double?
    @Flag(help: "Print the result as one JSON object on stdout.") var json = false
    @Flag(help: "No progress line on stderr.") var quiet = false
    @Option(help: .hidden) var workerConfig: String?

    func run() async throws {
        if let workerConfig {
            try await LoadTestRunner.runWorker(configurationJSON: workerConfig)
            return
        }
        var configuration = LoadTestRunner.Configuration()
        configuration.url = self.url
        configuration.allowRemote = self.allowRemote
        configuration.caCertificate = self.caCertificate
        guard let target = ServerFlavor(self.target) else { throw ValidationError("--target must be newsroom or nchan") }
        configuration.server = target
        guard let transport = TransportMix(self.transport) else {
            throw ValidationError("--transport must be sse, ws, grpc or mixed")
        }
        configuration.transport = transport
        configuration.grpcPort = self.grpcPort
        configuration.clients = self.clients
        configuration.topics = self.topics
        configuration.rate = self.rate
        configuration.payloadBytes = self.payload
        configuration.publishBatch = self.batch
        configuration.duration = self.duration
        configuration.ramp = self.ramp
        configuration.connectTimeout = self.connectTimeout
        configuration.idleSettle = self.idleSettle
        configuration.drain = self.drain
        configuration.workers = self.workers
        configuration.threads = self.threads
        configuration.serverPID = self.serverPID
        configuration.slowFraction = self.slowFraction
        configuration.slowReadBytesPerSecond = self.slowReadBps
        configuration.reconnectStorm = self.reconnectStorm
        configuration.churn = self.churn
        configuration.churnRate = self.churnRate
        configuration.generationProvider = self.generation
        if let request = self.generationRequest { configuration.generationRequest = request }
        configuration.policy = self.policy
        if let prefix = self.topicPrefix { configuration.topicPrefix = prefix }
        configuration.timeout = self.timeout
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }

        // Every run is bounded: past its bound the process reports the overrun and exits.
        let bound = configuration.timeout ?? Self.defaultBound(configuration)
        let watchdog = Task.detached {
            try? await Task.sleep(for: .seconds(bound))
            if Task.isCancelled { return }
            FileHandleOutput.stderr("\nnewsroom loadtest: the run exceeded its bound of \(Int(bound)) s; stopping\n")
            Glibc.exit(3)
        }
        defer { watchdog.cancel() }

        let interactive = isatty(2) == 1
        let quiet = self.quiet
        let result = try await LoadTestRunner.run(
            configuration, workerCommand: [Self.executablePath(), "loadtest"],
            progress: { line in
                guard !quiet else { return }
                FileHandleOutput.stderr(interactive ? "\r\u{1B}[K" + line : line + "\n")
            })
        if interactive && !quiet { FileHandleOutput.stderr("\r\u{1B}[K") }
        if self.json {
            FileHandleOutput.stdout(result.json + "\n")
        } else {
            FileHandleOutput.stdout(result.summary + "\n")
        }
    }

    static func defaultBound(_ configuration: LoadTestRunner.Configuration) -> Double {
        let connect = configuration.connectTimeout ?? (Double(configuration.clients) / max(configuration.ramp, 1) + 20)
        return connect + configuration.idleSettle + configuration.duration + configuration.drain + 60
    }

    /// This executable's path (for worker processes).
    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 { return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments[0]
    }
}
