import NIOCore
import NIOHTTP1
import NewsroomControl
import NewsroomWire

/// A complete answer to one request: status, headers and body.
struct HTTPResponse {
    var status: HTTPResponseStatus
    var headers: [(String, String)]
    var body: ByteBuffer?
    /// More body after ``body``, written as separate buffers (shared event bytes are not copied).
    var bodyParts: [ByteBuffer] = []

    /// The body's length.
    var bodyLength: Int { self.bodyParts.reduce(self.body?.readableBytes ?? 0) { $0 + $1.readableBytes } }

    init(status: HTTPResponseStatus, headers: [(String, String)] = [], body: ByteBuffer? = nil, contentType: String? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        if let contentType { self.headers.insert(("content-type", contentType), at: 0) }
    }

    /// A JSON answer.
    static func json(_ status: HTTPResponseStatus, _ body: ByteBuffer, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: body, contentType: "application/json")
    }

    /// An error answer: `{"error":{"code","message"}}`.
    init(error status: HTTPResponseStatus, code: String, message: String, headers: [(String, String)] = []) {
        var json = JSONWriter(buffer: ByteBuffer())
        json.beginObject()
        json.objectField("error")
        json.field("code", code)
        json.field("message", message)
        json.endObject()
        json.endObject()
        self.init(status: status, headers: headers, body: json.buffer, contentType: "application/json")
    }

    /// The answer for a control-service error: its kind decides the status.
    init(_ error: ControlError) {
        var headers: [(String, String)] = []
        let status: HTTPResponseStatus
        switch error.kind {
        case .invalidArgument: status = .badRequest
        case .unauthenticated:
            status = .unauthorized
            headers.append(("www-authenticate", "Bearer"))
        case .permissionDenied: status = .forbidden
        case .notFound: status = .notFound
        case .conflict: status = .conflict
        case .ended:
            self.init(status: .noContent)
            return
        case .rateLimited: status = .tooManyRequests
        case .limitReached, .unavailable: status = .serviceUnavailable
        case .unimplemented: status = .notImplemented
        default: status = .internalServerError
        }
        if let seconds = error.retryAfterSeconds { headers.append(("retry-after", String(seconds))) }
        self.init(error: status, code: error.code, message: error.message, headers: headers)
    }

    static func notFound(_ message: String = "no such endpoint") -> HTTPResponse {
        HTTPResponse(error: .notFound, code: "not_found", message: message)
    }

    static func badRequest(_ message: String, code: String = "bad_request") -> HTTPResponse {
        HTTPResponse(error: .badRequest, code: code, message: message)
    }

    static func methodNotAllowed(_ allowed: [HTTPMethod]) -> HTTPResponse {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPResponse(
            error: .methodNotAllowed, code: "method_not_allowed", message: "allowed methods: \(list)",
            headers: [("allow", list)])
    }

    static let internalError = HTTPResponse(error: .internalServerError, code: "internal", message: "internal error")

    /// The bytes of a response for the few cases answered below the HTTP encoder (no request head to
    /// answer, or the encoder is gone): status line, headers, `content-length`, `connection: close`.
    func rawBytes(allocator: ByteBufferAllocator) -> ByteBuffer {
        let body = self.body ?? ByteBuffer()
        var buffer = allocator.buffer(capacity: 160 + body.readableBytes)
        buffer.writeString("HTTP/1.1 \(self.status.code) \(self.status.reasonPhrase)\r\n")
        for (name, value) in self.headers { buffer.writeString("\(name): \(value)\r\n") }
        buffer.writeString("content-length: \(body.readableBytes)\r\nconnection: close\r\n\r\n")
        buffer.writeImmutableBuffer(body)
        return buffer
    }
}
