import NIOCore
import NewsroomCore
import NewsroomWire

/// One provider's wire format: how to ask it for a stream, and how to read the stream it sends back.
///
/// An adapter is stateless and shared by every generation of its provider. The per-stream state lives in
/// the ``UpstreamDecoder`` it makes for each response, so the same adapter can serve any number of
/// concurrent generations.
///
/// Adapters never do I/O: ``makeRequest(body:provider:)`` returns a description of the request that the
/// ``GenerationManager`` sends, and the decoder turns bytes into ``EventPayload``s that the manager
/// publishes. That keeps every format testable by feeding recorded transcripts, byte by byte.
public protocol UpstreamAdapter: Sendable {
    /// The adapter's own name (`openai`, `anthropic`, …); several provider ids may share one adapter.
    var name: String { get }

    /// Builds the upstream request for a client's request body.
    ///
    /// Streaming is forced (`"stream": true`, and for OpenAI-compatible servers
    /// `stream_options.include_usage`); everything else in the body is passed through unchanged. The API
    /// key goes only in the provider's own header.
    /// - Parameters:
    ///   - body: The provider's own request body, as the client sent it.
    ///   - provider: The provider id and its configuration (base URL, key, extra headers).
    /// - Throws: ``GenerationError/Code/badRequest`` when the body cannot be sent (not an object, or a
    ///   field the adapter needs is missing).
    func makeRequest(body: JSONValue, provider: UpstreamProvider) throws(GenerationError) -> UpstreamRequest

    /// Makes the decoder for one response stream.
    func makeDecoder(context: UpstreamStreamContext) -> any UpstreamDecoder

    /// Turns an HTTP error response (a non-2xx status, answered before any stream) into an `error` event.
    ///
    /// The default reads the common JSON error shapes (PROVIDERS.md §7) and classifies by status first,
    /// then by the provider's error type.
    func classifyHTTPError(status: Int, body: ByteBuffer) -> StreamError
}

extension UpstreamAdapter {
    public func classifyHTTPError(status: Int, body: ByteBuffer) -> StreamError {
        UpstreamErrorClassifier.httpError(status: status, body: body)
    }
}

/// A configured provider as an adapter sees it.
public struct UpstreamProvider: Sendable {
    /// The provider id the client asked for (`openai`, `vllm`, …).
    public var id: String
    /// The base URL without a trailing slash, e.g. `https://api.openai.com`.
    public var baseURL: String
    /// The API key, if any; adapters put it in the provider's auth header and nowhere else.
    public var apiKey: String?
    /// Extra headers sent with every request (they replace an adapter's header of the same name).
    public var headers: [String: String]

    public init(id: String, baseURL: String, apiKey: String?, headers: [String: String] = [:]) {
        self.id = id
        var baseURL = baseURL
        while baseURL.hasSuffix("/") { baseURL.removeLast() }
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.headers = headers
    }
}

/// The upstream HTTP request an adapter asks for. Always a `POST` with a JSON body.
public struct UpstreamRequest: Sendable {
    /// The full URL.
    public var url: String
    /// Headers, including the auth header and `content-type`.
    public var headers: [(String, String)]
    /// The JSON body.
    public var body: ByteBuffer
    /// The model named in the request, if the body (or URL) named one.
    public var model: String?

    public init(url: String, headers: [(String, String)], body: ByteBuffer, model: String?) {
        self.url = url
        self.headers = headers
        self.body = body
        self.model = model
    }

    /// Builds a JSON request: `content-type`, `accept`, the adapter's auth headers, then the provider's
    /// extra headers (which replace any header of the same name).
    static func json(
        url: String, body: JSONValue, model: String?, accept: String, auth: [(String, String)],
        provider: UpstreamProvider
    ) -> UpstreamRequest {
        var headers: [(String, String)] = [("content-type", "application/json"), ("accept", accept)]
        headers += auth
        for (name, value) in provider.headers.sorted(by: { $0.key < $1.key }) {
            headers.removeAll { $0.0.lowercased() == name.lowercased() }
            headers.append((name, value))
        }
        var buffer = ByteBuffer()
        body.write(to: &buffer)
        return UpstreamRequest(url: url, headers: headers, body: buffer, model: model)
    }
}

/// What a decoder knows about the stream it reads.
public struct UpstreamStreamContext: Sendable, Hashable {
    /// The hub's generation id, put in `stream_start`.
    public var generation: String
    /// The provider id, put in `stream_start`.
    public var provider: String
    /// The model the request named; used in `stream_start` when the stream itself does not say.
    public var requestedModel: String?

    public init(generation: String, provider: String, requestedModel: String?) {
        self.generation = generation
        self.provider = provider
        self.requestedModel = requestedModel
    }
}

/// An incremental decoder for one upstream response body: bytes in, standard events out.
///
/// Correct however the bytes are chunked (a chunk may end inside a line, a CRLF or a UTF-8 character).
/// The events returned for one chunk belong together and are published as one batch. Once the decoder
/// has returned `stream_complete` (``isFinished``), it ignores any further bytes.
///
/// Not thread-safe: one decoder serves one stream, driven by one task.
public protocol UpstreamDecoder {
    /// Decodes the bytes of `buffer` and returns the events they complete (possibly none).
    mutating func decode(_ buffer: ByteBuffer) -> [EventPayload]

    /// Ends the stream at the body's end. A stream that did not reach its success terminator yields an
    /// `error` (`upstream_protocol`, truncated) and `stream_complete(error)`; the output before stays.
    mutating func finish() -> [EventPayload]

    /// Whether `stream_complete` has been returned.
    var isFinished: Bool { get }

    /// Chunks (SSE events or NDJSON lines) that could not be parsed and were skipped.
    var skippedChunks: Int { get }
}

extension UpstreamStreamContext {
    /// The events of a generation that failed before any stream: `stream_start`, the `error`, and
    /// `stream_complete(error)`.
    public func failureEvents(_ error: StreamError) -> [EventPayload] {
        var assembler = StreamAssembler(context: self)
        assembler.fail(error)
        return assembler.drain()
    }
}
