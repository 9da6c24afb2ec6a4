import NewsroomCore
import Synchronization
import Testing

@testable import NewsroomClient

/// `Subscription`'s reconnect loop over a scripted connector: the same loop runs every transport.
@Suite("Reconnect loop", .timeLimit(.minutes(1)))
struct ReconnectLoopTests {
    @Test("each reconnection resumes after the last delivered seq; an overlapping replay is delivered once")
    func resumesAndDedupes() async {
        let connector = ScriptedConnector([
            .init(events: [event(1), event(2), event(3)], outcome: dropped),
            // The hub replays from an older point than asked (a proxy's retry, a merged replay): 2 and 3 again.
            .init(events: [event(2), event(3), event(4), heartbeat, event(5)], outcome: dropped),
            .init(events: [endEvent(6)], outcome: .ended),
        ])
        let (events, error) = await runLoop(connector)
        #expect(error == nil)
        #expect(connector.afters == [nil, 3, 5])
        #expect(events.compactMap(\.seq) == [1, 2, 3, 4, 5, 6])
    }

    @Test("starts after options.after")
    func startsAfter() async {
        let connector = ScriptedConnector([.init(events: [event(8), endEvent(9)], outcome: .ended)])
        var options = SubscriptionOptions.fast
        options.after = 7
        _ = await runLoop(connector, options: options)
        #expect(connector.afters == [7])
    }

    @Test("the topic's end closes the connection and ends the sequence, whatever the transport says next")
    func stopsOnTerminal() async {
        let terminalError = Event(
            seq: 2, topic: "t", timestamp: .now(),
            payload: .error(StreamError(code: "upstream_failed", message: "gone", retryable: false, terminal: true)))
        for terminal in [endEvent(2), terminalError] {
            let connector = ScriptedConnector([.init(events: [event(1), terminal, event(3)], outcome: dropped)])
            let (events, error) = await runLoop(connector)
            #expect(error == nil)
            #expect(events.compactMap(\.seq) == [1, 2])
            #expect(connector.closedAfter == [2])
            #expect(connector.afters.count == 1)
        }
    }

    @Test("a retryable notice without a seq closes the connection; the subscription resumes from the last seq")
    func resumesOnRetryableNotice() async {
        let connector = ScriptedConnector([
            // The transport would even call it a clean end: the notice decides.
            .init(events: [event(1), notice("server_shutdown", retryable: true), event(2)], outcome: .ended),
            .init(events: [event(2), endEvent(3)], outcome: .ended),
        ])
        let reconnections = Mutex<[Reconnection]>([])
        var options = SubscriptionOptions.fast
        options.onReconnect = { reconnection in reconnections.withLock { $0.append(reconnection) } }
        let (events, error) = await runLoop(connector, options: options)
        #expect(error == nil)
        #expect(connector.afters == [nil, 1])
        #expect(connector.closedAfter == [2, 2])  // the notice, then the end
        #expect(events.map { $0.seq ?? 0 } == [1, 0, 2, 3])  // the notice is delivered too
        let reported = reconnections.withLock { $0 }
        #expect(reported.count == 1)
        #expect(reported.first?.attempt == 1 && reported.first?.resumeAfter == 1)
        #expect((reported.first?.cause as? SubscriptionError)?.code == "server_shutdown")
        #expect(reported.first?.description.contains("server_shutdown") == true)
        #expect(reported.first?.description.contains(connector.url) == true)
    }

    @Test("a notice without a seq that is not retryable stops the subscription")
    func stopsOnFinalNotice() async {
        let connector = ScriptedConnector([
            .init(events: [event(1), notice("topic_removed", retryable: false), event(2)], outcome: dropped),
            .init(events: [endEvent(3)], outcome: .ended),
        ])
        let (events, error) = await runLoop(connector)
        #expect(events.map { $0.seq ?? 0 } == [1, 0])
        #expect((error as? SubscriptionError)?.code == "topic_removed")
        #expect(connector.afters.count == 1)
    }

    @Test("resume_unavailable is delivered, and the replay after it is the new history")
    func rebuildsAfterResumeUnavailable() async {
        let connector = ScriptedConnector([
            .init(events: [event(1, "Hello, "), event(2, "wor")], outcome: dropped),
            // The hub restarted: seq 2 means nothing to it.
            .init(events: [notice("resume_unavailable", retryable: false), event(1, "Hello, ")], outcome: dropped),
            // Dropped again before the new history passed the old point: resume from it, not from 2.
            .init(events: [event(1, "Hello, "), event(2, "world."), endEvent(3)], outcome: .ended),
        ])
        let (events, error) = await runLoop(connector)
        #expect(error == nil)
        #expect(connector.afters == [nil, 2, 1])
        #expect(text(of: events) == "Hello, worHello, world.")
        #expect(
            events.contains { if case .error(let e) = $0.payload { e.code == "resume_unavailable" } else { false } })
    }

    @Test("gives up after maxRetries failed reconnections in a row, reporting each")
    func givesUp() async {
        let connector = ScriptedConnector(Array(repeating: .init(events: [], outcome: dropped), count: 10))
        let reconnections = Mutex<[Int]>([])
        var options = SubscriptionOptions.fast
        options.maxRetries = 2
        options.onReconnect = { reconnection in reconnections.withLock { $0.append(reconnection.attempt) } }
        let (_, error) = await runLoop(connector, options: options)
        let failure = error as? HubConnectionError
        #expect(failure?.attempts == 3)
        #expect(failure?.url == connector.url)
        #expect(connector.afters.count == 3)
        #expect(reconnections.withLock { $0 } == [1, 2])
    }

    @Test("without reconnect, the first drop ends the sequence")
    func noReconnect() async {
        let connector = ScriptedConnector([
            .init(events: [event(1)], outcome: dropped), .init(events: [], outcome: .ended),
        ])
        var options = SubscriptionOptions.fast
        options.reconnect = false
        let (events, error) = await runLoop(connector, options: options)
        #expect(events.count == 1)
        #expect(error is HubConnectionError)
    }

    @Test("a refusal ends the sequence at once with it")
    func refusal() async {
        let connector = ScriptedConnector([
            .init(events: [], outcome: .refused(SubscriptionError(status: 403, code: "forbidden", message: "no"))),
            .init(events: [], outcome: .ended),
        ])
        let (_, error) = await runLoop(connector)
        #expect((error as? SubscriptionError)?.status == 403)
        #expect(connector.afters.count == 1)
    }
}
