import NIOCore
import NIOHTTP1
import NewsroomCore
import NewsroomWire

/// The ``SubscriberSink`` of one streaming response — Server-Sent Events, or a gRPC-Web `Subscribe` call
/// on HTTP/1.1 — and the owner of that response's bytes.
///
/// - HTTP/1.1: everything — the response head, the `retry:` field, the shared event chunks (`sse-chunked`
///   format) and the final chunk — is written as pre-framed bytes through the ``ConnectionIOHandler``
///   context, below NIO's HTTP encoder (which is removed once the stream starts: an idle subscriber then
///   costs only the socket, that handler and an ``StreamingResponseHandler``). The connection is closed after
///   the stream (`connection: close`).
/// - HTTP/2 (SSE only; gRPC-Web on HTTP/2 is a ``GRPCStreamHandler`` call): the bare SSE blocks (`sse`
///   format) are written as body parts of the stream; HTTP/2 puts them in DATA frames, and the stream's
///   flow-control window is what ``isWritable`` reports.
///
/// The flavor decides the headers and how the stream ends: SSE ends with an `error` notice when the hub
/// closed it for a reason (and nothing for the topic's end); gRPC-Web always ends with its trailers frame
/// holding the call's status.
///
/// The response head is written lazily, with the first frame or flush, so that a subscription the hub
/// refuses can still be answered with an error status by the request handler.
final class StreamingResponseSink: SubscriberSink {
    enum Output {
        case chunked(belowEncoders: ChannelHandlerContext)
        case stream(any Channel)
    }

    enum Flavor {
        /// Server-Sent Events, opening with the `retry:` field.
        case sse(retryMilliseconds: Int)
        /// gRPC-Web (`application/grpc-web+proto`, or base64 `application/grpc-web-text+proto`).
        case grpcWeb(text: Bool)
    }

    let eventLoop: any EventLoop
    private let channel: any Channel
    private let output: Output
    private let headers: [(String, String)]
    private let flavor: Flavor
    private let statistics: ConnectionStatistics?
    private let hub: Hub
    private let topic: String
    private(set) var headWritten = false
    private(set) var finished = false
    /// The connection's writability, kept here by ``StreamingResponseHandler`` from the channel's writability
    /// events: the fan-out asks it for every subscriber, and this object is already in cache then, while
    /// the channel's own flag sits two objects away.
    var writable = true
    /// Bytes written below the encoders, added to the connection's statistics when the stream ends (not
    /// per write: one object fewer to touch per delivery).
    private var bytesWritten = 0

    /// How long a slow consumer's connection stays open after its notice, for it to read what was queued.
    static let slowConsumerGrace = TimeAmount.seconds(2)

    /// The headers of every SSE response.
    static let streamHeaders = [
        ("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"), ("x-accel-buffering", "no"),
    ]

    init(
        output: Output, channel: any Channel, topic: String, hub: Hub, flavor: Flavor,
        extraHeaders: [(String, String)], statistics: ConnectionStatistics?
    ) {
        self.output = output
        self.channel = channel
        self.eventLoop = channel.eventLoop
        self.topic = topic
        self.hub = hub
        self.flavor = flavor
        switch flavor {
        case .sse: self.headers = Self.streamHeaders + extraHeaders
        case .grpcWeb(let text):
            self.headers =
                [("content-type", text ? "application/grpc-web-text+proto" : "application/grpc-web+proto")] + extraHeaders
        }
        self.statistics = statistics
    }

    var isWritable: Bool { self.writable }

    func write(_ frame: ByteBuffer) {
        self.writeHeadIfNeeded()
        self.writeBody(frame)
    }

    func flush() {
        self.writeHeadIfNeeded()
        switch self.output {
        case .chunked(let belowEncoders): belowEncoders.flush()
        case .stream(let channel): channel.flush()
        }
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.finish(subscriber: subscriber, reason: reason)
    }

    /// Ends the response: normally with the end of the body; otherwise after an `error` notice naming
    /// the reason (slow consumer, shutdown, expired token). A notice has no `seq` and is never
    /// `terminal` — the topic did not end, this connection did — so a client that sees a `retryable`
    /// one reconnects and resumes. Then the connection (HTTP/1.1) or the stream (HTTP/2) closes.
    func finish(subscriber: Subscriber, reason: DisconnectReason) {
        guard !self.finished else { return }
        self.finished = true
        self.statistics?.subscriptionEnded(delivered: subscriber.delivered)
        defer {
            self.statistics?.bytesWritten += self.bytesWritten
            self.bytesWritten = 0
        }
        if !reason.isNormal { self.statistics?.closeReason = reason.code }
        switch self.flavor {
        case .sse where !reason.isNormal:
            let notice = Event(
                seq: nil, topic: self.topic, timestamp: .now(),
                payload: .error(
                    StreamError(code: reason.code, message: reason.message, retryable: reason.retryable)))
            self.write(self.hub.encode(notice, format: subscriber.format))
        case .sse:
            break
        case .grpcWeb(let text):
            self.writeHeadIfNeeded()
            self.writeBody(Self.grpcWebTrailers(GRPCStatus(reason), text: text, allocator: self.channel.allocator), ownBytes: true)
        }
        self.writeHeadIfNeeded()
        let channel = self.channel
        let written: EventLoopFuture<Void>
        switch self.output {
        case .chunked(let belowEncoders):
            var last = channel.allocator.buffer(capacity: 5)
            last.writeStaticString("0\r\n\r\n")
            self.bytesWritten += last.readableBytes
            written = belowEncoders.writeAndFlush(NIOAny(IOData.byteBuffer(last)))
        case .stream(let stream):
            written = stream.writeAndFlush(HTTPServerResponsePart.end(nil))
        }
        written.whenComplete { _ in channel.close(promise: nil) }
        if reason == .slowConsumer {
            // A slow reader gets the notice once it has read what was queued before it; a stalled one
            // never reads it, so the connection is closed after a short grace either way.
            channel.eventLoop.scheduleTask(in: Self.slowConsumerGrace) { channel.close(promise: nil) }
        }
    }

    /// Writes bytes of the body: a shared frame (already a chunk on HTTP/1.1), or the sink's own bytes.
    private func writeBody(_ bytes: ByteBuffer, ownBytes: Bool = false) {
        switch self.output {
        case .chunked(let belowEncoders):
            let bytes = ownBytes ? SSEChunkedEncoder.chunk(bytes, allocator: self.channel.allocator) : bytes
            self.bytesWritten += bytes.readableBytes
            belowEncoders.write(NIOAny(IOData.byteBuffer(bytes)), promise: nil)
        case .stream(let channel):
            channel.write(HTTPServerResponsePart.body(.byteBuffer(bytes)), promise: nil)
        }
    }

    /// Writes the response head (and, for SSE, the `retry:` field), once.
    private func writeHeadIfNeeded() {
        guard !self.headWritten else { return }
        self.headWritten = true
        var preamble: ByteBuffer?
        if case .sse(let retryMilliseconds) = self.flavor {
            preamble = SSEEncoder.retry(milliseconds: retryMilliseconds, allocator: self.channel.allocator)
        }
        switch self.output {
        case .chunked(let belowEncoders):
            var head = self.channel.allocator.buffer(capacity: 256)
            head.writeStaticString("HTTP/1.1 200 OK\r\n")
            for (name, value) in self.headers { head.writeString("\(name): \(value)\r\n") }
            head.writeStaticString("transfer-encoding: chunked\r\nconnection: close\r\n\r\n")
            if let preamble { head.writeImmutableBuffer(SSEChunkedEncoder.chunk(preamble, allocator: self.channel.allocator)) }
            self.bytesWritten += head.readableBytes
            belowEncoders.write(NIOAny(IOData.byteBuffer(head)), promise: nil)
        case .stream(let channel):
            var headers = HTTPHeaders()
            headers.add(contentsOf: self.headers)
            channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)), promise: nil)
            if let preamble { channel.write(HTTPServerResponsePart.body(.byteBuffer(preamble)), promise: nil) }
        }
    }

    /// A gRPC-Web trailers frame holding `status`, framed for this response's output.
    static func grpcWebTrailers(_ status: GRPCStatus, text: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = GRPCFraming.trailers(status.trailers, allocator: allocator)
        if text { frame = GRPCFraming.base64(frame, allocator: allocator) }
        return frame
    }
}
