import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NewsroomCore
import NewsroomWire

/// The hub's control API over HTTP: publish events, list and end topics, start and cancel generations.
public struct HubClient: Sendable {
    /// The hub's base URL, e.g. `http://127.0.0.1:8080`.
    public let baseURL: String
    let http: HTTPClient
    let headers: [(String, String)]

    /// - Parameters:
    ///   - baseURL: The hub, e.g. `http://127.0.0.1:8080`.
    ///   - httpClient: The client to use; the shared one by default.
    ///   - headers: Headers sent with every request (e.g. `authorization`).
    public init(baseURL: String, httpClient: HTTPClient = .shared, headers: [(String, String)] = []) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.http = httpClient
        self.headers = headers
    }

    /// The hub's answer to a request.
    public struct Response: Sendable {
        public var status: Int
        public var body: ByteBuffer
        public var json: JSONValue? { try? JSONValue.parse(self.body.readableBytesView) }
    }

    /// Sends a request and collects the whole answer (up to 16 MiB).
    public func request(
        _ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, contentType: String = "application/json",
        timeout: TimeAmount = .seconds(30)
    ) async throws -> Response {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        for (name, value) in self.headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "content-type", value: contentType)
            request.body = .bytes(body)
        }
        let response = try await self.http.execute(request, timeout: timeout)
        let collected = try await response.body.collect(upTo: 16 << 20)
        return Response(status: Int(response.status.code), body: collected)
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
    public var status: Int
    public var body: String
    public var description: String { "HTTP \(self.status): \(self.body)" }
}
