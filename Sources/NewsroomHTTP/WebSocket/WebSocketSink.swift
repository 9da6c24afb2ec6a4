import NIOCore
import NewsroomCore

/// The ``SubscriberSink`` of one topic subscription on a WebSocket.
///
/// The shared frames are complete, unmasked server text frames (`websocket` format), written through
/// the ``ConnectionIOHandler`` context below NIO's `WebSocketFrameEncoder`, so no subscriber frames an
/// event again. A multiplexed socket has one sink per subscribed topic, all on the same connection.
final class WebSocketSink: SubscriberSink {
    let raw: ChannelHandlerContext
    private let channel: any Channel
    private let statistics: ConnectionStatistics?
    private let onClose: (Subscriber, DisconnectReason) -> Void

    init(
        raw: ChannelHandlerContext, statistics: ConnectionStatistics?,
        onClose: @escaping (Subscriber, DisconnectReason) -> Void
    ) {
        self.raw = raw
        self.channel = raw.channel
        self.statistics = statistics
        self.onClose = onClose
    }

    var eventLoop: any EventLoop { self.raw.eventLoop }
    var isWritable: Bool { self.channel.isWritable }

    func write(_ frame: ByteBuffer) {
        self.statistics?.bytesWritten += frame.readableBytes
        self.raw.write(NIOAny(IOData.byteBuffer(frame)), promise: nil)
    }

    func flush() {
        self.raw.flush()
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.onClose(subscriber, reason)
    }
}
