/// What a group of viewers (the fast or the slow ones) received, mergeable across loops and processes.
struct GroupReport: Sendable, Codable {
    var clients = 0
    var expected = 0
    var received = 0
    var lost = 0
    var duplicated = 0
    var outOfOrder = 0
    /// Publisher numbers seen twice under two hub seqs (a publish retried after a lost answer).
    var republished = 0
    var latency = LatencyHistogram()

    mutating func merge(_ other: GroupReport) {
        self.clients += other.clients
        self.expected += other.expected
        self.received += other.received
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.outOfOrder += other.outOfOrder
        self.republished += other.republished
        self.latency.merge(other.latency)
    }
}

/// The reconnect storm as the viewers saw it.
struct StormReport: Sendable, Codable {
    /// Viewers dropped at once.
    var dropped = 0
    /// Of those, reconnected with `Last-Event-ID` and answered 200.
    var resumed = 0
    /// Answered `resume_unavailable` (their resume point was gone).
    var resumeUnavailable = 0
    /// Live again: subscribed anew and holding every event up to the highest one delivered on its loop
    /// when the new subscription was answered (the replay of what it missed included).
    var recovered = 0
    /// Time from the drop until each viewer was live again.
    var recovery = LatencyHistogram()
    /// Time from the drop until each viewer received an event published after the drop (this adds the
    /// wait for the next publish, up to one publish interval, to the recovery).
    var firstNewEvent = LatencyHistogram()
    /// Publish → delivery of events published in the 5 s after the drop to fast viewers that were back
    /// by then (live deliveries during the storm; replays of missed events are in `recovery`).
    var live = LatencyHistogram()

    mutating func merge(_ other: StormReport) {
        self.dropped += other.dropped
        self.resumed += other.resumed
        self.resumeUnavailable += other.resumeUnavailable
        self.recovered += other.recovered
        self.recovery.merge(other.recovery)
        self.firstNewEvent.merge(other.firstNewEvent)
        self.live.merge(other.live)
    }
}

/// Everything one process's viewers measured; merged over event loops and ``LoadTestRunner`` workers.
struct FleetReport: Sendable, Codable {
    var attempted = 0
    var established = 0
    var failed = 0
    var failures: [String: Int] = [:]
    var fast = GroupReport()
    var slow = GroupReport()
    /// Connections the server closed or lost during the run (each was resumed).
    var drops = 0
    /// Reconnections after a drop (not counting the storm's).
    var reconnects = 0
    /// `error` events without a seq received (notices such as `slow_consumer`).
    var notices = 0
    var storm: StormReport?
    /// Viewers that left under churn, and new ones that joined.
    var churnLeft = 0
    var churnJoined = 0
    /// Bytes of event-stream body received.
    var bytes = 0
    /// CPU seconds of worker processes over the measured phase (0 in-process: the runner measures itself).
    var workerCPUSeconds = 0.0

    mutating func merge(_ other: FleetReport) {
        self.attempted += other.attempted
        self.established += other.established
        self.failed += other.failed
        self.failures.merge(other.failures, uniquingKeysWith: +)
        self.fast.merge(other.fast)
        self.slow.merge(other.slow)
        self.drops += other.drops
        self.reconnects += other.reconnects
        self.notices += other.notices
        if let storm = other.storm {
            var merged = self.storm ?? StormReport()
            merged.merge(storm)
            self.storm = merged
        }
        self.churnLeft += other.churnLeft
        self.churnJoined += other.churnJoined
        self.bytes += other.bytes
        self.workerCPUSeconds += other.workerCPUSeconds
    }
}

/// A live snapshot for the progress line.
struct FleetProgress: Sendable, Codable {
    var established = 0
    var failed = 0
    var received = 0
    var p99Milliseconds = 0.0

    mutating func merge(_ other: FleetProgress) {
        self.established += other.established
        self.failed += other.failed
        self.received += other.received
        self.p99Milliseconds = max(self.p99Milliseconds, other.p99Milliseconds)
    }
}
