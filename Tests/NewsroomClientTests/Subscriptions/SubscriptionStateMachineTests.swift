import NewsroomCore
import Testing

@testable import NewsroomClient

/// The rules every transport shares, without I/O: which events reach the caller, and what follows a
/// connection.
@Suite("Subscription state machine and backoff")
struct SubscriptionStateMachineTests {
    typealias Machine = Subscription.StateMachine

    @Test("events at or below the last seq are skipped; heartbeats never move the resume point")
    func dedupe() {
        var machine = Machine(after: 2, maxRetries: nil)
        let (connection, after) = machine.connecting()
        #expect(after == 2)
        #expect(machine.received(event(2), on: connection) == .skip)
        #expect(machine.received(event(3), on: connection) == .deliver)
        #expect(machine.received(event(3), on: connection) == .skip)
        #expect(machine.received(heartbeat, on: connection) == .deliver)
        #expect(machine.resumePoint == 3)
    }

    @Test("after resume_unavailable the history starts over, and a reconnection before it resumes from the start")
    func rebuild() {
        var machine = Machine(after: 50, maxRetries: nil)
        var (connection, _) = machine.connecting()
        #expect(machine.received(notice("resume_unavailable", retryable: false), on: connection) == .deliver)
        #expect(machine.resumePoint == nil)  // 50 means nothing to the new history
        guard case .reconnect = machine.connectionEnded(.dropped(SSEClientError.connectionClosed)) else {
            Issue.record("a drop while rebuilding must reconnect")
            return
        }
        let next = machine.connecting()
        connection = next.connection
        #expect(next.after == nil)
        #expect(machine.received(notice("resume_unavailable", retryable: false), on: connection) == .deliver)
        #expect(machine.received(event(1), on: connection) == .deliver)
        #expect(machine.received(event(2), on: connection) == .deliver)
        #expect(machine.received(event(2), on: connection) == .skip)
        #expect(machine.resumePoint == 2)
    }

    @Test("stream_complete, or an error with a seq that is terminal, ends the subscription")
    func topicEnd() {
        for end in [
            endEvent(4),
            Event(
                seq: 4, topic: "t", timestamp: .now(),
                payload: .error(StreamError(code: "upstream_failed", message: "x", retryable: false, terminal: true))),
        ] {
            var machine = Machine(after: nil, maxRetries: nil)
            let (connection, _) = machine.connecting()
            #expect(machine.received(event(3), on: connection) == .deliver)
            #expect(machine.received(end, on: connection) == .deliverAndClose)
            #expect(machine.received(event(5), on: connection) == .skip)  // read after the decision
            guard case .finish = machine.connectionEnded(.closed) else {
                Issue.record("the topic's end must finish the subscription")
                return
            }
        }
    }

    @Test("an error with a seq that is not terminal is part of the topic")
    func errorWithSeq() {
        var machine = Machine(after: nil, maxRetries: nil)
        let (connection, _) = machine.connecting()
        let providerError = Event(
            seq: 3, topic: "t", timestamp: .now(),
            payload: .error(StreamError(code: "rate_limited", message: "slow down", retryable: true)))
        #expect(machine.received(providerError, on: connection) == .deliver)
        #expect(machine.received(event(4), on: connection) == .deliver)
    }

    @Test(
        "a retryable notice without a seq closes the connection and resumes from the last seq",
        arguments: ["server_shutdown", "slow_consumer", "token_expired", "history_lost"])
    func retryableNotice(code: String) {
        var machine = Machine(after: nil, maxRetries: 3)
        let (connection, _) = machine.connecting()
        #expect(machine.received(event(1), on: connection) == .deliver)
        #expect(machine.received(notice(code, retryable: true), on: connection) == .deliverAndClose)
        guard case .reconnect(let attempt, let cause) = machine.connectionEnded(.ended) else {
            Issue.record("a retryable notice must reconnect, even when the transport then says 'ended'")
            return
        }
        #expect(attempt == 1)
        #expect((cause as? SubscriptionError)?.code == code)
        #expect(machine.connecting().after == 1)
    }

    @Test("a notice without a seq that is not retryable stops the subscription with its code")
    func finalNotice() {
        var machine = Machine(after: nil, maxRetries: nil)
        let (connection, _) = machine.connecting()
        #expect(machine.received(notice("topic_removed", retryable: false), on: connection) == .deliverAndClose)
        guard case .fail(let error) = machine.connectionEnded(.closed) else {
            Issue.record("a final notice must stop the subscription")
            return
        }
        #expect((error as? SubscriptionError) == SubscriptionError(status: nil, code: "topic_removed", message: "m"))
    }

    @Test("failures count in a row; a connection that delivered starts again; maxRetries gives up")
    func retries() {
        var machine = Machine(after: nil, maxRetries: 2)
        var attempts: [Int] = []
        for _ in 0..<2 {
            _ = machine.connecting()
            if case .reconnect(let attempt, _) = machine.connectionEnded(.dropped(SSEClientError.connectionClosed)) {
                attempts.append(attempt)
            }
        }
        // A connection that delivered an event: the count starts again.
        let (connection, _) = machine.connecting()
        _ = machine.received(event(1), on: connection)
        if case .reconnect(let attempt, _) = machine.connectionEnded(.dropped(SSEClientError.connectionClosed)) {
            attempts.append(attempt)
        }
        // A connection that only delivered a notice did not work.
        let (noticed, _) = machine.connecting()
        _ = machine.received(notice("server_shutdown", retryable: true), on: noticed)
        if case .reconnect(let attempt, _) = machine.connectionEnded(.closed) { attempts.append(attempt) }
        #expect(attempts == [1, 2, 1, 2])
        _ = machine.connecting()
        guard case .giveUp(_, let failed) = machine.connectionEnded(.dropped(SSEClientError.connectionClosed)) else {
            Issue.record("the third failure in a row must give up with maxRetries 2")
            return
        }
        #expect(failed == 3)
    }

    @Test("a refusal fails at once; a transport's end finishes")
    func refusalAndEnd() {
        var machine = Machine(after: nil, maxRetries: nil)
        _ = machine.connecting()
        guard case .fail = machine.connectionEnded(.refused(SubscriptionError(status: 403, message: "no"))) else {
            Issue.record("a refusal must fail")
            return
        }
        _ = machine.connecting()
        guard case .finish = machine.connectionEnded(.ended) else {
            Issue.record("204 / close 1000 / OK must finish")
            return
        }
    }

    @Test("an event of an earlier connection is skipped")
    func lateEvent() {
        var machine = Machine(after: nil, maxRetries: nil)
        let (first, _) = machine.connecting()
        _ = machine.connectionEnded(.dropped(SSEClientError.connectionClosed))
        let (second, _) = machine.connecting()
        #expect(machine.received(event(1), on: first) == .skip)
        #expect(machine.received(event(1), on: second) == .deliver)
    }

    @Test("backoff doubles per failure, is capped, and is jittered by 0.5…1.5")
    func backoff() {
        var options = SubscriptionOptions()
        options.initialBackoff = .milliseconds(250)
        options.maxBackoff = .seconds(2)
        let middle: (ClosedRange<Double>) -> Double = { _ in 1 }
        #expect(options.backoff(afterFailures: 1, using: middle) == .milliseconds(250))
        #expect(options.backoff(afterFailures: 2, using: middle) == .milliseconds(500))
        #expect(options.backoff(afterFailures: 4, using: middle) == .seconds(2))
        #expect(options.backoff(afterFailures: 40, using: middle) == .seconds(2))
        #expect(options.backoff(afterFailures: 1, using: { $0.lowerBound }) == .milliseconds(125))
        #expect(options.backoff(afterFailures: 1, using: { $0.upperBound }) == .milliseconds(375))
        for _ in 0..<100 {
            let wait = options.backoff(afterFailures: 3)
            #expect(wait >= .milliseconds(500) && wait <= .milliseconds(1500))
        }
    }
}
