import NIOCore
import NewsroomCore

/// Turns provider errors — HTTP error responses and errors inside a stream — into `error` events with
/// the hub's codes (``UpstreamErrorCode``).
///
/// Reads every error body shape of PROVIDERS.md §7: `{"error":{"message","type","code"}}` (OpenAI,
/// vLLM, OpenRouter, TGI chat), `{"type":"error","error":{"type","message"}}` (Anthropic),
/// `{"error":{"code","message","status"}}` (Gemini), `{"error":"…","error_type":"…"}` (TGI, Ollama),
/// and the flat `{"type":"error","code","message"}` / `{"object":"error",…}` variants.
///
/// Classification: the HTTP status decides for 401/403 (`auth_failed`), 429 (`rate_limited`, except
/// `insufficient_quota`, which is not retryable), 529 (`overloaded`), 408 (`upstream_timeout`) and the
/// other 4xx (`bad_request`, except 409 and TGI's 424); otherwise the provider's error type decides
/// when it is known, then the status (5xx → `upstream_unavailable`, 504 → `upstream_timeout`).
/// Messages are cut to 512 bytes; the manager also scrubs API keys from them before publishing.
public enum UpstreamErrorClassifier {
    /// The fields of a provider's error object.
    struct Details {
        var kinds: [String] = []
        var message: String?
        var status: Int?
    }

    /// The longest provider message kept in an `error` event.
    static let maxMessageBytes = 512

    /// Classifies an HTTP error response.
    public static func httpError(status: Int, body: ByteBuffer) -> StreamError {
        let json = try? JSONValue.parse(body.readableBytesView)
        let details = json.map(Self.details(of:)) ?? Details()
        var message = details.message
        if message == nil, json == nil, body.readableBytes > 0 {
            // Not JSON (a proxy's HTML page, say): keep a short, printable prefix.
            message = String(decoding: body.readableBytesView.prefix(200), as: UTF8.self)
        }
        return Self.classify(
            status: status, kinds: details.kinds,
            message: "the upstream answered HTTP \(status)" + (message.map { ": \($0)" } ?? ""))
    }

    /// Classifies an error object received inside a stream (`data: {"error":…}`, `event: error`, …).
    static func streamError(_ json: JSONValue) -> StreamError {
        let details = Self.details(of: json)
        return Self.classify(
            status: details.status, kinds: details.kinds,
            message: "the upstream reported an error mid-stream" + (details.message.map { ": \($0)" } ?? ""))
    }

    /// Reads type, code, status and message from any of the known error shapes.
    static func details(of json: JSONValue) -> Details {
        var details = Details()
        func collect(_ object: [String: JSONValue]) {
            for key in ["type", "code", "status", "error_type"] {
                if let kind = object[key]?.stringValue, kind != "error" { details.kinds.append(kind) }
            }
            for key in ["http_status_code", "code"] {
                if details.status == nil, let status = object[key]?.intValue, (100...599).contains(status) {
                    details.status = status
                }
            }
            if details.message == nil, let message = object["message"]?.stringValue { details.message = message }
        }
        guard let object = json.objectValue else { return details }
        switch object["error"] {
        case .object(let inner)?:
            collect(inner)
        case .string(let message)?:
            details.message = message
        default:
            break
        }
        collect(object)
        if let message = details.message { details.message = Self.cut(message) }
        return details
    }

    /// The classification proper.
    static func classify(status: Int?, kinds: [String], message: String) -> StreamError {
        let lowered = kinds.map { $0.lowercased() }
        let (code, retryable) = Self.code(status: status, kinds: lowered)
        return StreamError(code: code, message: Self.cut(message), retryable: retryable)
    }

    static func code(status: Int?, kinds: [String]) -> (String, Bool) {
        func has(_ needles: String...) -> Bool {
            kinds.contains { kind in needles.contains { kind.contains($0) } }
        }
        if has("insufficient_quota") { return (UpstreamErrorCode.rateLimited, false) }
        switch status {
        case 401?, 403?: return (UpstreamErrorCode.authFailed, false)
        case 429?: return (UpstreamErrorCode.rateLimited, true)
        case 529?: return (UpstreamErrorCode.overloaded, true)
        case 408?: return (UpstreamErrorCode.upstreamTimeout, true)
        case let status? where (400..<500).contains(status) && status != 409 && status != 424:
            // The provider rejected the request itself, whatever type it gives the error (409
            // conflicts and TGI's 424 generation failures are decided by their type below).
            return (UpstreamErrorCode.badRequest, false)
        default: break
        }
        if has("overloaded") { return (UpstreamErrorCode.overloaded, true) }
        if has("rate_limit", "too_many_requests", "resource_exhausted", "ratelimit") {
            return (UpstreamErrorCode.rateLimited, true)
        }
        if has("authentication", "permission", "unauthenticated", "invalid_api_key", "unauthorized") {
            return (UpstreamErrorCode.authFailed, false)
        }
        if has("timeout", "deadline_exceeded") { return (UpstreamErrorCode.upstreamTimeout, true) }
        if has(
            "invalid_request", "not_found", "invalid_argument", "validation", "request_too_large", "badrequest",
            "failed_precondition", "template_error", "tool_error", "notfound", "unprocessable")
        {
            return (UpstreamErrorCode.badRequest, false)
        }
        if has("server_error", "api_error", "internal", "unavailable", "generation", "service_unavailable") {
            return (UpstreamErrorCode.upstreamUnavailable, true)
        }
        switch status {
        case 408?, 504?: return (UpstreamErrorCode.upstreamTimeout, true)
        case let status? where status >= 500: return (UpstreamErrorCode.upstreamUnavailable, true)
        case let status? where status >= 400: return (UpstreamErrorCode.badRequest, false)
        default: return (UpstreamErrorCode.upstreamUnavailable, true)
        }
    }

    static func cut(_ message: String) -> String {
        guard message.utf8.count > Self.maxMessageBytes else { return message }
        var cut = Substring(message).prefix(Self.maxMessageBytes)
        while cut.utf8.count > Self.maxMessageBytes { cut = cut.dropLast() }
        return String(cut) + "…"
    }
}
