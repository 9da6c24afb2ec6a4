import NIOCore
import NIOHTTP1

extension HTTPRequestHandler {
    /// The request-reading side of one HTTP/1.1 connection (or HTTP/2 stream), as a pure state machine:
    /// each event returns an ``Action`` and the handler does the I/O.
    struct StateMachine {
        /// A request whose head has arrived.
        struct Request {
            var head: HTTPRequestHead
            /// The route, or the error answer for a request that cannot be served (unknown path, method).
            var route: Result<Route, HTTPError>
            /// The body so far; `nil` for routes that take none (their bodies are counted, not kept).
            var body: ByteBuffer?
            var received = 0
        }

        /// An error answer decided while reading (a wrapper so it can sit in a `Result`).
        struct HTTPError: Error {
            var response: HTTPResponse
        }

        enum State {
            /// Waiting for a request head. Legal next: `receiving`, `closed`.
            case idle
            /// Reading a request's body. Legal next: `answering`, `discarding` (413), `closed`.
            case receiving(Request)
            /// Answered early (413) and closing: the rest of the body is read and dropped first, so the
            /// answer is not destroyed by a TCP reset of unread data (a lingering close, as nginx
            /// does), up to `remaining` more bytes. Legal next: `closed` (end of the body, the bound,
            /// the request timeout, or the peer).
            case discarding(remaining: Int)
            /// The request is complete and being answered. Legal next: `idle` (keep-alive),
            /// `streaming`, `closed`.
            case answering(keepAlive: Bool)
            /// An SSE response owns the connection. Legal next: `closed`.
            case streaming
            /// Closing or closed: everything is ignored.
            case closed
        }

        enum Action {
            case none
            /// The request is complete: authenticate and answer it.
            case dispatch(HTTPRequestHead, Route, ByteBuffer)
            /// Answer `head` with `response`; then keep the connection alive or close it.
            case respond(HTTPRequestHead, HTTPResponse, close: Bool)
            /// Answer with `response` and keep reading (and dropping) the body until it ends.
            case respondAndDiscard(HTTPRequestHead, HTTPResponse)
            /// Answer below the HTTP encoder (there is no complete request head), then close.
            case respondRaw(HTTPResponse)
            /// Close the connection.
            case close
        }

        private(set) var state = State.idle
        let maxBodyBytes: Int
        let maxDiscardedBytes: Int
        let usesBody: (Route, HTTPMethod) -> Bool

        init(maxBodyBytes: Int, maxDiscardedBytes: Int, usesBody: @escaping (Route, HTTPMethod) -> Bool) {
            self.maxBodyBytes = maxBodyBytes
            self.maxDiscardedBytes = maxDiscardedBytes
            self.usesBody = usesBody
        }

        mutating func receivedHead(_ head: HTTPRequestHead, route: Result<Route, HTTPError>) -> Action {
            guard case .idle = self.state else {
                // A second request while the first is answered or streams: only a misbehaving HTTP/2
                // stream can do that (the pipelining handler holds HTTP/1.1 ones back).
                self.state = .closed
                return .close
            }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > self.maxBodyBytes {
                return self.tooLarge(head)
            }
            var body: ByteBuffer?
            if case .success(let route) = route, self.usesBody(route, head.method) { body = ByteBuffer() }
            self.state = .receiving(Request(head: head, route: route, body: body))
            return .none
        }

        mutating func receivedBody(_ chunk: ByteBuffer) -> Action {
            if case .discarding(let remaining) = self.state {
                let left = remaining - chunk.readableBytes
                guard left >= 0 else {
                    self.state = .closed
                    return .close  // past the bound: stop reading, whatever the client loses
                }
                self.state = .discarding(remaining: left)
                return .none
            }
            guard case .receiving(var request) = self.state else { return .none }
            request.received += chunk.readableBytes
            guard request.received <= self.maxBodyBytes else { return self.tooLarge(request.head) }
            self.state = .closed  // drop the state's reference to the body so the append does not copy it
            if request.body != nil {
                var chunk = chunk
                request.body!.writeBuffer(&chunk)
            }
            self.state = .receiving(request)
            return .none
        }

        mutating func receivedEnd() -> Action {
            switch self.state {
            case .receiving(let request):
                self.state = .answering(keepAlive: request.head.isKeepAlive)
                switch request.route {
                case .success(let route): return .dispatch(request.head, route, request.body ?? ByteBuffer())
                case .failure(let error): return .respond(request.head, error.response, close: false)
                }
            case .discarding:
                self.state = .closed
                return .close
            default:
                return .none
            }
        }

        /// The answer was written: keep the connection for the next request, or close it.
        mutating func answered(keepAlive: Bool) -> Action {
            guard case .answering = self.state else { return .none }
            self.state = keepAlive ? .idle : .closed
            return keepAlive ? .none : .close
        }

        /// An SSE response took the connection over.
        mutating func startedStreaming() {
            self.state = .streaming
        }

        /// The request timer fired: close an idle keep-alive connection, answer a slow request with 408.
        mutating func timedOut(partialHeadArrived: Bool) -> Action {
            switch self.state {
            case .idle where !partialHeadArrived:
                self.state = .closed
                return .close
            case .idle:
                // Part of a request head arrived, too slowly (a slowloris).
                self.state = .closed
                return .respondRaw(Self.timeout)
            case .receiving(let request):
                self.state = .closed
                return .respond(request.head, Self.timeout, close: true)
            case .discarding:
                self.state = .closed
                return .close
            default:
                return .none
            }
        }

        /// A request that cannot be parsed: 431 for headers over the limits, else 400; then close.
        mutating func parseFailed(_ error: HTTPParserError) -> Action {
            guard case .idle = self.state else {
                self.state = .closed
                return .close
            }
            self.state = .closed
            return .respondRaw(
                error == .headerOverflow
                    ? HTTPResponse(
                        error: .requestHeaderFieldsTooLarge, code: "headers_too_large",
                        message: "the request headers exceed the limits")
                    : HTTPResponse.badRequest("the request is not valid HTTP/1.1"))
        }

        mutating func closed() {
            self.state = .closed
        }

        var isAnswering: Bool {
            if case .answering = self.state { return true }
            return false
        }

        private mutating func tooLarge(_ head: HTTPRequestHead) -> Action {
            self.state = .discarding(remaining: self.maxDiscardedBytes)
            let response = HTTPResponse(
                error: .payloadTooLarge, code: "body_too_large", message: "the body exceeds \(self.maxBodyBytes) bytes")
            return .respondAndDiscard(head, response)
        }

        static let timeout = HTTPResponse(
            error: .requestTimeout, code: "request_timeout", message: "the request took too long to arrive")
    }
}
