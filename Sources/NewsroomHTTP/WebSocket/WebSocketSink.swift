import NIOCore
import NewsroomCore

/// The ``SubscriberSink`` of one topic subscription on a WebSocket.
///
/// The shared frames are complete, unmasked server text frames (`websocket` format), written through
/// the ``ConnectionIOHandler`` context below NIO's `WebSocketFrameEncoder`, so no subscriber frames an
/// event again. A multiplexed socket has one sink per subscribed topic, all on the same connection.
final class WebSocketSink: SubscriberSink {
    let belowEncoders: ChannelHandlerContext
    private let channel: any Channel
    private let statistics: ConnectionStatistics?
    private let onClose: (Subscriber, DisconnectReason) -> Void

    init(
        belowEncoders: ChannelHandlerContext, statistics: ConnectionStatistics?,
        onClose: @escaping (Subscriber, DisconnectReason) -> Void
    ) {
        self.belowEncoders = belowEncoders
        self.channel = belowEncoders.channel
        self.statistics = statistics
        self.onClose = onClose
    }

    var eventLoop: any EventLoop { self.belowEncoders.eventLoop }
    var isWritable: Bool { self.channel.isWritable }

    func write(_ frame: ByteBuffer) {
        self.statistics?.bytesWritten += frame.readableBytes
        self.belowEncoders.write(NIOAny(IOData.byteBuffer(frame)), promise: nil)
    }

    func flush() {
        self.belowEncoders.flush()
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.onClose(subscriber, reason)
    }
}
