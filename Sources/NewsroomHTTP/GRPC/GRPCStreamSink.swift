import NIOCore
import NIOHTTP2
import NewsroomCore

/// The ``SubscriberSink`` of a `Subscribe` call on an HTTP/2 stream: each frame (the event's
/// length-prefixed message, shared by every gRPC subscriber) is written as the payload of a DATA frame of
/// the stream; HTTP/2 frames it, and its flow-control window is what ``isWritable`` reports (kept in
/// ``writable`` by the call's handler from the stream's writability events).
final class GRPCStreamSink: SubscriberSink {
    private let context: ChannelHandlerContext
    private let onClose: (Subscriber, DisconnectReason) -> Void
    /// Writes the call's response headers before the first message.
    var writeHeadersIfNeeded: () -> Void = {}
    var writable = true

    init(context: ChannelHandlerContext, onClose: @escaping (Subscriber, DisconnectReason) -> Void) {
        self.context = context
        self.onClose = onClose
    }

    var eventLoop: any EventLoop { self.context.eventLoop }
    var isWritable: Bool { self.writable }

    func write(_ frame: ByteBuffer) {
        self.writeHeadersIfNeeded()
        self.context.write(NIOAny(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(frame)))), promise: nil)
    }

    func flush() {
        self.context.flush()
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.onClose(subscriber, reason)
    }
}
