import NIOCore
import NIOHTTP1
import Testing

@testable import NewsroomHTTP

/// The request-reading state machine, event by event, with no channel.
@Suite struct RequestStateMachineTests {
    typealias Machine = HTTPRequestHandler.StateMachine

    func machine(maxBody: Int = 10, maxDiscarded: Int = 100) -> Machine {
        Machine(maxBodyBytes: maxBody, maxDiscardedBytes: maxDiscarded) { route, method in
            if case .topicEvents = route { return method == .POST }
            return false
        }
    }

    func head(_ method: HTTPMethod = .POST, _ uri: String = "/v1/topics/t/events", headers: HTTPHeaders = [:]) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
    }

    @Test func aRequestWithABodyIsDispatchedWithItsBody() {
        var machine = self.machine()
        guard case .none = machine.receivedHead(self.head(), route: .success(.topicEvents("t"))) else {
            Issue.record("head")
            return
        }
        _ = machine.receivedBody(ByteBuffer(string: "abc"))
        _ = machine.receivedBody(ByteBuffer(string: "de"))
        guard case .dispatch(_, .topicEvents("t"), let body) = machine.receivedEnd() else {
            Issue.record("not dispatched")
            return
        }
        #expect(String(buffer: body) == "abcde")
        #expect(machine.isAnswering)
        guard case .none = machine.answered(keepAlive: true) else {
            Issue.record("keep-alive closed")
            return
        }
        guard case .idle = machine.state else {
            Issue.record("not idle after a keep-alive answer")
            return
        }
    }

    @Test func routesThatTakeNoBodyKeepNone() {
        var machine = self.machine()
        _ = machine.receivedHead(self.head(.GET, "/v1/topics/t"), route: .success(.topic("t")))
        _ = machine.receivedBody(ByteBuffer(string: "ignored"))
        guard case .dispatch(_, _, let body) = machine.receivedEnd() else {
            Issue.record("not dispatched")
            return
        }
        #expect(body.readableBytes == 0)
    }

    @Test func anUnroutableRequestIsAnsweredWithItsErrorAfterItsBody() {
        var machine = self.machine()
        let error = Machine.HTTPError(response: .notFound())
        _ = machine.receivedHead(self.head(.GET, "/nope"), route: .failure(error))
        guard case .respond(_, let response, close: false) = machine.receivedEnd() else {
            Issue.record("not answered")
            return
        }
        #expect(response.status == .notFound)
    }

    @Test func aDeclaredBodyOverTheLimitIs413AndTheRestIsDiscardedUpToTheBound() {
        var machine = self.machine(maxBody: 10, maxDiscarded: 8)
        let action = machine.receivedHead(
            self.head(headers: ["content-length": "20"]), route: .success(.topicEvents("t")))
        guard case .respondAndDiscard(_, let response) = action else {
            Issue.record("not answered 413 at once")
            return
        }
        #expect(response.status == .payloadTooLarge)
        guard case .none = machine.receivedBody(ByteBuffer(repeating: 0, count: 5)) else {
            Issue.record("stopped discarding within the bound")
            return
        }
        guard case .close = machine.receivedBody(ByteBuffer(repeating: 0, count: 5)) else {
            Issue.record("kept reading past the bound")
            return
        }
    }

    @Test func aChunkedBodyOverTheLimitIs413ThenClosesAtItsEnd() {
        var machine = self.machine(maxBody: 4)
        _ = machine.receivedHead(self.head(), route: .success(.topicEvents("t")))
        guard case .respondAndDiscard = machine.receivedBody(ByteBuffer(string: "12345")) else {
            Issue.record("no 413")
            return
        }
        guard case .close = machine.receivedEnd() else {
            Issue.record("not closed at the end of the discarded body")
            return
        }
    }

    @Test func timeoutsCloseIdleConnectionsAndAnswerSlowRequests() {
        var idle = self.machine()
        guard case .close = idle.timedOut(partialHeadArrived: false) else {
            Issue.record("an idle keep-alive connection was not closed")
            return
        }
        var slowloris = self.machine()
        guard case .respondRaw(let response) = slowloris.timedOut(partialHeadArrived: true) else {
            Issue.record("a partial head was not answered")
            return
        }
        #expect(response.status == .requestTimeout)
        var slowBody = self.machine()
        _ = slowBody.receivedHead(self.head(), route: .success(.topicEvents("t")))
        guard case .respond(_, let answer, close: true) = slowBody.timedOut(partialHeadArrived: false) else {
            Issue.record("a slow body was not answered")
            return
        }
        #expect(answer.status == .requestTimeout)
    }

    @Test func parseErrorsAre400Or431() {
        var machine = self.machine()
        guard case .respondRaw(let response) = machine.parseFailed(.headerOverflow) else {
            Issue.record("no answer")
            return
        }
        #expect(response.status == .requestHeaderFieldsTooLarge)
        var other = self.machine()
        guard case .respondRaw(let bad) = other.parseFailed(.invalidHeaderToken) else {
            Issue.record("no answer")
            return
        }
        #expect(bad.status == .badRequest)
    }

    @Test func aSecondHeadWhileAnsweringCloses() {
        var machine = self.machine()
        _ = machine.receivedHead(self.head(.GET, "/healthz"), route: .success(.healthz))
        _ = machine.receivedEnd()
        guard case .close = machine.receivedHead(self.head(.GET, "/healthz"), route: .success(.healthz)) else {
            Issue.record("a pipelined head while answering was accepted")
            return
        }
    }
}
