import NIOCore

/// The first handler of every HTTP/1.1 connection, next to the socket.
///
/// It does two small jobs. Its context is where pre-framed bytes are written: an SSE subscriber writes
/// the shared chunk bytes of each event here, below NIO's HTTP encoder, which would otherwise frame
/// every write again per subscriber. And it notes whether bytes of a request arrived since the last
/// complete request head, so a request timeout can tell a slow (slowloris) request from an idle
/// keep-alive connection.
final class ConnectionIOHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// Bytes read since ``requestHeadReceived()`` was last called.
    private(set) var bytesSinceLastHead = 0
    /// Bytes read and written over the connection's life.
    private(set) var bytesRead = 0
    private(set) var bytesWritten = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = self.unwrapInboundIn(data).readableBytes
        self.bytesSinceLastHead += count
        self.bytesRead += count
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.bytesWritten += self.unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
    }

    func requestHeadReceived() {
        self.bytesSinceLastHead = 0
    }
}
