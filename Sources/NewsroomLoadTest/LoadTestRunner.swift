import NIOCore
import NewsroomClient
import NIOHTTP1
import NIOPosix
import NewsroomCore
import Synchronization

/// Runs one load test: connects the viewers, publishes (or starts generations), measures, reports.
///
/// The phases, each bounded in time:
/// 1. **connect** — viewers open their connections at ``Configuration/ramp`` per second (bounded by
///    ``Configuration/connectTimeout``); the server's RSS is sampled before and, after
///    ``Configuration/idleSettle`` seconds of idling, after (RSS per connection);
/// 2. **measure** — the publisher sends ``Configuration/rate`` events per second per topic for
///    ``Configuration/duration`` seconds while the scenarios run (slow readers, churn, the reconnect storm
///    at half-time); the server's CPU time is sampled around this phase and the next;
/// 3. **drain** — up to ``Configuration/drain`` seconds for every fast viewer to receive everything
///    (the catch-up time);
/// 4. **stop** — every connection closes, the hub's run topics are ended, the counts are merged.
///
/// The viewers' receive path is NIO channel handlers on a few event loops (see ``Fleet``); with
/// ``Configuration/workers`` it runs in child processes of the same executable (see ``WorkerPool``).
public enum LoadTestRunner {
    /// Runs the test described by `configuration`.
    /// - Parameters:
    ///   - workerCommand: How to start a worker process (the executable and the arguments before the
    ///     configuration); required when ``Configuration/workers`` > 0.
    ///   - progress: Called about once a second with a one-line status.
    /// - Throws: ``LoadTestError`` for bad flags, an unreachable server or a failed worker.
    public static func run(
        _ configuration: Configuration, workerCommand: [String] = [],
        progress: (@Sendable (String) -> Void)? = nil
    ) async throws -> LoadTestResult {
        try configuration.validate()
        raiseOpenFileLimit()
        guard let endpoint = Endpoint(url: configuration.url) else {
            throw LoadTestError.invalidConfiguration("--url must look like http://HOST:PORT or https://HOST:PORT")
        }
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(endpoint.host, port: endpoint.port)
        } catch {
            throw LoadTestError.serverUnavailable("cannot resolve \(endpoint.host): \(error)")
        }
        let hostHeader = "\(endpoint.host):\(endpoint.port)"
        let tls = try LoadTLS(configuration)
        let controlGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let result = try await Self.run(
                configuration, address: address, hostHeader: hostHeader, tls: tls, controlGroup: controlGroup,
                workerCommand: workerCommand, progress: progress)
            try? await controlGroup.shutdownGracefully()
            return result
        } catch {
            try? await controlGroup.shutdownGracefully()
            throw error
        }
    }

    private static func run(
        _ configuration: Configuration, address: SocketAddress, hostHeader: String, tls: LoadTLS?,
        controlGroup: MultiThreadedEventLoopGroup, workerCommand: [String], progress: (@Sendable (String) -> Void)?
    ) async throws -> LoadTestResult {
        try await Self.preflight(configuration, address: address, hostHeader: hostHeader, tls: tls, group: controlGroup)
        let sampler = configuration.serverPID.map(ProcessSampler.init(pid:))
        let before = sampler?.sample()
        if configuration.serverPID != nil, before == nil {
            throw LoadTestError.invalidConfiguration("--server-pid \(configuration.serverPID!): no such process in /proc")
        }

        let viewers: any ViewerSet
        if configuration.workers > 0 {
            viewers = try await WorkerPool.start(configuration, command: workerCommand)
        } else {
            viewers = try Fleet(configuration: configuration, range: 0..<configuration.clients)
        }
        let phase = Mutex("connecting")
        let publisher = Publisher(
            configuration: configuration, server: address, hostHeader: hostHeader, tls: tls, group: controlGroup,
            live: Publisher.LivePublished(topics: configuration.topics))
        let reporter = Task {
            guard let progress else { return }
            var lastReceived = 0
            var lastTime = WallClock.monotonicNanoseconds()
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                let snapshot = await viewers.progress()
                let now = WallClock.monotonicNanoseconds()
                let rate = Double(snapshot.received - lastReceived) / max(Double(now - lastTime) / 1e9, 0.001)
                lastReceived = snapshot.received
                lastTime = now
                progress(
                    "\(phase.withLock { $0 }) · connections \(snapshot.established)/\(configuration.clients) · "
                        + "failed \(snapshot.failed) · published \(publisher.live.total.load(ordering: .relaxed)) · "
                        + "received \(snapshot.received) (\(Int(rate))/s) · p99 "
                        + "\(LoadTestResult.format(snapshot.p99Milliseconds)) ms")
            }
        }
        defer { reporter.cancel() }

        do {
            // 1. Connect, then idle.
            try await viewers.connect(
                deadline: WallClock.monotonicNanoseconds() + Int64(configuration.effectiveConnectTimeout * 1e9))
            phase.withLock { $0 = "idle" }
            try await Task.sleep(for: .milliseconds(Int64(configuration.idleSettle * 1000)))
            let idle = sampler?.sample()

            // 2. Measure: publish (or run generations) while the scenarios run.
            phase.withLock { $0 = "publishing" }
            let cpuStart = sampler?.sample()
            let ownCPUStart = ProcessSampler.ownCPUSeconds()
            let measureStart = WallClock.monotonicNanoseconds()
            let scenarios = Task { try await viewers.measure(duration: configuration.duration) }
            let outcome: Publisher.Outcome
            do {
                if let provider = configuration.generationProvider {
                    outcome = try await Self.runGenerations(
                        configuration, provider: provider, address: address, hostHeader: hostHeader,
                        tls: tls, group: controlGroup)
                    // The generations ended: the measured phase is over (churn and the storm stop with it).
                    scenarios.cancel()
                } else {
                    outcome = try await publisher.run(duration: configuration.duration)
                }
            } catch {
                scenarios.cancel()
                throw error
            }
            try await scenarios.value

            // 3. Drain.
            phase.withLock { $0 = "draining" }
            let catchUp = try await viewers.drain(published: outcome.published, drain: configuration.drain)
            let measuredSeconds = Double(WallClock.monotonicNanoseconds() - measureStart) / 1e9
            let cpuEnd = sampler?.sample()
            let ownCPU = ProcessSampler.ownCPUSeconds() - ownCPUStart

            // 4. Stop.
            phase.withLock { $0 = "stopping" }
            var report = try await viewers.stop(published: outcome.published)
            await viewers.shutdown()
            reporter.cancel()
            if configuration.cleanup, configuration.server.kind == .newsroom {
                await Self.endTopics(configuration, address: address, hostHeader: hostHeader, tls: tls, group: controlGroup)
            }

            var server: LoadTestResult.Server?
            if let before, let idle, let cpuStart, let cpuEnd {
                let received = report.fast.received + report.slow.received
                let cpu = cpuEnd.cpuSeconds - cpuStart.cpuSeconds
                func perDelivery(_ seconds: Double) -> Double { received > 0 ? seconds * 1e6 / Double(received) : 0 }
                server = LoadTestResult.Server(
                    cpuSeconds: cpu,
                    cpuMicrosecondsPerDelivery: perDelivery(cpu),
                    userMicrosecondsPerDelivery: perDelivery(cpuEnd.userSeconds - cpuStart.userSeconds),
                    systemMicrosecondsPerDelivery: perDelivery(cpuEnd.systemSeconds - cpuStart.systemSeconds),
                    rssBeforeBytes: before.rssBytes, rssIdleBytes: idle.rssBytes,
                    rssPerConnectionBytes: report.established > 0
                        ? Double(idle.rssBytes - before.rssBytes) / Double(report.established) : 0,
                    peakRSSBytes: cpuEnd.peakRSSBytes)
            }
            report.attempted = max(report.attempted, 0)
            var result = LoadTestResult(
                configuration: configuration, report: report, published: outcome.published,
                publishErrors: outcome.errors, publishSeconds: outcome.seconds, measuredSeconds: measuredSeconds,
                server: server, loadTesterCPUSeconds: ownCPU + report.workerCPUSeconds)
            result.catchUpMilliseconds = catchUp
            return result
        } catch {
            reporter.cancel()
            _ = try? await viewers.stop(published: Array(repeating: 0, count: configuration.topics))
            await viewers.shutdown()
            throw error
        }
    }

    /// Checks that the server answers (and, for generations, that the hub has the API).
    private static func preflight(
        _ configuration: Configuration, address: SocketAddress, hostHeader: String, tls: LoadTLS?, group: any EventLoopGroup
    ) async throws {
        let connection: ControlConnection
        do {
            connection = try await ControlConnection.connect(to: address, hostHeader: hostHeader, tls: tls, group: group)
        } catch {
            throw LoadTestError.serverUnavailable("cannot connect to \(configuration.url): \(Self.describe(error))")
        }
        guard configuration.server.kind == .newsroom else {
            try? await connection.channel.channel.close()
            return
        }
        let status: Int
        do {
            status = try await connection.run { send in
                try await send(.GET, "/healthz", nil, "").status
            }
        } catch {
            // Over TLS, an untrusted certificate shows here: the handshake follows the connect.
            throw LoadTestError.serverUnavailable("cannot connect to \(configuration.url): \(Self.describe(error))")
        }
        guard status == 200 else {
            throw LoadTestError.serverUnavailable("\(configuration.url)/healthz answered \(status): is it a newsroom hub?")
        }
    }

    /// A connection failure in a few words (`connection refused`, `TLS handshake failed: …`).
    private static func describe(_ error: any Error) -> String {
        HubConnectionError(url: "", underlying: error).reason
    }

    /// Ends the run's topics on the hub (best effort).
    private static func endTopics(
        _ configuration: Configuration, address: SocketAddress, hostHeader: String, tls: LoadTLS?, group: any EventLoopGroup
    ) async {
        guard let connection = try? await ControlConnection.connect(to: address, hostHeader: hostHeader, tls: tls, group: group)
        else { return }
        _ = try? await connection.run { send in
            for topic in 0..<configuration.topics {
                _ = try await send(.DELETE, "/v1/topics/\(configuration.topicName(topic))", nil, "")
            }
        }
    }

    /// Starts one generation per topic through `POST /v1/generations` and waits (up to the duration) until
    /// every topic ended; "published" is each topic's `last_seq`.
    private static func runGenerations(
        _ configuration: Configuration, provider: String, address: SocketAddress, hostHeader: String,
        tls: LoadTLS?, group: any EventLoopGroup
    ) async throws -> Publisher.Outcome {
        let connection = try await ControlConnection.connect(to: address, hostHeader: hostHeader, tls: tls, group: group)
        let start = WallClock.monotonicNanoseconds()
        let end = start + Int64(configuration.duration * 1e9)
        let published = try await connection.run { send in
            for topic in 0..<configuration.topics {
                var body = ByteBuffer()
                body.writeString(#"{"provider":"#)
                body.writeString(JSONObjectWriter.quote(provider))
                body.writeString(#","topic":"#)
                body.writeString(JSONObjectWriter.quote(configuration.topicName(topic)))
                body.writeString(#","request":"#)
                body.writeString(configuration.generationRequest)
                body.writeString("}")
                let response = try await send(.POST, "/v1/generations", body, "application/json")
                switch response.status {
                case 200..<300: continue
                case 404, 405:
                    throw LoadTestError.unsupported(
                        "this hub has no generation API (POST /v1/generations answered \(response.status))")
                default:
                    throw LoadTestError.serverUnavailable(
                        "POST /v1/generations answered \(response.status): \(String(buffer: response.body).prefix(300))")
                }
            }
            var lastSeq = Array(repeating: 0, count: configuration.topics)
            var ended = Array(repeating: false, count: configuration.topics)
            while WallClock.monotonicNanoseconds() < end, ended.contains(false) {
                try await Task.sleep(for: .milliseconds(250))
                for topic in 0..<configuration.topics where !ended[topic] {
                    let response = try await send(.GET, "/v1/topics/\(configuration.topicName(topic))", nil, "")
                    guard response.status == 200, let json = try? JSONValue.parse(response.body.readableBytesView)
                    else { continue }
                    lastSeq[topic] = json["last_seq"]?.intValue ?? lastSeq[topic]
                    ended[topic] = json["state"]?.stringValue == "ended"
                }
            }
            return lastSeq
        }
        return Publisher.Outcome(
            published: published, errors: 0, seconds: Double(WallClock.monotonicNanoseconds() - start) / 1e9)
    }
}
