import NIOCore
import NIOHTTP1
import NewsroomWire

/// A channel handler that makes one SSE request and parses the response as it arrives.
///
/// Callbacks run on the channel's event loop, inline with the read that completed the event, so many
/// thousands of these can run without a task per connection (the load tester's receive path).
public final class SSEClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPClientResponsePart
    public typealias OutboundOut = HTTPClientRequestPart

    /// What the handler reports.
    public enum Update {
        /// The response head arrived.
        case head(HTTPResponseHead)
        /// A complete event arrived (comments are not reported).
        case event(ServerSentEvent)
        /// The response ended (`nil`) or the connection failed. A response whose status is not 2xx is
        /// not parsed as events: it ends with ``SSEClientError/errorResponse(status:body:)``.
        case end((any Error)?)
    }

    private let head: HTTPRequestHead
    private let onUpdate: (Update) -> Void
    private var parser = SSEParser()
    /// Inside `parser.parse`: a callback that closes the channel ends the response, but the parser is
    /// left alone until the read is done (and reports nothing more).
    private var parsing = false
    private var ended = false
    private var status: HTTPResponseStatus?
    /// The body of a response that is not 2xx (the hub's `{"error":{"code","message"}}`), up to 64 KiB.
    private var errorBody: ByteBuffer?

    /// - Parameters:
    ///   - path: The request target, e.g. `/v1/topics/demo/events?policy=coalesce`.
    ///   - host: The `Host` header.
    ///   - lastEventID: Sent as `Last-Event-ID` to resume.
    ///   - headers: Extra request headers.
    ///   - onUpdate: Called on the event loop for the head, each event, and the end.
    public init(
        path: String, host: String, lastEventID: String? = nil, headers: [(String, String)] = [],
        onUpdate: @escaping (Update) -> Void
    ) {
        var requestHeaders = HTTPHeaders()
        requestHeaders.add(name: "host", value: host)
        requestHeaders.add(name: "accept", value: "text/event-stream")
        if let lastEventID { requestHeaders.add(name: "last-event-id", value: lastEventID) }
        requestHeaders.add(contentsOf: headers)
        self.head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: requestHeaders)
        self.onUpdate = onUpdate
    }

    public func channelActive(context: ChannelHandlerContext) {
        context.write(self.wrapOutboundOut(.head(self.head)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = head.status
            if !(200..<300).contains(head.status.code) {
                self.errorBody = context.channel.allocator.buffer(capacity: 0)
            }
            self.onUpdate(.head(head))
        case .body(var buffer):
            if var errorBody = self.errorBody {
                self.errorBody = nil  // no copy on write
                if errorBody.readableBytes < 64 << 10 { errorBody.writeBuffer(&buffer) }
                self.errorBody = errorBody
            } else {
                self.parsing = true
                self.parser.parse(buffer) { event in
                    if !self.ended { self.onUpdate(.event(event)) }
                }
                self.parsing = false
            }
        case .end:
            if let status = self.status, let body = self.errorBody {
                self.finish(SSEClientError.errorResponse(status: Int(status.code), body: String(buffer: body)))
            } else {
                self.finish(nil)
            }
            context.close(promise: nil)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if let status = self.status, let body = self.errorBody {
            self.finish(SSEClientError.errorResponse(status: Int(status.code), body: String(buffer: body)))
        }
        self.finish(SSEClientError.connectionClosed)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.finish(error)
        context.close(promise: nil)
    }

    private func finish(_ error: (any Error)?) {
        guard !self.ended else { return }
        self.ended = true
        if !self.parsing { self.parser.finish() }
        self.onUpdate(.end(error))
    }
}

/// Errors of the SSE client.
public enum SSEClientError: Error, Hashable, Sendable {
    /// The connection closed before the response ended.
    case connectionClosed
    /// The server answered with a status other than 200.
    case unexpectedStatus(Int)
    /// The server answered with a status that is not 2xx, and this body (for the hub, its
    /// `{"error":{"code","message"}}`).
    case errorResponse(status: Int, body: String)
}
