import NIOCore
import NIOHTTP2

/// Keepalive for an HTTP/2 connection (gRPC's "keepalive through HTTP/2 PING"): on each tick of its
/// loop's ``ConnectionKeepalive`` it sends a PING; a connection that left two in a row unanswered is
/// gone (a peer that vanished without a FIN, a dead NAT mapping) and is closed, which ends its streams
/// and removes their subscribers. The peer's own PINGs are answered by `NIOHTTP2Handler`.
///
/// Sits after `NIOHTTP2Handler` on the connection's channel, where the frames of stream 0 arrive.
final class HTTP2PingHandler: ChannelDuplexHandler, KeepalivePinged {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// The opaque data of the hub's PINGs ("newsroom"), told apart from the peer's.
    static let data = HTTP2PingData(withInteger: 0x6e65_7773_726f_6f6d)

    private let keepalive: ConnectionKeepalive
    private var context: ChannelHandlerContext?
    private var unanswered = 0

    init(keepalive: ConnectionKeepalive) {
        self.keepalive = keepalive
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.keepalive.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.keepalive.unregister(self)
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.keepalive.unregister(self)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        if case .ping(let ping, ack: true) = frame.payload, ping == Self.data {
            self.unanswered = 0
        }
        context.fireChannelRead(data)
    }

    func keepaliveTick() {
        guard let context = self.context, context.channel.isActive else { return }
        if self.unanswered >= 2 {
            self.keepalive.unregister(self)
            context.close(promise: nil)
            return
        }
        self.unanswered += 1
        context.writeAndFlush(self.wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(Self.data, ack: false))), promise: nil)
    }
}
