import NIOCore
import NewsroomCore

/// The handler of a connection (HTTP/1.1) or stream (HTTP/2) once it carries a Server-Sent Events
/// response, in place of the request handler — as the WebSocket handler takes over after an upgrade.
///
/// It only relays what the subscription needs from the channel: writability (a slow consumer's queue
/// drains when the socket or the stream's flow-control window opens again) and the end of the
/// connection (the subscriber is removed at once). Inbound bytes are dropped: an `EventSource` sends
/// nothing after its request.
final class StreamingResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Never

    private let subscriber: Subscriber
    private let sink: StreamingResponseSink

    init(subscriber: Subscriber, sink: StreamingResponseSink) {
        self.subscriber = subscriber
        self.sink = sink
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func handlerAdded(context: ChannelHandlerContext) {
        // The replay may have filled the connection before this handler was there to hear of it.
        self.sink.writable = context.channel.isWritable
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.sink.writable = context.channel.isWritable
        self.subscriber.writabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.clientGone()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.clientGone()
        context.close(promise: nil)
    }

    private func clientGone() {
        guard !self.subscriber.isClosed else { return }
        self.subscriber.cancel()
        self.sink.finish(subscriber: self.subscriber, reason: .clientGone)
    }
}
