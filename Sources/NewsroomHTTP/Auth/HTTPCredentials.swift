import NIOHTTP1
import NewsroomControl

/// Where a request carries its token: `Authorization: Bearer …`, or `?token=` (a browser's
/// `EventSource` and `WebSocket` cannot set headers).
enum HTTPCredentials {
    /// The request's bearer token, if any.
    /// - Parameter target: The request's target if it was parsed already (read only without a bearer header).
    static func token(of head: HTTPRequestHead, target: RequestTarget? = nil) -> String? {
        if let token = Credentials.bearerToken(authorization: head.headers.first(name: "authorization")) {
            return token
        }
        return (target ?? RequestTarget(head.uri)).query["token"]
    }

    /// The W3C trace-context headers of a request, to continue the caller's trace upstream.
    static func traceHeaders(of head: HTTPRequestHead) -> [(String, String)] {
        ["traceparent", "tracestate"].compactMap { name in head.headers.first(name: name).map { (name, $0) } }
    }
}
