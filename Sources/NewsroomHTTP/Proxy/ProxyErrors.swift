import NIOCore
import NIOHTTP1
import NewsroomControl
import NewsroomCore
import NewsroomWire

/// The hub's own errors on a provider endpoint (`/v1/chat/completions`, `/v1/messages`, …), in that
/// provider's error shape, so the caller's SDK raises its usual error type (chosen by status:
/// `BadRequestError`, `AuthenticationError`, `PermissionDeniedError`, `RateLimitError`, …). Both shapes
/// also carry the hub's `code` and `message`.
enum ProxyErrors {
    static func response(_ error: ControlError, shape: ProxyEndpoint.ErrorShape) -> HTTPResponse {
        let plain = HTTPResponse(error)
        let status = plain.status == .noContent ? .conflict : plain.status
        var json = JSONWriter(buffer: ByteBuffer())
        json.beginObject()
        switch shape {
        case .openAI:
            // {"error": {"message", "type", "param", "code"}}
            json.objectField("error")
            json.field("message", error.message)
            json.field("type", Self.openAIType(status))
            json.null("param")
            json.field("code", error.code)
            json.endObject()
        case .anthropic:
            // {"type": "error", "error": {"type", "message"}}
            json.field("type", "error")
            json.objectField("error")
            json.field("type", Self.anthropicType(status))
            json.field("message", error.message)
            json.field("code", error.code)
            json.endObject()
        }
        json.endObject()
        let headers = plain.headers.filter { $0.0 != "content-type" }
        return HTTPResponse(status: status, headers: headers, body: json.buffer, contentType: "application/json")
    }

    private static func openAIType(_ status: HTTPResponseStatus) -> String {
        switch status.code {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 500...: "api_error"
        default: "invalid_request_error"
        }
    }

    private static func anthropicType(_ status: HTTPResponseStatus) -> String {
        switch status.code {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 503, 529: "overloaded_error"
        case 500...: "api_error"
        default: "invalid_request_error"
        }
    }
}
