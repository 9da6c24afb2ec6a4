import NIOCore
import NIOHTTP1
import NewsroomCore

/// The ``SubscriberSink`` of one Server-Sent Events response.
///
/// On HTTP/1.1 the shared frames are complete chunks (`sse-http1` format) and are written through the
/// ``ConnectionIOHandler`` context, below the HTTP encoder. On HTTP/2 the frames are bare SSE blocks
/// (`sse` format) written as body parts; HTTP/2 puts them in DATA frames of the stream, and the stream's
/// flow-control window is what ``isWritable`` reports.
///
/// The response head is written lazily, with the first frame or flush, so that a subscription the hub
/// refuses can still be answered with an error status.
final class SSESink: SubscriberSink {
    enum Framing {
        case chunkedBelowEncoder(ChannelHandlerContext)
        case bodyParts
    }

    let context: ChannelHandlerContext
    /// The context flushes go through: the raw one on HTTP/1.1 (below the encoders, so a flush does not
    /// walk the HTTP handlers), the handler's own on HTTP/2.
    private let flushContext: ChannelHandlerContext
    private let channel: any Channel
    let framing: Framing
    let retryMilliseconds: Int
    let extraHeaders: [(String, String)]
    private let onClose: (Subscriber, DisconnectReason) -> Void
    private(set) var headWritten = false

    init(
        context: ChannelHandlerContext, framing: Framing, retryMilliseconds: Int, extraHeaders: [(String, String)] = [],
        onClose: @escaping (Subscriber, DisconnectReason) -> Void
    ) {
        self.context = context
        self.channel = context.channel
        switch framing {
        case .chunkedBelowEncoder(let raw): self.flushContext = raw
        case .bodyParts: self.flushContext = context
        }
        self.framing = framing
        self.retryMilliseconds = retryMilliseconds
        self.extraHeaders = extraHeaders
        self.onClose = onClose
    }

    var eventLoop: any EventLoop { self.context.eventLoop }

    var isWritable: Bool { self.channel.isWritable }

    func write(_ frame: ByteBuffer) {
        self.writeHeadIfNeeded()
        switch self.framing {
        case .chunkedBelowEncoder(let raw):
            raw.write(NIOAny(IOData.byteBuffer(frame)), promise: nil)
        case .bodyParts:
            self.context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(frame))), promise: nil)
        }
    }

    func flush() {
        self.writeHeadIfNeeded()
        self.flushContext.flush()
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.onClose(subscriber, reason)
    }

    /// Writes the response head and the `retry:` field, once.
    func writeHeadIfNeeded() {
        guard !self.headWritten else { return }
        self.headWritten = true
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream; charset=utf-8")
        headers.add(name: "cache-control", value: "no-cache")
        headers.add(name: "x-accel-buffering", value: "no")
        headers.add(contentsOf: self.extraHeaders)
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
        self.context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        var retry = self.context.channel.allocator.buffer(capacity: 16)
        retry.writeString("retry: \(self.retryMilliseconds)\n\n")
        self.context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(retry))), promise: nil)
    }
}
