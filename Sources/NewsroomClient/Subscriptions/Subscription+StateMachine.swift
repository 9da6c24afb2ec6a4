import NewsroomCore

extension Subscription {
    /// The rules of a subscription, for every transport: which events reach the caller, when a
    /// connection is over, and what comes after it. It does no I/O: the reconnect loop feeds it events and
    /// connection outcomes and carries out the actions it returns.
    ///
    /// - Events are delivered at most once: one whose `seq` is not above the last delivered one is a
    ///   replay that overlaps, and is skipped — except after `resume_unavailable`, which announces that
    ///   the history starts over.
    /// - An `error` **with** a `seq` is part of the topic: delivered, and the end when `terminal` (as is
    ///   `stream_complete`).
    /// - An `error` **without** a `seq` is about this connection: `resume_unavailable` is delivered and
    ///   the replay that follows is taken as the new history; any other is delivered and closes the
    ///   connection, then the subscription resumes from the last delivered `seq` if it is `retryable`
    ///   (`server_shutdown`, `slow_consumer`, `token_expired`, `history_lost`) and stops otherwise.
    /// - After a connection that failed, the subscription reconnects until ``SubscriptionOptions/maxRetries``
    ///   attempts in a row have failed; a connection that delivered anything but a notice starts the
    ///   count again.
    struct StateMachine: Sendable {
        /// The last delivered `seq`.
        private(set) var lastSeq: Int?
        /// `resume_unavailable` arrived and no event with a `seq` since: the next one starts the history.
        private var rebuilding = false
        /// Consecutive connections that failed without delivering anything.
        private var failures = 0
        /// The number of the current connection, so that a late event of a closed one is ignored.
        private var connection = 0
        /// Whether the current connection delivered an event other than a notice.
        private var delivered = false
        /// What an event decided about the current connection, if anything yet.
        private var verdict: Verdict?
        private let maxRetries: Int?

        /// What an event decided about its connection.
        private enum Verdict {
            /// `stream_complete` or a terminal `error` with a `seq`: the subscription ends.
            case topicEnded
            /// A retryable notice: reconnect and resume.
            case resume(StreamError)
            /// A notice that is not retryable: the subscription ends with an error.
            case stop(StreamError)
        }

        /// What to do with an event.
        enum EventAction: Equatable {
            /// Hand it to the caller, keep reading.
            case deliver
            /// Hand it to the caller, then close the connection.
            case deliverAndClose
            /// Skip it (a duplicate, or read after this connection was decided).
            case skip
        }

        /// What to do once a connection is over.
        enum ConnectionAction {
            /// The topic ended: finish the sequence.
            case finish
            /// Finish the sequence with this error.
            case fail(any Error)
            /// Too many attempts in a row failed: finish with this cause after `attempts` attempts.
            case giveUp(cause: any Error, attempts: Int)
            /// Wait (the backoff for `attempt`) and connect again.
            case reconnect(attempt: Int, cause: any Error)
        }

        /// - Parameters:
        ///   - after: The resume point to start from (0 or `nil`: the start of the history).
        ///   - maxRetries: Reconnection attempts allowed in a row (`nil`: no limit; 0: never reconnect).
        init(after: Int?, maxRetries: Int?) {
            self.lastSeq = after.flatMap { $0 > 0 ? $0 : nil }
            self.maxRetries = maxRetries
        }

        /// Where to resume: the last delivered `seq`, or the start while a rebuilt history has not
        /// delivered anything yet (the old resume point means nothing to it).
        var resumePoint: Int? { self.rebuilding ? nil : self.lastSeq }

        /// A connection is about to be made: returns its number (to pass with its events) and the
        /// resume point to ask for.
        mutating func connecting() -> (connection: Int, after: Int?) {
            self.connection += 1
            self.delivered = false
            self.verdict = nil
            return (self.connection, self.resumePoint)
        }

        /// An event arrived on connection `connection`.
        mutating func received(_ event: Event, on connection: Int) -> EventAction {
            guard connection == self.connection, self.verdict == nil else { return .skip }
            guard let seq = event.seq else {
                guard case .error(let notice) = event.payload else {
                    self.delivered = true  // a heartbeat or a gap: the connection works
                    return .deliver
                }
                if notice.code == "resume_unavailable" {
                    self.rebuilding = true
                    return .deliver
                }
                self.verdict = notice.retryable ? .resume(notice) : .stop(notice)
                return .deliverAndClose
            }
            if let last = self.lastSeq, seq <= last, !self.rebuilding { return .skip }
            self.rebuilding = false
            self.lastSeq = seq
            self.delivered = true
            if event.payload.isTerminal {
                self.verdict = .topicEnded
                return .deliverAndClose
            }
            return .deliver
        }

        /// The current connection is over, as its transport saw it.
        mutating func connectionEnded(_ outcome: ConnectionOutcome) -> ConnectionAction {
            let cause: any Error
            switch (self.verdict, outcome) {
            case (.topicEnded?, _), (nil, .ended):
                return .finish
            case (.stop(let notice)?, _):
                return .fail(SubscriptionError(notice: notice))
            case (.resume(let notice)?, _):
                cause = SubscriptionError(notice: notice)
            case (nil, .refused(let error)):
                return .fail(error)
            case (nil, .dropped(let error)):
                cause = error
            case (nil, .closed):
                cause = SubscriptionError(status: nil, message: "the connection was closed")
            }
            self.failures = self.delivered ? 1 : self.failures + 1
            if let maxRetries = self.maxRetries, self.failures > maxRetries {
                return .giveUp(cause: cause, attempts: self.failures)
            }
            return .reconnect(attempt: self.failures, cause: cause)
        }
    }
}
