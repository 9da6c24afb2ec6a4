import NIOCore
import NIOHTTP1

extension HTTPRequestHandler {
    /// `GET /v1/admin/stream`: the operator's console snapshot as a Server-Sent Events stream
    /// (`event: snapshot`, the JSON of `GET /v1/admin` as `data`), one every `interval` while the
    /// connection is open. A snapshot is skipped while the previous one is still unwritten (the
    /// connection is not writable), so a stalled console costs at most one snapshot of memory.
    func adminStream(
        _ request: APIRequest, interval: TimeAmount, snapshot: @escaping @Sendable () async -> HTTPResponse,
        context: ChannelHandlerContext
    ) {
        self.finishRequest(status: .ok)
        var headers = HTTPHeaders([
            ("content-type", "text/event-stream"), ("cache-control", "no-store"), ("x-accel-buffering", "no"),
        ])
        headers.add(contentsOf: self.dependencies.cors.responseHeaders(for: request.head))
        context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: request.head.version, status: .ok, headers: headers))),
            promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "retry: 1000\n\n")))), promise: nil)
        self.machine.startedStreaming()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.adminTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { _ in
            let (handler, context) = loopBound.value
            guard !handler.adminSnapshotInFlight, context.channel.isWritable else { return }
            handler.adminSnapshotInFlight = true
            let promise = context.eventLoop.makePromise(of: HTTPResponse.self)
            promise.completeWithTask(snapshot)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = loopBound.value
                handler.adminSnapshotInFlight = false
                guard handler.adminTimer != nil, let body = response.body else { return }
                var event = context.channel.allocator.buffer(capacity: body.readableBytes + 32)
                event.writeString(response.status == .ok ? "event: snapshot\ndata: " : "event: refused\ndata: ")
                event.writeImmutableBuffer(body)
                event.writeString("\n\n")
                context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(event))), promise: nil)
                if response.status != .ok {  // the token stopped being accepted: end the stream
                    handler.adminTimer?.cancel()
                    handler.adminTimer = nil
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                        context.close(promise: nil)
                    }
                }
            }
        }
    }
}
