import NIOCore
import NIOHTTP1
import NewsroomCore

/// Reads the body of `POST /v1/generations`:
/// `{"provider": "<id>", "request": {…}, "topic": "<optional>", "cancel_when_idle_s": <optional number>}`.
enum GenerationRequestParser {
    static func parse(_ body: ByteBuffer, headers: HTTPHeaders) throws(APIError) -> GenerationRequest {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body.readableBytesView)
        } catch {
            throw APIError.badRequest(error.message)
        }
        return try Self.parse(value, traceHeaders: Self.traceHeaders(headers))
    }

    /// The W3C trace-context headers of a request, to continue the caller's trace upstream.
    static func traceHeaders(_ headers: HTTPHeaders) -> [(String, String)] {
        ["traceparent", "tracestate"].compactMap { name in headers.first(name: name).map { (name, $0) } }
    }

    static func parse(_ value: JSONValue, traceHeaders: [(String, String)]) throws(APIError) -> GenerationRequest {
        guard case .object(let object) = value else { throw APIError.badRequest("the body must be a JSON object") }
        let known: Set<String> = ["provider", "request", "topic", "cancel_when_idle_s", "op", "id"]
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw APIError.badRequest("unknown field '\(unknown.prefix(64))'")
        }
        guard let provider = object["provider"]?.stringValue, !provider.isEmpty else {
            throw APIError.badRequest("missing field 'provider' (a string)")
        }
        guard let request = object["request"] else { throw APIError.badRequest("missing field 'request'") }
        guard case .object = request else { throw APIError.badRequest("'request' must be a JSON object") }
        var topic: String?
        switch object["topic"] {
        case nil, .null?: break
        case .string(let name)?:
            guard TopicName.isValid(name) else {
                throw APIError(.badRequest, "invalid_topic", HubError.invalidTopicName(name).message)
            }
            topic = name
        default: throw APIError.badRequest("'topic' must be a string")
        }
        var idle: TimeAmount?
        switch object["cancel_when_idle_s"] {
        case nil, .null?: break
        case let value?:
            guard let seconds = value.doubleValue, seconds > 0, seconds <= 86_400 else {
                throw APIError.badRequest("'cancel_when_idle_s' must be a positive number of seconds")
            }
            idle = .nanoseconds(Int64(seconds * 1e9))
        }
        return GenerationRequest(
            provider: provider, body: request, topic: topic, cancelWhenIdle: idle, traceHeaders: traceHeaders)
    }
}
