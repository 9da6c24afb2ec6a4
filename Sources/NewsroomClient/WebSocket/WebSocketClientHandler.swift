import NIOCore
import NIOWebSocket

/// A channel handler for the client side of an upgraded WebSocket (RFC 6455): reassembles text
/// messages from fragments, answers pings, masks what it sends, and reports the close code.
///
/// Callbacks run on the channel's event loop, inline with the read that completed the message, as for
/// ``SSEClientHandler``.
public final class WebSocketClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = WebSocketFrame
    public typealias OutboundOut = WebSocketFrame

    /// What the handler reports.
    public enum Update: Sendable {
        /// A complete text message arrived.
        case message(String)
        /// The connection ended: with the peer's close code and reason (RFC 6455 sections 7.1.5 and
        /// 7.1.6), or `nil` and `""` when it closed without a close frame (the network dropped), and the
        /// error if one was caught.
        case end(closeCode: Int?, closeReason: String, error: (any Error)?)
    }

    private let onUpdate: @Sendable (Update) -> Void
    private let maxMessageBytes: Int
    private var fragments: ByteBuffer?
    private var closeCode: Int?
    private var closeReason = ""
    private var ended = false
    private var sentClose = false

    /// - Parameters:
    ///   - maxMessageBytes: The largest reassembled message accepted; a larger one closes with 1009.
    ///   - onUpdate: Called on the event loop for each message and once at the end.
    public init(maxMessageBytes: Int = 16 << 20, onUpdate: @escaping @Sendable (Update) -> Void) {
        self.maxMessageBytes = maxMessageBytes
        self.onUpdate = onUpdate
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .continuation, .binary:
            var data = frame.unmaskedData
            if frame.opcode != .continuation { self.fragments = nil }
            if frame.fin && self.fragments == nil {
                if frame.opcode != .binary { self.onUpdate(.message(String(buffer: data))) }
                return
            }
            var buffer = self.fragments ?? context.channel.allocator.buffer(capacity: data.readableBytes)
            guard buffer.readableBytes + data.readableBytes <= self.maxMessageBytes else {
                return self.close(context: context, code: .messageTooLarge)
            }
            buffer.writeBuffer(&data)
            if frame.fin {
                self.fragments = nil
                self.onUpdate(.message(String(buffer: buffer)))
            } else {
                self.fragments = buffer
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            self.closeCode = data.readInteger(as: UInt16.self).map(Int.init) ?? 1005
            self.closeReason = data.readString(length: data.readableBytes) ?? ""
            // The session is over once the peer closed: report it now rather than at channelInactive,
            // which this handler may not see when the close arrived in the same read as the 101.
            self.finish(nil)
            // Echo the close (RFC 6455 section 5.5.1), then the TCP connection ends.
            self.close(context: context, code: WebSocketErrorCode(codeNumber: self.closeCode!))
        default:
            break
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.finish(nil)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.finish(error)
        context.close(promise: nil)
    }

    /// Sends a close frame with `code`, then closes the connection once it is written.
    func close(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !self.sentClose else { return }
        self.sentClose = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
        context.writeAndFlush(self.wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Sends a text message (masked, as a client must).
    func send(context: ChannelHandlerContext, text: String) {
        let data = context.channel.allocator.buffer(string: text)
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: data)
        context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
    }

    private func finish(_ error: (any Error)?) {
        guard !self.ended else { return }
        self.ended = true
        self.onUpdate(.end(closeCode: self.closeCode, closeReason: self.closeReason, error: error))
    }
}
