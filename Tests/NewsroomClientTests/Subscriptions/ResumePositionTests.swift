import NewsroomProto
@testable import NewsroomClient
import NewsroomCore
import Testing

@Suite("Resume position and backoff")
struct ResumePositionTests {
    private func event(_ seq: Int?, _ payload: EventPayload = .textDelta(TextDelta(text: "x"))) -> Event {
        Event(seq: seq, topic: "t", timestamp: .now(), payload: payload)
    }

    @Test("events at or below the last seq are dropped; notices never move the point")
    func dedupe() {
        let position = ResumePosition(after: 2)
        #expect(position.accept(self.event(2)) == false)
        #expect(position.accept(self.event(3)))
        #expect(position.accept(self.event(3)) == false)
        #expect(position.accept(self.event(nil, .heartbeat(Heartbeat(lastSeq: 9, state: .streaming)))))
        #expect(position.resumePoint == 3)
    }

    @Test("after resume_unavailable the history starts over")
    func rebuild() {
        let position = ResumePosition(after: 50)
        let notice = EventPayload.error(StreamError(code: "resume_unavailable", message: "gone", retryable: true))
        #expect(position.accept(self.event(nil, notice)))
        #expect(position.accept(self.event(1)))
        #expect(position.accept(self.event(2)))
        #expect(position.accept(self.event(2)) == false)
        #expect(position.resumePoint == 2)
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
