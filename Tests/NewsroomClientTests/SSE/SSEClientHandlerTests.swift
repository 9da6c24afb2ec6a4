import NIOCore
import NIOEmbedded
import NIOHTTP1
import NewsroomClient
import NewsroomWire
import Synchronization
import Testing

/// The SSE handler on an `EmbeddedChannel`: what it reports for a response, including one whose status
/// is an error, and a callback that closes the channel in the middle of a read.
@Suite("SSE client handler")
struct SSEClientHandlerTests {
    /// What the handler reported, in order.
    final class Updates: Sendable {
        private let list = Mutex<[String]>([])
        func append(_ update: String) { self.list.withLock { $0.append(update) } }
        var all: [String] { self.list.withLock { $0 } }
    }

    private func channel(recording updates: Updates, closeOnFirstEvent: Bool = false) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let handler = SSEClientHandler(path: "/v1/topics/t/events", host: "hub:80") { update in
            switch update {
            case .head(let head): updates.append("head \(head.status.code)")
            case .event(let event):
                updates.append("event \(event.data)")
                if closeOnFirstEvent { channel.close(promise: nil) }
            case .end(let error): updates.append("end \(error.map { "\($0)" } ?? "nil")")
            }
        }
        try channel.pipeline.syncOperations.addHandler(handler)
        return channel
    }

    private func head(_ status: HTTPResponseStatus) -> HTTPClientResponsePart {
        .head(HTTPResponseHead(version: .http1_1, status: status))
    }

    private func body(_ text: String) -> HTTPClientResponsePart {
        .body(ByteBuffer(string: text))
    }

    @Test("an error status is not parsed as events: its body ends the response")
    func errorResponse() throws {
        let updates = Updates()
        let channel = try self.channel(recording: updates)
        try channel.writeInbound(self.head(.forbidden))
        try channel.writeInbound(self.body(#"{"error":{"code":"forbidden","#))
        try channel.writeInbound(self.body(#""message":"no"}}"#))
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        let expected = SSEClientError.errorResponse(
            status: 403, body: #"{"error":{"code":"forbidden","message":"no"}}"#)
        #expect(updates.all == ["head 403", "end \(expected)"])
    }

    @Test("closing the channel from an event callback, mid-read, ends the response with nothing after it")
    func closeFromACallback() throws {
        let updates = Updates()
        let channel = try self.channel(recording: updates, closeOnFirstEvent: true)
        try channel.writeInbound(self.head(.ok))
        // Three events in one read: the first callback closes the channel while the parser is running.
        try channel.writeInbound(self.body("id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n"))
        #expect(updates.all == ["head 200", "event a", "end \(SSEClientError.connectionClosed)"])
    }
}
