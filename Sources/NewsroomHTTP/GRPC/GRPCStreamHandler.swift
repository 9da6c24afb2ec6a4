import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomProto
import NewsroomWire
import SwiftProtobuf
import Tracing

/// One gRPC call on one HTTP/2 stream of the hub's port: `application/grpc` (gRPC over HTTP/2) and
/// `application/grpc-web[-text]` (gRPC-Web) alike.
///
/// The handler reads the call's headers and request messages at the frame level, authenticates the
/// caller, hands the call to ``GRPCService`` (and through it to the ``ControlService``), and writes the
/// answer: response headers, length-prefixed messages in DATA frames, then the status — in trailers
/// (gRPC) or in a trailers frame at the end of the body (gRPC-Web); a call that fails before any message
/// gets a trailers-only answer. A `Subscribe` call is a hub subscriber (``GRPCStreamSink``): each event
/// is the length-prefixed message the hub encoded once for every gRPC subscriber, written as it is on
/// the same per-loop fan-out as SSE; the stream's flow-control window is the slow-consumer signal.
/// `grpc-timeout` ends the call with `DEADLINE_EXCEEDED`; a client's RST_STREAM closes the stream and
/// removes its subscriber at once.
final class GRPCStreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// How the response is framed.
    enum Framing {
        /// gRPC over HTTP/2: status in trailers.
        case grpc
        /// gRPC-Web: status in a trailers frame at the end of the body.
        case web
        /// gRPC-Web text: the same, base64.
        case webText

        init?(contentType: String) {
            let type = contentType.lowercased()
            if type.hasPrefix("application/grpc-web-text") {
                self = .webText
            } else if type.hasPrefix("application/grpc-web") {
                self = .web
            } else if type.hasPrefix("application/grpc") {
                self = .grpc
            } else {
                return nil
            }
        }

        var contentType: String {
            switch self {
            case .grpc: "application/grpc"
            case .web: "application/grpc-web+proto"
            case .webText: "application/grpc-web-text+proto"
            }
        }
    }

    private enum State {
        /// Waiting for the request headers.
        case idle
        /// The call is known; its messages arrive.
        case open
        /// A `Subscribe` call streams events.
        case streaming(Subscriber, GRPCStreamSink)
        /// The status was written (or the stream is gone): everything else is ignored.
        case done
    }

    private let dependencies: HTTPDependencies
    private let service: GRPCService
    private let statistics: ConnectionStatistics?
    private var state = State.idle
    private var context: ChannelHandlerContext?

    private var method: GRPCMethod?
    private var framing = Framing.grpc
    private var headersWritten = false
    private var reader: GRPCMessageReader
    private var requestEnded = false
    private var principal: Principal?
    private var authorization: String?
    private var traceHeaders: [(String, String)] = []
    private var origin: String?
    private var deadline: Scheduled<Void>?
    private var span: (any Span)?
    private var started = NIODeadline.now()
    /// A unary or streaming call's single request has been handled (the call is being answered).
    private var handled = false
    /// A `Publish` call: what it published, and the chain of its publishes (in order).
    private var publishCall = GRPCService.PublishCall()
    private var publishChain: EventLoopFuture<Void>?
    private var publishFailed = false
    /// A `Watch` call's registration for the hub's drain, removed when the call ends.
    private var drainingWatch: UInt64?

    init(dependencies: HTTPDependencies, statistics: ConnectionStatistics?) {
        self.dependencies = dependencies
        self.service = GRPCService(dependencies: dependencies)
        self.statistics = statistics
        self.reader = GRPCMessageReader(maxMessageBytes: dependencies.configuration.maxBodyBytes, base64: false)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    // MARK: Channel events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .headers(let headers):
            if case .idle = self.state {
                self.begin(headers.headers, endStream: headers.endStream, context: context)
            } else if headers.endStream {
                // Request trailers: the end of the request.
                self.requestEnded = true
                self.proceed(context: context)
            }
        case .data(let data):
            guard case .open = self.state else { return }
            if case .byteBuffer(let bytes) = data.data {
                do throws(GRPCStatus) {
                    try self.reader.append(bytes)
                } catch {
                    return self.finish(error, context: context)
                }
            }
            if data.endStream { self.requestEnded = true }
            self.proceed(context: context)
        default:
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .streaming(let subscriber, let sink) = self.state {
            sink.writable = context.channel.isWritable
            subscriber.writabilityChanged()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client reset the stream or the connection closed: the call is over.
        if case .streaming(let subscriber, _) = self.state, !subscriber.isClosed {
            subscriber.cancel()
            self.statistics?.subscriptionEnded(delivered: subscriber.delivered)
            self.record(.cancelled)
        } else if case .open = self.state {
            self.record(.cancelled)
        }
        self.state = .done
        self.deadline?.cancel()
        if let watch = self.drainingWatch { self.dependencies.unwatchDraining(watch) }
        self.span?.end()
        self.span = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: The call

    private func begin(_ headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext) {
        self.state = .open
        self.started = .now()
        self.framing = headers.first(name: "content-type").flatMap(Framing.init(contentType:)) ?? .grpc
        self.reader = GRPCMessageReader(
            maxMessageBytes: self.dependencies.configuration.maxBodyBytes, base64: self.framing == .webText)
        self.authorization = headers.first(name: "authorization")
        self.origin = headers.first(name: "origin")
        self.traceHeaders = ["traceparent", "tracestate"].compactMap { name in headers.first(name: name).map { (name, $0) } }
        self.requestEnded = endStream
        let path = headers.first(name: ":path") ?? ""
        guard headers.first(name: ":method") == "POST" else {
            return self.finish(GRPCStatus(.unimplemented, "gRPC calls are POST requests"), context: context)
        }
        guard let method = GRPCMethod(rawValue: path) else {
            return self.finish(GRPCStatus(.unimplemented, "no method \(path.prefix(128))"), context: context)
        }
        self.method = method
        self.span = GRPCTracing.startSpan(method: method, headers: self.traceHeaders)
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return self.finish(
                GRPCStatus(
                    .unimplemented, "grpc-encoding '\(encoding.prefix(32))' is not supported; send identity",
                    metadata: [("grpc-accept-encoding", "identity")]),
                context: context)
        }
        if let value = headers.first(name: "grpc-timeout") {
            guard let timeout = GRPCTimeout.parse(value) else {
                return self.finish(GRPCStatus(.invalidArgument, "grpc-timeout '\(value.prefix(16))' is not valid"), context: context)
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            self.deadline = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = loopBound.value
                handler.deadlinePassed(context: context)
            }
        }
        // Who is calling: from the token cache, or verified off the loop the first time.
        if let cached = self.service.cachedCaller(authorization: self.authorization) {
            return self.authenticated(cached, context: context)
        }
        let promise = context.eventLoop.makePromise(of: Result<Principal, GRPCStatus>.self)
        let service = self.service
        let authorization = self.authorization
        promise.completeWithTask { await service.authenticate(authorization: authorization) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { result in
            let (handler, context) = loopBound.value
            handler.authenticated(result, context: context)
        }
    }

    private func authenticated(_ result: Result<Principal, GRPCStatus>, context: ChannelHandlerContext) {
        guard case .open = self.state else { return }
        switch result {
        case .success(let principal):
            self.principal = principal
            self.proceed(context: context)
        case .failure(let status):
            self.finish(status, context: context)
        }
    }

    /// Handles what has arrived, once the caller is known.
    private func proceed(context: ChannelHandlerContext) {
        guard case .open = self.state, let method = self.method, let principal = self.principal else { return }
        if method.kind == .clientStreaming { return self.publishArrived(principal: principal, context: context) }
        guard !self.handled, self.requestEnded else { return }
        self.handled = true
        let message: ByteBuffer
        do throws(GRPCStatus) {
            guard let first = try self.reader.next(), try self.reader.next() == nil, !self.reader.hasLeftover else {
                throw GRPCStatus(.invalidArgument, "expected exactly one request message")
            }
            message = first
        } catch {
            return self.finish(error, context: context)
        }
        switch method {
        case .subscribe:
            self.subscribe(message, principal: principal, context: context)
        case .healthWatch:
            self.watchHealth(message, context: context)
        default:
            self.unary(method, message: message, principal: principal, context: context)
        }
    }

    private func unary(_ method: GRPCMethod, message: ByteBuffer, principal: Principal, context: ChannelHandlerContext) {
        let service = self.service
        let traceHeaders = self.span.map { RequestTracing.propagationHeaders(for: $0, fallback: self.traceHeaders) } ?? self.traceHeaders
        let promise = context.eventLoop.makePromise(of: Result<[UInt8], GRPCStatus>.self)
        promise.completeWithTask {
            do throws(GRPCStatus) {
                return .success(try await service.unary(method, request: message, principal: principal, traceHeaders: traceHeaders))
            } catch {
                return .failure(error)
            }
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { result in
            let (handler, context) = loopBound.value
            guard case .open = handler.state else { return }
            switch result {
            case .success(let response):
                handler.writeMessage(GRPCFraming.message(response, allocator: context.channel.allocator), context: context)
                handler.finish(.ok, context: context)
            case .failure(let status):
                handler.finish(status, context: context)
            }
        }
    }

    // MARK: Subscribe

    private func subscribe(_ message: ByteBuffer, principal: Principal, context: ChannelHandlerContext) {
        let request: SubscriptionRequest
        do throws(GRPCStatus) {
            request = try GRPCService.subscription(message)
        } catch {
            return self.finish(error, context: context)
        }
        self.span?.attributes["newsroom.topic"] = request.topic
        let format = self.framing == .webText ? self.dependencies.grpcWebTextFormat : self.dependencies.grpcFormat
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let sink = GRPCStreamSink(context: context) { subscriber, reason in
            let (handler, context) = loopBound.value
            handler.subscriptionEnded(subscriber, reason: reason, context: context)
        }
        sink.writeHeadersIfNeeded = { [weak self] in
            guard let self, let context = self.context else { return }
            self.writeHeadersIfNeeded(context: context)
        }
        let sinkBound = NIOLoopBound(sink, eventLoop: context.eventLoop)
        self.dependencies.control.subscribe(request, as: principal, format: format, sink: sink).whenComplete { result in
            let (handler, context) = loopBound.value
            let sink = sinkBound.value
            switch result {
            case .success(let subscriber):
                guard case .open = handler.state else {
                    if !subscriber.isClosed { subscriber.cancel() }
                    return
                }
                guard !subscriber.isClosed else { return }  // an ended topic: replayed and finished
                sink.writable = context.channel.isWritable
                handler.state = .streaming(subscriber, sink)
                handler.writeHeadersIfNeeded(context: context)
                context.flush()
            case .failure(let error):
                let status = (error as? ControlError).map(GRPCStatus.init) ?? GRPCStatus(.internal, "internal error")
                handler.finish(status, context: context)
            }
        }
    }

    private func subscriptionEnded(_ subscriber: Subscriber, reason: DisconnectReason, context: ChannelHandlerContext) {
        self.statistics?.subscriptionEnded(delivered: subscriber.delivered)
        if !reason.isNormal { self.statistics?.closeReason = reason.code }
        if case .streaming = self.state { self.state = .open }
        self.finish(GRPCStatus(reason), context: context)
    }

    private func deadlinePassed(context: ChannelHandlerContext) {
        if case .streaming(let subscriber, _) = self.state {
            subscriber.cancel()
            self.state = .open
        }
        self.finish(GRPCStatus(.deadlineExceeded, "the call's deadline passed"), context: context)
    }

    // MARK: Health

    private func watchHealth(_ message: ByteBuffer, context: ChannelHandlerContext) {
        let request: Grpc_Health_V1_HealthCheckRequest
        do throws(ControlError) {
            request = try GRPCService.decode(message)
        } catch {
            return self.finish(GRPCStatus(error), context: context)
        }
        var response = Grpc_Health_V1_HealthCheckResponse()
        // An unknown service is SERVICE_UNKNOWN, and the call stays open (the health protocol's rule).
        response.status = self.service.healthStatus(of: request.service) ?? .serviceUnknown
        self.sendHealth(response, context: context)
        guard response.status == .serving else { return }
        // The one change there can be: the hub drains. Sent once, as the protocol asks (on changes only).
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.drainingWatch = self.dependencies.watchDraining(on: context.eventLoop) {
            let (handler, context) = loopBound.value
            guard case .open = handler.state else { return }
            var draining = Grpc_Health_V1_HealthCheckResponse()
            draining.status = .notServing
            handler.sendHealth(draining, context: context)
        }
    }

    private func sendHealth(_ response: Grpc_Health_V1_HealthCheckResponse, context: ChannelHandlerContext) {
        let bytes: [UInt8] = (try? response.serializedBytes()) ?? []
        self.writeMessage(GRPCFraming.message(bytes, allocator: context.channel.allocator), context: context)
        context.flush()
    }

    // MARK: Publish

    private func publishArrived(principal: Principal, context: ChannelHandlerContext) {
        guard !self.publishFailed else { return }
        var messages: [ByteBuffer] = []
        do throws(GRPCStatus) {
            while let message = try self.reader.next() { messages.append(message) }
        } catch {
            self.publishFailed = true
            return self.finish(error, context: context)
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let client = self.statistics?.clientAddress ?? "?"
        let service = self.service
        // Each message is published after the one before it: a producer's events keep their order.
        for message in messages {
            let previous = self.publishChain ?? context.eventLoop.makeSucceededVoidFuture()
            self.publishChain = previous.flatMap {
                let (handler, context) = loopBound.value
                guard !handler.publishFailed else { return context.eventLoop.makeSucceededVoidFuture() }
                let before = handler.publishCall
                let promise = context.eventLoop.makePromise(of: (GRPCService.PublishCall, GRPCStatus?).self)
                promise.completeWithTask {
                    var call = before
                    do throws(GRPCStatus) {
                        try await service.publish(message, call: &call, principal: principal, client: client)
                        return (call, nil)
                    } catch {
                        return (call, error)
                    }
                }
                return promise.futureResult.map { call, failure in
                    let (handler, context) = loopBound.value
                    handler.publishCall = call
                    if let failure {
                        handler.publishFailed = true
                        handler.finish(failure, context: context)
                    }
                }
            }
        }
        guard self.requestEnded else { return }
        let done = self.publishChain ?? context.eventLoop.makeSucceededVoidFuture()
        self.publishChain = done.map {
            let (handler, context) = loopBound.value
            guard case .open = handler.state, !handler.publishFailed else { return }
            do throws(GRPCStatus) {
                let summary = try GRPCService.summary(handler.publishCall)
                handler.writeMessage(GRPCFraming.message(summary, allocator: context.channel.allocator), context: context)
                handler.finish(.ok, context: context)
            } catch {
                handler.finish(error, context: context)
            }
        }
    }

    // MARK: Writing

    private func responseHeaders(status: GRPCStatus?) -> HPACKHeaders {
        var headers: HPACKHeaders = [":status": "200", "content-type": self.framing.contentType]
        if self.framing != .grpc, let origin = self.origin, self.dependencies.cors.allows(origin: origin) {
            headers.add(name: "access-control-allow-origin", value: origin)
            headers.add(name: "access-control-expose-headers", value: CORSPolicy.grpcWebExposedHeaders)
        }
        if let status {
            for (name, value) in status.trailers { headers.add(name: name, value: value) }
        }
        return headers
    }

    private func writeHeadersIfNeeded(context: ChannelHandlerContext) {
        guard !self.headersWritten else { return }
        self.headersWritten = true
        let headers = self.responseHeaders(status: nil)
        context.write(self.wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
    }

    private func writeMessage(_ message: ByteBuffer, context: ChannelHandlerContext) {
        self.writeHeadersIfNeeded(context: context)
        let bytes = self.framing == .webText ? GRPCFraming.base64(message, allocator: context.channel.allocator) : message
        context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(bytes)))), promise: nil)
    }

    /// Ends the call with `status`: in trailers (or the trailers frame of gRPC-Web), or as a
    /// trailers-only answer when nothing was written yet.
    private func finish(_ status: GRPCStatus, context: ChannelHandlerContext) {
        switch self.state {
        case .done: return
        case .streaming(let subscriber, _):
            if !subscriber.isClosed { subscriber.cancel() }
        default: break
        }
        self.state = .done
        self.deadline?.cancel()
        self.record(status.code)
        if !self.headersWritten {
            let headers = self.responseHeaders(status: status)
            context.writeAndFlush(self.wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
        } else if self.framing == .grpc {
            var trailers = HPACKHeaders()
            for (name, value) in status.trailers { trailers.add(name: name, value: value) }
            context.writeAndFlush(self.wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: nil)
        } else {
            var frame = GRPCFraming.trailers(status.trailers, allocator: context.channel.allocator)
            if self.framing == .webText { frame = GRPCFraming.base64(frame, allocator: context.channel.allocator) }
            context.writeAndFlush(self.wrapOutboundOut(.data(.init(data: .byteBuffer(frame), endStream: true))), promise: nil)
        }
        if !self.requestEnded {
            // The client may still be sending: a reset tells it the call is over (RFC 9113 section 8.1),
            // with NO_ERROR — a CANCEL read before the trailers makes clients report CANCELLED instead of
            // the status just sent.
            context.writeAndFlush(self.wrapOutboundOut(.rstStream(.noError)), promise: nil)
        }
    }

    private func record(_ code: GRPCStatus.Code) {
        guard let method = self.method else { return }
        self.dependencies.metrics.grpcCall(method: method.name, code: code.name)
        if let span = self.span {
            span.attributes["rpc.grpc.status_code"] = code.rawValue
            if code != .ok && code != .cancelled { span.setStatus(SpanStatus(code: .error)) }
            span.end()
            self.span = nil
        }
    }
}
