import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NewsroomCore
import NewsroomWire

/// The hub's control API over HTTP: publish events, list and end topics, start and cancel generations.
///
/// Requests go through AsyncHTTPClient (the shared client by default). For an `https://` hub, the
/// certificate is checked against the system's trust store, or as ``tls`` says.
///
/// - Note: AsyncHTTPClient's shared client retries a refused connection until the connect timeout
///   (10 s by default) before failing. A command-line tool that should fail at once passes its own
///   client, with `connectionPool.retryConnectionEstablishment = false`, as `newsroom publish` does.
public struct HubClient: Sendable {
    /// The hub's base URL, e.g. `http://127.0.0.1:8080`.
    public let baseURL: String
    /// How the hub's certificate is checked for an `https://` base URL (`nil`: the HTTP client's own
    /// configuration, by default the system's trust store). Subscriptions made by ``subscribe(to:transport:options:)``
    /// use it too.
    public let tls: ClientTLS?
    let http: HTTPClient
    let headers: [(String, String)]

    /// - Parameters:
    ///   - baseURL: The hub, e.g. `http://127.0.0.1:8080` or `https://hub.example:8443`.
    ///   - httpClient: The client to use; the shared one by default.
    ///   - tls: How to check the hub's certificate over `https://` (e.g.
    ///     ``ClientTLS/certificateAuthority(pemFile:)`` for a private CA); `nil` for the HTTP client's default.
    ///   - headers: Headers sent with every request (e.g. `authorization`).
    public init(
        baseURL: String, httpClient: HTTPClient = .shared, tls: ClientTLS? = nil, headers: [(String, String)] = []
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.http = httpClient
        self.tls = tls
        self.headers = headers
    }

    /// The hub's answer to a request.
    public struct Response: Sendable {
        public var status: Int
        public var body: ByteBuffer
        public var json: JSONValue? { try? JSONValue.parse(self.body.readableBytesView) }
    }

    /// Sends a request and collects the whole answer (up to 16 MiB).
    /// - Throws: ``HubConnectionError`` when the hub cannot be reached or the connection fails before
    ///   the answer is complete.
    public func request(
        _ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, contentType: String = "application/json",
        timeout: TimeAmount = .seconds(30)
    ) async throws -> Response {
        let url = self.baseURL + path
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let tls = self.tls, url.lowercased().hasPrefix("https://") {
            request.tlsConfiguration = tls.configuration()
        }
        for (name, value) in self.headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "content-type", value: contentType)
            request.body = .bytes(body)
        }
        do {
            let response = try await self.http.execute(request, timeout: timeout)
            let collected = try await response.body.collect(upTo: 16 << 20)
            return Response(status: Int(response.status.code), body: collected)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw HubConnectionError(url: url, underlying: error)
        }
    }

    /// Publishes a batch of events to a topic; returns the seq range the hub assigned.
    public func publish(_ payloads: [EventPayload], to topic: String) async throws -> ClosedRange<Int> {
        var body = ByteBuffer()
        for payload in payloads {
            EventJSON.writePublishable(payload, to: &body)
            body.writeStaticString("\n")
        }
        return try await self.publish(ndjson: body, to: topic)
    }

    /// Publishes NDJSON (one event object per line) to a topic.
    /// - Throws: ``HubClientError`` when the hub refuses (400 a bad event, 401/403 a token, 409 an ended
    ///   topic…); ``HubConnectionError`` when it cannot be reached.
    public func publish(ndjson: ByteBuffer, to topic: String) async throws -> ClosedRange<Int> {
        let response = try await self.request(
            .POST, "/v1/topics/\(topic)/events", body: ndjson, contentType: "application/x-ndjson")
        guard response.status == 202, let first = response.json?["first_seq"]?.intValue,
            let last = response.json?["last_seq"]?.intValue
        else {
            throw HubClientError(status: response.status, body: String(buffer: response.body))
        }
        return first...last
    }
}

/// The hub answered with an error.
public struct HubClientError: Error, CustomStringConvertible, Sendable {
    /// The HTTP status (0 for a request the client refused to make).
    public var status: Int
    /// The answer's body: for the hub, `{"error":{"code","message"}}`.
    public var body: String

    public init(status: Int, body: String) {
        self.status = status
        self.body = body
    }

    /// The hub's error code (`forbidden`, `topic_ended`…), when the body is the hub's error object.
    public var code: String? { HubErrorBody(self.body).code }
    /// The hub's explanation, or the body when it is not the hub's error object.
    public var message: String { HubErrorBody(self.body).message }

    /// `403 forbidden: no publish capability for 't'` (or `502: <body>` for an answer not from the hub).
    public var description: String {
        "\(self.status)" + (self.code.map { " \($0)" } ?? "") + ": \(self.message)"
    }
}
