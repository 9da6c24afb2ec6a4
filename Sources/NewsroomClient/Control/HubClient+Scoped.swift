import AsyncHTTPClient
import NIOCore

/// Runs `body` with a ``HubClient`` on an HTTP client of its own that fails at once when the hub cannot
/// be reached, and shuts that client down when `body` returns or throws.
///
/// AsyncHTTPClient's shared client retries a refused connection until its connect timeout; this one
/// does not (`connectionPool.retryConnectionEstablishment = false`), so a hub that is down is reported
/// in milliseconds, as a command-line tool should.
///
/// ```swift
/// try await withHubClient(baseURL: "https://hub.internal:8443", tls: .certificateAuthority(pemFile: "ca.pem")) { hub in
///     _ = try await hub.publish(.textDelta(TextDelta(text: "hi")), to: "chat:42")
/// }
/// ```
///
/// - Parameters:
///   - baseURL: The hub, e.g. `http://127.0.0.1:8080` or `https://hub.example:8443`.
///   - tls: How to check the hub's certificate over `https://` (`nil`: the system's trust store).
///   - headers: Headers sent with every request (e.g. `authorization`).
///   - connectTimeout: The longest wait for a connection (a host that does not answer at all). Default 5 s.
/// - Returns: What `body` returns.
public func withHubClient<Result: Sendable>(
    baseURL: String, tls: ClientTLS? = nil, headers: [(String, String)] = [],
    connectTimeout: TimeAmount = .seconds(5), _ body: (HubClient) async throws -> Result
) async throws -> Result {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.timeout.connect = connectTimeout
    let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    let result: Swift.Result<Result, any Error>
    do {
        result = .success(try await body(HubClient(baseURL: baseURL, httpClient: http, tls: tls, headers: headers)))
    } catch {
        result = .failure(error)
    }
    try? await http.shutdown()
    return try result.get()
}
