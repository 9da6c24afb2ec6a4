import NIOCore
import NIOHTTP1
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomWire

/// gRPC-Web calls on HTTP/1.1 (PROTOCOL-WEB.md): the request body is the length-prefixed request
/// message(s) — base64 for `application/grpc-web-text` — and the answer is a `200` whose body holds the
/// response messages and then a trailers frame (flag 0x80) with the status; a call that fails before any
/// message answers trailers-only (`grpc-status` in the headers, no body). `Subscribe` streams: its events
/// are the chunks the hub encoded once for every gRPC-Web subscriber (``StreamingResponseSink``).
struct GRPCWebResponder: Sendable {
    let dependencies: HTTPDependencies

    /// What a call needs from its request.
    struct Request: Sendable {
        var path: String
        var text: Bool
        var body: ByteBuffer
        var authorization: String?
        var traceHeaders: [(String, String)]
        var client: String
        var cors: [(String, String)]
    }

    enum Answer: Sendable {
        case response(HTTPResponse)
        case subscribe(SubscriptionRequest, Principal)
    }

    /// Whether a request is gRPC-Web, by its content type (`nil` when it is not gRPC at all); gRPC proper
    /// on HTTP/1.1 is refused (it needs HTTP/2).
    static func isText(contentType: String?) -> Bool? {
        guard let type = contentType?.lowercased(), type.hasPrefix("application/grpc-web") else { return nil }
        return type.hasPrefix("application/grpc-web-text")
    }

    func answer(_ request: Request) async -> Answer {
        let service = GRPCService(dependencies: self.dependencies)
        func fail(_ status: GRPCStatus) -> Answer { .response(self.trailersOnly(status, request: request)) }
        guard let method = GRPCMethod(rawValue: request.path) else {
            return fail(GRPCStatus(.unimplemented, "no method \(request.path.prefix(128))"))
        }
        let principal: Principal
        switch await service.authenticate(authorization: request.authorization) {
        case .success(let caller): principal = caller
        case .failure(let status): return fail(status)
        }
        var reader = GRPCMessageReader(maxMessageBytes: self.dependencies.configuration.maxBodyBytes, base64: request.text)
        var messages: [ByteBuffer] = []
        do throws(GRPCStatus) {
            try reader.append(request.body)
            while let message = try reader.next() { messages.append(message) }
            guard !reader.hasLeftover else { throw GRPCStatus(.invalidArgument, "the body ends inside a message") }
        } catch {
            return fail(error)
        }
        switch method.kind {
        case .clientStreaming:
            var call = GRPCService.PublishCall()
            do throws(GRPCStatus) {
                for message in messages {
                    try await service.publish(message, call: &call, principal: principal, client: request.client)
                }
                return .response(self.response(messages: [try GRPCService.summary(call)], request: request))
            } catch {
                return fail(error)
            }
        case .unary, .serverStreaming:
            guard messages.count == 1 else { return fail(GRPCStatus(.invalidArgument, "expected exactly one request message")) }
            switch method {
            case .subscribe:
                do throws(GRPCStatus) {
                    return .subscribe(try GRPCService.subscription(messages[0]), principal)
                } catch {
                    return fail(error)
                }
            case .healthWatch:
                // On HTTP/1.1 a watch answers the current status and ends (no long poll of the health).
                fallthrough
            default:
                do throws(GRPCStatus) {
                    let response = try await service.unary(
                        method == .healthWatch ? .healthCheck : method, request: messages[0], principal: principal,
                        traceHeaders: request.traceHeaders)
                    return .response(self.response(messages: [response], request: request))
                } catch {
                    return fail(error)
                }
            }
        }
    }

    /// A whole answer: the messages, then the OK trailers frame.
    func response(messages: [[UInt8]], request: Request) -> HTTPResponse {
        let allocator = ByteBufferAllocator()
        var body = allocator.buffer(capacity: 64)
        for message in messages {
            var frame = GRPCFraming.message(message, allocator: allocator)
            if request.text { frame = GRPCFraming.base64(frame, allocator: allocator) }
            body.writeBuffer(&frame)
        }
        var trailers = StreamingResponseSink.grpcWebTrailers(.ok, text: request.text, allocator: allocator)
        body.writeBuffer(&trailers)
        return HTTPResponse(status: .ok, headers: self.headers(request), body: body)
    }

    /// A trailers-only answer: the status in the headers, no body.
    func trailersOnly(_ status: GRPCStatus, request: Request) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: self.headers(request) + status.trailers)
    }

    private func headers(_ request: Request) -> [(String, String)] {
        var headers = [("content-type", request.text ? "application/grpc-web-text+proto" : "application/grpc-web+proto")]
        if !request.cors.isEmpty {
            headers += request.cors + [("access-control-expose-headers", CORSPolicy.grpcWebExposedHeaders)]
        }
        return headers
    }
}
