import NIOHTTP1

/// Which browser origins may use the API (CORS, the Fetch standard's "CORS protocol") and open
/// WebSockets (RFC 6455 section 10.2: servers check `Origin` to refuse cross-site sockets).
///
/// With no allowed origin configured, no CORS header is sent and WebSocket origins are not checked
/// (non-browser clients send no `Origin`); `*` allows any origin.
struct CORSPolicy: Sendable {
    let allowedOrigins: [String]

    /// The request headers a browser may send cross-origin: what `EventSource`, `fetch` with a token,
    /// and tracing libraries use.
    static let allowedHeaders =
        "authorization, content-type, last-event-id, traceparent, tracestate, x-grpc-web, x-user-agent, grpc-timeout"

    /// The response headers a gRPC-Web client must be able to read cross-origin (its status).
    static let grpcWebExposedHeaders = "grpc-status, grpc-message, newsroom-code"

    var isEnabled: Bool { !self.allowedOrigins.isEmpty }

    /// Whether `origin` may use the API from a browser.
    func allows(origin: String) -> Bool {
        self.allowedOrigins.contains("*") || self.allowedOrigins.contains(origin)
    }

    /// The CORS response headers for the request's `Origin`, if it is allowed.
    func responseHeaders(for head: HTTPRequestHead) -> [(String, String)] {
        guard self.isEnabled, let origin = head.headers.first(name: "origin"), self.allows(origin: origin) else {
            return []
        }
        return [("access-control-allow-origin", origin), ("vary", "Origin")]
    }

    /// The answer to a preflight (`OPTIONS`) for a route that takes `methods`.
    func preflight(_ head: HTTPRequestHead, methods: [HTTPMethod]) -> HTTPResponse {
        let cors = self.responseHeaders(for: head)
        guard !cors.isEmpty else {
            return HTTPResponse(error: .forbidden, code: "origin_not_allowed", message: "this origin may not call the API")
        }
        let allowed = (methods + [.OPTIONS]).map(\.rawValue).joined(separator: ", ")
        return HTTPResponse(
            status: .noContent,
            headers: cors + [
                ("access-control-allow-methods", allowed),
                ("access-control-allow-headers", Self.allowedHeaders),
                ("access-control-max-age", "600"),
            ])
    }

    /// Whether a WebSocket upgrade from this request's `Origin` may proceed.
    func allowsWebSocket(_ head: HTTPRequestHead) -> Bool {
        guard self.isEnabled, let origin = head.headers.first(name: "origin") else { return true }
        return self.allows(origin: origin)
    }
}
