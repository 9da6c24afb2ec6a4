import NIOCore
import NIOHTTP1
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import Tracing

/// Streaming answers: an SSE subscription, and a gRPC-Web call on HTTP/1.1 (its `Subscribe` streams
/// the same way). Once the subscription is attached, a ``StreamingResponseHandler`` takes the connection
/// over.
extension HTTPRequestHandler {
    // MARK: gRPC-Web

    /// A gRPC-Web call on HTTP/1.1 (gRPC proper needs HTTP/2 and is answered 415).
    func grpcWeb(path: String, request: APIRequest, context: ChannelHandlerContext) {
        guard let text = GRPCWebResponder.isText(contentType: request.head.headers.first(name: "content-type")),
            !self.isHTTP2
        else {
            return self.respond(
                context: context, head: request.head,
                response: HTTPResponse(
                    error: .unsupportedMediaType, code: "unsupported",
                    message: "gRPC needs HTTP/2 (h2c or TLS with ALPN h2); over HTTP/1.1 use gRPC-Web (application/grpc-web)"))
        }
        let responder = GRPCWebResponder(dependencies: self.dependencies)
        let call = GRPCWebResponder.Request(
            path: path, text: text, body: request.body, authorization: request.head.headers.first(name: "authorization"),
            traceHeaders: HTTPCredentials.traceHeaders(of: request.head), client: request.client,
            cors: self.dependencies.cors.responseHeaders(for: request.head))
        let promise = context.eventLoop.makePromise(of: GRPCWebResponder.Answer.self)
        promise.completeWithTask { await responder.answer(call) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { answer in
            let (handler, context) = loopBound.value
            guard handler.machine.isAnswering else { return }
            switch answer {
            case .response(let response):
                handler.respond(context: context, head: request.head, response: response)
            case .subscribe(let subscription, let principal):
                handler.stream(
                    subscription, flavor: .grpcWeb(text: text), request: request, principal: principal, context: context)
            }
        }
    }

    // MARK: Server-Sent Events

    /// Subscribes the connection to a topic; once attached, an ``StreamingResponseHandler`` takes the connection
    /// over (on HTTP/1.1 together with the removal of the request-side handlers, so an idle subscriber
    /// costs little memory). SSE on HTTP/1.1 and HTTP/2; gRPC-Web `Subscribe` on HTTP/1.1.
    func stream(
        _ subscription: SubscriptionRequest, flavor: StreamingResponseSink.Flavor? = nil, request: APIRequest,
        principal: Principal, context: ChannelHandlerContext
    ) {
        let flavor = flavor ?? .sse(retryMilliseconds: self.dependencies.configuration.sseRetryMilliseconds)
        let output: StreamingResponseSink.Output
        let format: WireFormat
        var extraHeaders = self.dependencies.cors.responseHeaders(for: request.head)
        switch (flavor, self.belowEncoders) {
        case (.sse, let belowEncoders?):
            output = .chunked(belowEncoders: belowEncoders)
            format = self.dependencies.sseChunkedFormat
        case (.sse, nil):
            output = .stream(context.channel)
            format = self.dependencies.sseFormat
        case (.grpcWeb(let text), let belowEncoders):
            guard let belowEncoders else { return context.close(promise: nil) }  // HTTP/1.1 only, checked before
            output = .chunked(belowEncoders: belowEncoders)
            format = text ? self.dependencies.grpcWebTextChunkedFormat : self.dependencies.grpcWebChunkedFormat
            if !extraHeaders.isEmpty { extraHeaders.append(("access-control-expose-headers", CORSPolicy.grpcWebExposedHeaders)) }
        }
        let sink = StreamingResponseSink(
            output: output, channel: context.channel, topic: subscription.topic, hub: self.dependencies.hub,
            flavor: flavor, extraHeaders: extraHeaders, statistics: self.statistics)
        let loopBound = NIOLoopBound((self, context, sink), eventLoop: context.eventLoop)
        self.dependencies.control.subscribe(subscription, as: principal, format: format, sink: sink)
            .whenComplete { result in
                let (handler, context, sink) = loopBound.value
                switch result {
                case .success(let subscriber):
                    handler.currentSpan?.attributes["newsroom.topic"] = subscription.topic
                    handler.currentSpan?.attributes["newsroom.resume.after"] = subscription.after ?? 0
                    handler.finishRequest(status: .ok)
                    handler.takeOver(subscriber: subscriber, sink: sink, context: context)
                case .failure(let error):
                    guard handler.machine.isAnswering, !sink.headWritten else { return context.close(promise: nil) }
                    let error = error as? ControlError ?? .internalError
                    let response: HTTPResponse
                    if case .grpcWeb(let text) = flavor {
                        response = GRPCWebResponder(dependencies: handler.dependencies).trailersOnly(
                            GRPCStatus(error),
                            request: .init(
                                path: "", text: text, body: ByteBuffer(), traceHeaders: [], client: "",
                                cors: handler.dependencies.cors.responseHeaders(for: request.head)))
                    } else {
                        response = HTTPResponse(error)
                    }
                    handler.respond(context: context, head: request.head, response: response)
                }
            }
    }

    private func takeOver(subscriber: Subscriber, sink: StreamingResponseSink, context: ChannelHandlerContext) {
        self.machine.startedStreaming()
        guard !subscriber.isClosed else { return }  // an ended topic: the replay and the end are written
        guard context.channel.isActive else {
            subscriber.cancel()
            return
        }
        sink.flush()  // the head goes out now even if there is nothing to replay
        let sync = context.pipeline.syncOperations
        do {
            try sync.addHandler(StreamingResponseHandler(subscriber: subscriber, sink: sink), position: .after(self))
            if !self.isHTTP2 {
                // The request side is done for good: only the socket and the stream handler remain.
                (self.belowEncoders?.handler as? ConnectionIOHandler)?.discardInbound = true
                for handlerType in Self.http1RequestHandlers {
                    if let handlerContext = try? sync.context(handlerType: handlerType) {
                        sync.removeHandler(context: handlerContext, promise: nil)
                    }
                }
            }
            sync.removeHandler(context: context, promise: nil)
        } catch {
            subscriber.cancel()
            context.close(promise: nil)
        }
    }

    /// The HTTP/1.1 handlers an SSE connection no longer needs once its response is written below them.
    private static var http1RequestHandlers: [any ChannelHandler.Type] {
        [
            ByteToMessageHandler<HTTPRequestDecoder>.self, HTTPServerPipelineHandler.self,
            NIOHTTPResponseHeadersValidator.self, HTTPResponseEncoder.self,
        ]
    }
}
