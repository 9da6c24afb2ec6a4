import NIOCore
import NIOHTTP1
import NewsroomCore
import NewsroomWire

/// An error answer of the HTTP API: a status and `{"error":{"code","message"}}`.
struct APIError: Error {
    var status: HTTPResponseStatus
    var code: String
    var message: String
    var headers: [(String, String)] = []

    init(_ status: HTTPResponseStatus, _ code: String, _ message: String, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// The JSON body.
    func body(allocator: ByteBufferAllocator) -> ByteBuffer {
        var json = JSONWriter(buffer: allocator.buffer(capacity: 96 + self.message.utf8.count))
        json.beginObject()
        json.objectField("error")
        json.field("code", self.code)
        json.field("message", self.message)
        json.endObject()
        json.endObject()
        return json.buffer
    }

    static func notFound(_ message: String = "no such endpoint") -> APIError {
        APIError(.notFound, "not_found", message)
    }

    static func methodNotAllowed(_ allowed: [HTTPMethod]) -> APIError {
        APIError(
            .methodNotAllowed, "method_not_allowed", "allowed methods: \(allowed.map(\.rawValue).joined(separator: ", "))",
            headers: [("allow", allowed.map(\.rawValue).joined(separator: ", "))])
    }

    static func badRequest(_ message: String, code: String = "bad_request") -> APIError {
        APIError(.badRequest, code, message)
    }

    /// The answer for a topic-layer error.
    init(_ error: HubError) {
        switch error.code {
        case .invalidTopicName: self.init(.badRequest, error.code.name, error.message)
        case .invalidEvent: self.init(.badRequest, error.code.name, error.message)
        case .topicEnded: self.init(.conflict, error.code.name, error.message)
        case .nothingAfterEnd: self.init(.noContent, error.code.name, error.message)
        case .topicNotFound: self.init(.notFound, error.code.name, error.message)
        case .topicLimitReached, .subscriberLimitReached:
            self.init(.serviceUnavailable, error.code.name, error.message, headers: [("retry-after", "5")])
        default: self.init(.serviceUnavailable, error.code.name, error.message)
        }
    }

    /// The answer for a generation error.
    init(_ error: GenerationError) {
        switch error.code {
        case .unknownProvider, .badRequest: self.init(.badRequest, error.code.rawValue, error.message)
        case .topicBusy: self.init(.conflict, error.code.rawValue, error.message)
        case .tooManyGenerations:
            self.init(
                .tooManyRequests, error.code.rawValue, error.message,
                headers: [("retry-after", "\(error.retryAfterSeconds ?? 1)")])
        default: self.init(.serviceUnavailable, error.code.rawValue, error.message)
        }
    }
}
