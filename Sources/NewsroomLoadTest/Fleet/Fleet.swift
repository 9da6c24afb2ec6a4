import NIOCore
import NIOPosix

/// The viewers of this process, spread over the event loops of their own group.
///
/// Async methods hop to each loop once (`submit`) and merge what the loops return; nothing per viewer
/// or per event leaves its loop.
final class Fleet: Sendable {
    let configuration: LoadTestRunner.Configuration
    let range: Range<Int>
    private let group: MultiThreadedEventLoopGroup
    private let loops: [LoopContext]

    /// - Parameter range: The viewers of this process (indices into `0..<configuration.clients`).
    init(configuration: LoadTestRunner.Configuration, range: Range<Int>) throws(LoadTestError) {
        guard let endpoint = Endpoint(url: configuration.url) else {
            throw .invalidConfiguration("--url must look like http://HOST:PORT or https://HOST:PORT")
        }
        let server: SocketAddress
        do {
            server = try SocketAddress.makeAddressResolvingHost(endpoint.host, port: endpoint.port)
        } catch {
            throw .serverUnavailable("cannot resolve \(endpoint.host): \(error)")
        }
        let topicNames = (0..<configuration.topics).map(configuration.topicName)
        let ssePaths = topicNames.map { configuration.server.subscribePath(topic: $0, policy: configuration.policy) }
        let webSocketPaths = topicNames.map {
            configuration.server.webSocketPath(topic: $0, policy: configuration.policy)
        }
        // Up to 5,000 viewers per source address (the ephemeral range holds ~28,000 ports per address,
        // less whatever earlier runs left in TIME_WAIT), starting at a random 127.0.0.x so that
        // back-to-back runs do not reuse the same ports.
        var sources: [SocketAddress] = []
        if endpoint.canSpreadSourceAddresses {
            let offset = Int.random(in: 0..<250)
            for i in 0..<250 {
                if let address = try? SocketAddress(ipAddress: "127.0.0.\(2 + (offset + i) % 250)", port: 0) {
                    sources.append(address)
                }
            }
        }
        let grpcPort = configuration.grpcPort ?? endpoint.port
        var grpcServer: SocketAddress?
        if configuration.transport.includesGRPC {
            do {
                grpcServer = try SocketAddress.makeAddressResolvingHost(endpoint.host, port: grpcPort)
            } catch {
                throw .serverUnavailable("cannot resolve \(endpoint.host): \(error)")
            }
        }
        let grpcRequests = topicNames.map { GRPCViewerCall.subscribeRequest(topic: $0, policy: configuration.policy) }
        let shared = FleetShared(
            server: server, hostHeader: "\(endpoint.host):\(endpoint.port)", ssePaths: ssePaths,
            webSocketPaths: webSocketPaths, transport: configuration.transport, grpcServer: grpcServer,
            grpcAuthority: "\(endpoint.host):\(grpcPort)", grpcRequests: grpcRequests,
            sourceAddresses: sources, viewersPerSourceAddress: 5_000,
            sequenceFromEventID: configuration.generationProvider != nil,
            slowReadBytesPerSecond: configuration.slowReadBytesPerSecond, topics: configuration.topics,
            tls: try LoadTLS(configuration))
        let threads = configuration.threads ?? System.coreCount
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        var loops: [LoopContext] = []
        for loop in self.group.makeIterator() {
            loops.append(LoopContext(eventLoop: loop, shared: shared))
        }
        self.loops = loops
        self.configuration = configuration
        self.range = range
    }

    private func onEachLoop<T: Sendable>(_ body: @escaping @Sendable (LoopContext) -> T) async -> [T] {
        var results: [T] = []
        for context in self.loops {
            if let value = try? await context.eventLoop.submit({ body(context) }).get() {
                results.append(value)
            }
        }
        return results
    }

    /// Opens every viewer's connection at the ramp rate (at most `maxPendingConnects` in flight), then waits
    /// for the answers until `deadline` (monotonic ns); viewers with no answer by then count as failed.
    func connect(deadline: Int64) async {
        let configuration = self.configuration
        let indices = Array(self.range)
        let start = WallClock.monotonicNanoseconds()
        var next = 0
        while next < indices.count, WallClock.monotonicNanoseconds() < deadline {
            let elapsed = Double(WallClock.monotonicNanoseconds() - start) / 1e9
            let allowed = min(indices.count, Int(configuration.ramp * elapsed) + 1)
            let pending = await self.pending()
            let budget = min(allowed - next, configuration.maxPendingConnects - pending)
            if budget > 0 {
                var perLoop = Array(repeating: [(index: Int, topic: Int, slow: Bool)](), count: self.loops.count)
                for index in indices[next..<(next + budget)] {
                    perLoop[index % self.loops.count].append(
                        (index, index % configuration.topics, configuration.isSlow(index)))
                }
                for (context, viewers) in zip(self.loops, perLoop) where !viewers.isEmpty {
                    context.eventLoop.execute { context.start(viewers) }
                }
                next += budget
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        while WallClock.monotonicNanoseconds() < deadline, await self.pending() > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
        _ = await self.onEachLoop { $0.expirePending() }
    }

    /// Viewers waiting for their first answer.
    func pending() async -> Int {
        await self.onEachLoop { $0.pending }.reduce(0, +)
    }

    func progress() async -> FleetProgress {
        var total = FleetProgress()
        for part in await self.onEachLoop({ $0.progress() }) { total.merge(part) }
        return total
    }

    /// Drops every connection at once; each resumes with `Last-Event-ID`.
    func storm() async {
        let heads = await self.onEachLoop { $0.topicHeads }.reduce(into: Array(repeating: 0, count: self.configuration.topics)) {
            for (topic, head) in $1.enumerated() { $0[topic] = max($0[topic], head) }
        }
        let now = WallClock.nanoseconds()
        _ = await self.onEachLoop { $0.stormDrop(heads: heads, at: now) }
    }

    /// Replaces `count` viewers, spread over the loops.
    func churn(_ count: Int) async {
        let perLoop = count / self.loops.count
        let extra = count % self.loops.count
        for (i, context) in self.loops.enumerated() {
            let share = perLoop + (i < extra ? 1 : 0)
            if share > 0 { context.eventLoop.execute { context.churn(share) } }
        }
    }

    /// Runs the measured phase's scenarios (churn, the storm at half-time) for `duration` seconds.
    func measure(duration: Double) async {
        let configuration = self.configuration
        let start = WallClock.monotonicNanoseconds()
        let end = start + Int64(duration * 1e9)
        let stormAt = start + Int64(duration * 0.5e9)
        var stormDone = !configuration.reconnectStorm
        // This process's share of the churn rate, applied every 100 ms.
        let share = Double(self.range.count) / Double(max(1, configuration.clients))
        let churnPerTick = configuration.churn ? configuration.effectiveChurnRate * share / 10 : 0
        var churnCarry = 0.0
        while WallClock.monotonicNanoseconds() < end, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            let now = WallClock.monotonicNanoseconds()
            if !stormDone, now >= stormAt {
                stormDone = true
                await self.storm()
            }
            if churnPerTick > 0, now < end {
                churnCarry += churnPerTick
                let count = Int(churnCarry)
                churnCarry -= Double(count)
                if count > 0 { await self.churn(count) }
            }
        }
    }

    /// Waits until every fast live viewer received everything up to `published[topic]`, or `drain`
    /// seconds; returns how long that took in milliseconds, or nil if they had not by then.
    func drain(published: [Int], drain: Double) async -> Double? {
        let start = WallClock.monotonicNanoseconds()
        let deadline = start + Int64(drain * 1e9)
        while true {
            let lagging = await self.onEachLoop { $0.lagging(published: published) }.reduce(0, +)
            if lagging == 0 { return Double(WallClock.monotonicNanoseconds() - start) / 1e6 }
            if WallClock.monotonicNanoseconds() >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops every connection and returns the merged report.
    func stop(published: [Int]) async -> FleetReport {
        for context in self.loops {
            _ = try? await context.eventLoop.flatSubmit { context.stop() }.get()
        }
        var report = FleetReport()
        for part in await self.onEachLoop({ $0.finish(published: published) }) { report.merge(part) }
        return report
    }

    func shutdown() async {
        try? await self.group.shutdownGracefully()
    }
}
