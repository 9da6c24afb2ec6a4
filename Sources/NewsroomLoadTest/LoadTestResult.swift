/// The outcome of one load-test run: connections, deliveries, latency and, with a server pid, the
/// server's CPU and memory.
///
/// Counts cover every viewer; ``fast`` and ``slow`` split them when a share of the viewers reads slowly
/// (``LoadTestRunner/Configuration/slowFraction``). Latency is end-to-end: the publisher's send time,
/// stamped in the event, to the moment the viewer's read returned it.
public struct LoadTestResult: Sendable {
    /// Latency percentiles in milliseconds.
    public struct Latency: Sendable, Hashable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
        public var count: Int

        init(_ histogram: LatencyHistogram) {
            self.p50 = histogram.milliseconds(atPercentile: 50)
            self.p90 = histogram.milliseconds(atPercentile: 90)
            self.p99 = histogram.milliseconds(atPercentile: 99)
            self.p999 = histogram.milliseconds(atPercentile: 99.9)
            self.max = histogram.maxMilliseconds
            self.count = Int(histogram.count)
        }
    }

    /// What one group of viewers received.
    public struct Group: Sendable, Hashable {
        public var clients: Int
        public var expected: Int
        public var received: Int
        public var lost: Int
        public var duplicated: Int
        public var outOfOrder: Int
        public var latency: Latency

        init(_ report: GroupReport) {
            self.clients = report.clients
            self.expected = report.expected
            self.received = report.received
            self.lost = report.lost
            self.duplicated = report.duplicated
            self.outOfOrder = report.outOfOrder
            self.latency = Latency(report.latency)
        }
    }

    /// The reconnect storm.
    public struct Storm: Sendable, Hashable {
        /// Viewers dropped at once, resumed with 200, told `resume_unavailable`, back to live events.
        public var dropped: Int
        public var resumed: Int
        public var resumeUnavailable: Int
        public var recovered: Int
        /// Time from the drop until a viewer was live again — subscribed anew and caught up with every
        /// event delivered to the others by then: median and slowest (ms).
        public var recoverP50Milliseconds: Double
        public var recoverMaxMilliseconds: Double
        /// Time from the drop until a viewer received an event published after the drop: median and
        /// slowest (ms). This adds the wait for the next publish (up to one publish interval).
        public var firstNewEventP50Milliseconds: Double
        public var firstNewEventMaxMilliseconds: Double
        /// Live deliveries during the storm — events published in the 5 s after the drop, to fast viewers
        /// already back — publish → delivery: how many, median, p99 and slowest (ms).
        public var liveDeliveries: Int
        public var liveP50Milliseconds: Double
        public var liveP99Milliseconds: Double
        public var liveMaxMilliseconds: Double
    }

    /// The server's CPU and memory, from `/proc` (with a server pid).
    public struct Server: Sendable, Hashable {
        /// CPU seconds (user + system) while publishing and draining.
        public var cpuSeconds: Double
        /// ``cpuSeconds`` per delivery received, in microseconds.
        public var cpuMicrosecondsPerDelivery: Double
        /// The user-space part (the server's own code) and the kernel part (system calls, mostly the
        /// sockets' `write`) of ``cpuMicrosecondsPerDelivery``. On loopback the kernel charges both the
        /// send and the receive side of a write to the sender, so the system part is mostly a floor every
        /// server pays; the user part is what the server's design changes.
        public var userMicrosecondsPerDelivery: Double
        public var systemMicrosecondsPerDelivery: Double
        /// RSS before the viewers connected, and after they connected and idled.
        public var rssBeforeBytes: Int
        public var rssIdleBytes: Int
        /// (idle − before) ÷ connections established.
        public var rssPerConnectionBytes: Double
        /// Peak RSS (`VmHWM`) at the end.
        public var peakRSSBytes: Int
    }

    public var server: String
    public var transport: String
    public var clients: Int
    public var topics: Int
    public var rate: Double
    public var payloadBytes: Int
    public var duration: Double
    public var workers: Int
    /// The provider of the generations run instead of the publisher (`--generation`), if any.
    public var generationProvider: String?

    public var attempted: Int
    public var established: Int
    public var failed: Int
    /// Failed connections by reason (`refused`, `connect_timeout`, `http_503`, `no_source_port`…).
    public var failures: [String: Int]
    /// Events published (all topics), the rate achieved (events/s, all topics) and rejected publishes.
    public var published: Int
    public var publishedPerSecond: Double
    public var publishErrors: Int
    public var expected: Int
    public var received: Int
    public var lost: Int
    public var duplicated: Int
    public var outOfOrder: Int
    /// Publisher numbers that arrived in two events (a publish retried after its answer was lost): the
    /// hub accepted it twice; not a duplicate delivery.
    public var republished: Int
    /// Deliveries received per second over the measured window (publishing plus catch-up).
    public var deliveriesPerSecond: Double
    public var latency: Latency
    public var fast: Group
    public var slow: Group?
    /// Time from the last publish until every fast viewer had everything, or nil if not within the drain.
    public var catchUpMilliseconds: Double?
    public var drops: Int
    public var reconnects: Int
    public var notices: Int
    public var storm: Storm?
    public var churnLeft: Int?
    public var churnJoined: Int?
    /// The measured window (seconds) and this side's own CPU seconds (with its workers).
    public var measuredSeconds: Double
    public var loadTesterCPUSeconds: Double
    public var serverUsage: Server?
}

extension LoadTestResult {
    init(
        configuration: LoadTestRunner.Configuration, report: FleetReport, published: [Int], publishErrors: Int,
        publishSeconds: Double, measuredSeconds: Double, server: Server?, loadTesterCPUSeconds: Double
    ) {
        self.server = configuration.server.description
        self.transport = configuration.transport.description
        self.clients = configuration.clients
        self.topics = configuration.topics
        self.rate = configuration.rate
        self.payloadBytes = configuration.payloadBytes
        self.duration = configuration.duration
        self.workers = configuration.workers
        self.generationProvider = configuration.generationProvider
        self.attempted = report.attempted
        self.established = report.established
        self.failed = report.failed
        self.failures = report.failures
        self.published = published.reduce(0, +)
        self.publishedPerSecond = publishSeconds > 0 ? Double(self.published) / publishSeconds : 0
        self.publishErrors = publishErrors
        var all = report.fast
        all.merge(report.slow)
        self.expected = all.expected
        self.received = all.received
        self.lost = all.lost
        self.duplicated = all.duplicated
        self.outOfOrder = all.outOfOrder
        self.republished = all.republished
        self.deliveriesPerSecond = measuredSeconds > 0 ? Double(all.received) / measuredSeconds : 0
        self.latency = Latency(all.latency)
        self.fast = Group(report.fast)
        self.slow = report.slow.clients > 0 ? Group(report.slow) : nil
        self.catchUpMilliseconds = nil
        self.drops = report.drops
        self.reconnects = report.reconnects
        self.notices = report.notices
        self.storm = report.storm.map {
            Storm(
                dropped: $0.dropped, resumed: $0.resumed, resumeUnavailable: $0.resumeUnavailable,
                recovered: $0.recovered, recoverP50Milliseconds: $0.recovery.milliseconds(atPercentile: 50),
                recoverMaxMilliseconds: $0.recovery.maxMilliseconds,
                firstNewEventP50Milliseconds: $0.firstNewEvent.milliseconds(atPercentile: 50),
                firstNewEventMaxMilliseconds: $0.firstNewEvent.maxMilliseconds, liveDeliveries: Int($0.live.count),
                liveP50Milliseconds: $0.live.milliseconds(atPercentile: 50),
                liveP99Milliseconds: $0.live.milliseconds(atPercentile: 99),
                liveMaxMilliseconds: $0.live.maxMilliseconds)
        }
        self.churnLeft = configuration.churn ? report.churnLeft : nil
        self.churnJoined = configuration.churn ? report.churnJoined : nil
        self.measuredSeconds = measuredSeconds
        self.loadTesterCPUSeconds = loadTesterCPUSeconds
        self.serverUsage = server
    }
}
