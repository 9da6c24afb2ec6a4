import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// The first handler of every HTTP/2 stream: it looks at the request's headers and sets the stream up
/// for what it carries — a gRPC or gRPC-Web call (`content-type: application/grpc…`) gets a
/// ``GRPCStreamHandler`` working on HTTP/2 frames; anything else the HTTP/1-style codec and an
/// ``HTTPRequestHandler`` (the control API, SSE). Then it hands over the headers and leaves.
final class HTTP2StreamRouter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    private let dependencies: HTTPDependencies
    private let statistics: ConnectionStatistics?

    init(dependencies: HTTPDependencies, statistics: ConnectionStatistics?) {
        self.dependencies = dependencies
        self.statistics = statistics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .headers(let headers) = self.unwrapInboundIn(data) else {
            // Frames before the headers: not a valid request; the stream is reset.
            context.close(promise: nil)
            return
        }
        let sync = context.pipeline.syncOperations
        do {
            if let type = headers.headers.first(name: "content-type"), GRPCStreamHandler.Framing(contentType: type) != nil {
                try sync.addHandler(
                    GRPCStreamHandler(dependencies: self.dependencies, statistics: self.statistics), position: .after(self))
            } else {
                try sync.addHandlers(
                    [
                        HTTP2FramePayloadToHTTP1ServerCodec(),
                        HTTPRequestHandler(dependencies: self.dependencies, isHTTP2: true, statistics: self.statistics),
                    ], position: .after(self))
            }
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        sync.removeHandler(context: context, promise: nil)
    }
}
