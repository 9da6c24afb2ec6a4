import DequeModule
import NIOCore
import NewsroomControl
import Testing

@testable import NewsroomHTTP

/// Where a recovered Socket.IO session's subscriptions resume, from the client's last offset and the
/// session's log of written events.
@Suite struct SocketIORecoveryTests {
    func state(log: [(String, Int)], floor: [String: Int] = [:], initial: [String: Int?] = ["a": nil, "b": 4]) -> SocketIORecoveryState {
        SocketIORecoveryState(
            pid: "p", sid: "s",
            subscriptions: initial.reduce(into: [:]) { $0[$1.key] = SubscriptionRequest(topic: $1.key, after: $1.value) },
            log: Deque(log.map { (topic: $0.0, seq: $0.1) }), floor: floor)
    }

    func points(_ requests: [SubscriptionRequest]?) -> [String: Int?]? {
        requests?.reduce(into: [:]) { $0[$1.topic] = $1.after }
    }

    @Test func eachTopicResumesAfterWhatWasWrittenBeforeTheOffset() {
        let state = self.state(log: [("a", 1), ("b", 5), ("a", 2), ("b", 6), ("a", 3)])
        // The client got everything up to b#5: a resumes after 1, b after 5.
        #expect(self.points(state.resumePoints(offset: "b#5")) == ["a": 1, "b": 5])
        #expect(self.points(state.resumePoints(offset: "a#3")) == ["a": 3, "b": 6])
    }

    @Test func noOffsetMeansNothingArrived() {
        let state = self.state(log: [("a", 1), ("b", 5)])
        #expect(self.points(state.resumePoints(offset: nil)) == ["a": nil, "b": 4])
    }

    @Test func aTopicWhoseEntriesFellOffTheLogResumesAfterTheFloor() {
        let state = self.state(log: [("a", 9)], floor: ["b": 7])
        #expect(self.points(state.resumePoints(offset: "a#9")) == ["a": 9, "b": 7])
    }

    @Test func anOffsetNotInTheLogFailsTheRecovery() {
        let state = self.state(log: [("a", 9)])
        #expect(state.resumePoints(offset: "a#8") == nil)
        #expect(state.resumePoints(offset: "garbage") == nil)
    }

    @Test func recoverableSessionsAreBoundedInNumberAndTime() {
        var sessions = RecoverableSessions()
        let now = NIODeadline.now()
        for index in 0..<3 {
            var state = self.state(log: [])
            state.pid = "p\(index)"
            sessions.insert(state, until: now + .seconds(60), limit: 2)
        }
        #expect(sessions.take("p0", now: now) == nil)  // evicted: over the limit
        #expect(sessions.take("p1", now: now)?.pid == "p1")
        #expect(sessions.take("p1", now: now) == nil)  // taken once
        #expect(sessions.take("p2", now: now + .seconds(61)) == nil)  // expired
    }
}
