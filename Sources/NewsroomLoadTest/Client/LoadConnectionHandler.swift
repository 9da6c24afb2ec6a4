import NIOCore

/// The channel handler of one viewer's connection: sends the prepared request and feeds every read to the
/// viewer's ``EventStreamDecoder``.
///
/// The only handler in the pipeline (no HTTP codec: ``EventStreamDecoder`` reads the head and the chunked
/// framing itself), so a read costs one pass over its bytes and no allocation in the common case. Runs
/// on the viewer's event loop; there is no task per connection.
final class LoadConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let client: LoadClient
    private let request: ByteBuffer
    private let attempt: Int
    private var decoder: EventStreamDecoder

    init(client: LoadClient, request: ByteBuffer) {
        self.client = client
        self.request = request
        self.attempt = client.attempt
        self.decoder = EventStreamDecoder(webSocket: client.usesWebSocket)
    }

    func channelActive(context: ChannelHandlerContext) {
        self.client.channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(self.request), promise: nil)
        if self.client.isSlow { context.read() }  // autoRead is off for slow viewers: read the head
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        let client = self.client
        client.now = WallClock.nanoseconds()
        client.loop.report.bytes &+= buffer.readableBytes
        buffer.withUnsafeReadableBytes { bytes in
            self.decoder.feed(bytes, to: client)
        }
        if client.wantsClose {
            client.wantsClose = false
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.client.connectionClosed(attempt: self.attempt)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.client.lastError = LoopContext.reason(for: error)
        context.close(promise: nil)
    }
}
