import NewsroomCore
import Synchronization

/// How one connection of a subscription ended.
enum ConnectionOutcome: Sendable {
    /// The topic ended (`stream_complete`, a terminal `error`, or a resume point at its end).
    case ended
    /// The connection failed or dropped; `receivedAny` tells whether it delivered anything first.
    case failed(any Error, receivedAny: Bool)
}

/// The reconnect loop every transport shares: connect, deliver, and after a failure wait (exponential
/// backoff with jitter) and connect again, resuming after the last delivered `seq`.
///
/// Events are delivered at most once: an event whose `seq` is not above the last delivered one is
/// dropped (a replay that overlaps), except after a `resume_unavailable` notice, which announces that
/// the history starts over.
enum ResumingStream {
    /// One connection attempt: `after` is the resume point; `deliver` takes each event as it arrives
    /// (duplicates are filtered there); returns once the connection is over.
    typealias Connect = @Sendable (_ after: Int?, _ deliver: @escaping @Sendable (Event) -> Void) async -> ConnectionOutcome

    static func makeStream(options: SubscriptionOptions, connect: @escaping Connect) -> AsyncThrowingStream<Event, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        let task = Task { await self.run(options: options, connect: connect, continuation: continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private static func run(
        options: SubscriptionOptions, connect: Connect, continuation: AsyncThrowingStream<Event, any Error>.Continuation
    ) async {
        let position = ResumePosition(after: options.after)
        var failures = 0
        while !Task.isCancelled {
            let outcome = await connect(position.resumePoint) { event in
                if position.accept(event) { continuation.yield(event) }
            }
            switch outcome {
            case .ended:
                continuation.finish()
                return
            case .failed(let error, let receivedAny):
                if let refused = error as? SubscriptionError, let status = refused.status, status != 503 {
                    continuation.finish(throwing: refused)  // a client error will not heal by retrying
                    return
                }
                failures = receivedAny ? 1 : failures + 1
                guard options.reconnect, failures <= (options.maxAttempts ?? .max) else {
                    continuation.finish(throwing: error)
                    return
                }
                try? await Task.sleep(for: options.backoff(afterFailures: failures))
            }
        }
        continuation.finish(throwing: CancellationError())
    }
}

extension SubscriptionOptions {
    /// The wait before reconnection attempt number `failures` (1 for the first): ``initialBackoff``
    /// doubled per consecutive failure, capped at ``maxBackoff``, then scaled by a random factor in
    /// 0.5…1.5 so that many clients dropped at once do not come back at once.
    public func backoff(
        afterFailures failures: Int, using random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }
    ) -> Duration {
        let base = self.initialBackoff * (1 << Swift.min(Swift.max(failures, 1) - 1, 16))
        return Swift.min(base, self.maxBackoff) * random(0.5...1.5)
    }
}

/// The last delivered seq, shared by the connection's event loop (writes) and the reconnect loop
/// (reads between connections).
final class ResumePosition: Sendable {
    private struct State {
        var last: Int?
        var rebuilding = false
    }
    private let state: Mutex<State>

    init(after: Int?) {
        self.state = Mutex(State(last: after.flatMap { $0 > 0 ? $0 : nil }))
    }

    /// Where to resume: the last delivered seq (`nil`: from the start).
    var resumePoint: Int? { self.state.withLock { $0.last } }

    /// Whether to deliver `event`; moves the resume point.
    func accept(_ event: Event) -> Bool {
        self.state.withLock { state in
            guard let seq = event.seq else {
                if case .error(let error) = event.payload, error.code == "resume_unavailable" { state.rebuilding = true }
                return true  // heartbeats, gaps and notices never move the resume point
            }
            if let last = state.last, seq <= last, !state.rebuilding { return false }
            state.rebuilding = false
            state.last = seq
            return true
        }
    }
}
