/// The viewers of a run, in this process (``Fleet``) or spread over worker processes (``WorkerPool``).
///
/// The runner drives them through the phases in order: ``connect(deadline:)``, ``measure(duration:)``
/// (concurrently with publishing), ``drain(published:drain:)``, ``stop(published:)``, ``shutdown()``.
protocol ViewerSet: Sendable {
    /// Opens every connection at the ramp rate; returns once all answered or `deadline` (monotonic ns).
    func connect(deadline: Int64) async throws
    /// A live snapshot for the progress line.
    func progress() async -> FleetProgress
    /// Runs the scenarios of the measured phase (churn, the reconnect storm at half-time).
    func measure(duration: Double) async throws
    /// Waits until the fast viewers have everything; the catch-up time in ms, or nil.
    func drain(published: [Int], drain: Double) async throws -> Double?
    /// Closes every connection and reports.
    func stop(published: [Int]) async throws -> FleetReport
    /// Releases threads and processes.
    func shutdown() async
}

extension Fleet: ViewerSet {}
