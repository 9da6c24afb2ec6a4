import NIOCore

/// Tells HTTP/2 with prior knowledge (h2c) from HTTP/1.1 on a cleartext connection by its first bytes:
/// an HTTP/2 client starts with the connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113
/// section 3.4), which no HTTP/1.1 request line can start with. Once it knows, it sets up the pipeline
/// for that protocol, hands it the bytes read so far, and removes itself.
final class HTTPVersionSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private var buffered: ByteBuffer?
    private let configureHTTP1: (any Channel) throws -> Void
    private let configureHTTP2: (any Channel) throws -> Void
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(
        timeout: TimeAmount, configureHTTP1: @escaping (any Channel) throws -> Void,
        configureHTTP2: @escaping (any Channel) throws -> Void
    ) {
        self.timeout = timeout
        self.configureHTTP1 = configureHTTP1
        self.configureHTTP2 = configureHTTP2
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // A client that connects and sends nothing does not hold the connection forever.
        let channel = context.channel
        self.timer = context.eventLoop.scheduleTask(in: self.timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        if self.buffered == nil {
            self.buffered = incoming
        } else {
            self.buffered!.writeBuffer(&incoming)
        }
        let bytes = self.buffered!.readableBytesView
        let compared = min(bytes.count, Self.preface.count)
        let matches = bytes.prefix(compared).elementsEqual(Self.preface.prefix(compared))
        guard !matches || compared == Self.preface.count else { return }  // need more bytes to decide
        do {
            if matches {
                try self.configureHTTP2(context.channel)
            } else {
                try self.configureHTTP1(context.channel)
            }
        } catch {
            context.close(promise: nil)
            return
        }
        let buffered = self.buffered!
        self.buffered = nil
        context.fireChannelRead(self.wrapInboundOut(buffered))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
