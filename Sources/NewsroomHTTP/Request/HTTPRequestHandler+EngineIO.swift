import NIOCore
import NIOHTTP1

extension HTTPRequestHandler {
    /// An Engine.IO long-polling request (`/socket.io/?EIO=4&transport=polling…`): the endpoint answers,
    /// at once or (a poll) when the session has packets; the answer is written on this connection.
    func engineIO(_ request: APIRequest, context: ChannelHandlerContext) {
        let server = self.dependencies.socketIO
        let answer = server.answer(
            head: request.head, query: request.target.query, body: request.body, loop: context.eventLoop,
            client: request.client)
        if request.head.method == .GET, let sid = request.target.query["sid"], let session = server.session(sid) {
            self.pendingPoll = (session, answer)
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        answer.hop(to: context.eventLoop).whenSuccess { response in
            let (handler, context) = loopBound.value
            handler.pendingPoll = nil
            guard handler.machine.isAnswering else { return }
            handler.respond(context: context, head: request.head, response: response)
        }
    }

    /// The connection closed while a poll was held: the session keeps its packets for the next poll.
    func pollAbandoned() {
        guard let (session, answer) = self.pendingPoll else { return }
        self.pendingPoll = nil
        session.onLoop { $0.pollAbandoned(answer) }
    }
}
