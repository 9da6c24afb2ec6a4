import NewsroomCore
import Synchronization

@testable import NewsroomClient

/// A connector that plays a script instead of connecting: each connection delivers its step's events
/// (stopping when told to close) and ends with its step's outcome. It records the resume point each
/// connection asked for, and whether it was told to close.
final class ScriptedConnector: SubscriptionConnector, Sendable {
    struct Step: Sendable {
        var events: [Event]
        var outcome: ConnectionOutcome
    }

    struct Record: Sendable {
        var afters: [Int?] = []
        var closedAfter: [Int] = []  // per connection: how many events it delivered before being told to close
    }

    let url = "http://scripted.invalid/v1/topics/t/events"
    private let steps: Mutex<[Step]>
    private let record = Mutex(Record())

    /// - Parameter steps: One per connection; once they run out, every connection is refused.
    init(_ steps: [Step]) {
        self.steps = Mutex(steps)
    }

    var afters: [Int?] { self.record.withLock { $0.afters } }
    var closedAfter: [Int] { self.record.withLock { $0.closedAfter } }

    func connect(after: Int?, deliver: @escaping @Sendable (Event) -> ConnectionDirective) async -> ConnectionOutcome {
        self.record.withLock { $0.afters.append(after) }
        guard let step = self.steps.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
            return .refused(SubscriptionError(status: 418, message: "the script ran out"))
        }
        for (index, event) in step.events.enumerated() where deliver(event) == .close {
            self.record.withLock { $0.closedAfter.append(index + 1) }
            return .closed
        }
        return step.outcome
    }
}

/// Runs the reconnect loop over `connector`: the events it delivered, and the error it ended with.
func runLoop(
    _ connector: ScriptedConnector, options: SubscriptionOptions = .fast
) async -> (events: [Event], error: (any Error)?) {
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: Event.self)
    let task = Task { await Subscription.run(connector: connector, options: options, continuation: continuation) }
    var events: [Event] = []
    do {
        for try await event in stream { events.append(event) }
        await task.value
        return (events, nil)
    } catch {
        await task.value
        return (events, error)
    }
}

extension SubscriptionOptions {
    /// Reconnections within a millisecond, so scripted tests run at once.
    static var fast: SubscriptionOptions {
        .defaults {
            $0.initialBackoff = .microseconds(100)
            $0.maxBackoff = .milliseconds(1)
        }
    }
}

/// A dropped connection.
let dropped = ConnectionOutcome.dropped(SSEClientError.connectionClosed)
