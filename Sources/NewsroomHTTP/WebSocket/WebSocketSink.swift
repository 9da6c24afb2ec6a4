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
    /// The connection's writability, kept here by ``WebSocketHandler`` from the channel's writability
    /// events (this object is in cache when the fan-out asks; the channel's flag is two objects away).
    var writable: Bool
    /// Bytes written below the encoders, added to the connection's statistics when the subscription ends.
    private var bytesWritten = 0

    init(
        belowEncoders: ChannelHandlerContext, statistics: ConnectionStatistics?,
        onClose: @escaping (Subscriber, DisconnectReason) -> Void
    ) {
        self.belowEncoders = belowEncoders
        self.channel = belowEncoders.channel
        self.statistics = statistics
        self.onClose = onClose
        self.writable = belowEncoders.channel.isWritable
    }

    var eventLoop: any EventLoop { self.belowEncoders.eventLoop }
    var isWritable: Bool { self.writable }

    func write(_ frame: ByteBuffer) {
        self.bytesWritten += frame.readableBytes
        self.belowEncoders.write(NIOAny(IOData.byteBuffer(frame)), promise: nil)
    }

    func flush() {
        self.belowEncoders.flush()
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.recordBytes()
        self.onClose(subscriber, reason)
    }

    /// Adds this subscription's bytes to the connection's statistics (when it ends, however it ends).
    func recordBytes() {
        self.statistics?.bytesWritten += self.bytesWritten
        self.bytesWritten = 0
    }
}
