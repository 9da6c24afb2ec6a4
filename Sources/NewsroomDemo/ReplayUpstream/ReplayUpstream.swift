import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NewsroomCore
import NewsroomWire
import Synchronization

/// A fake LLM provider: an HTTP/1.1 server on loopback that serves recorded transcripts with realistic
/// timing, misbehaves on request, and records what it saw.
///
/// It answers the providers' streaming endpoints — `POST /v1/chat/completions`, `/v1/responses`,
/// `/v1/messages`, `/generate_stream`, `/api/chat` and `/v1beta/models/{model}:streamGenerateContent` —
/// so a generation manager can be pointed at it by base URL alone.
///
/// **Choosing the transcript** (first match wins): the `x-replay-transcript` header
/// (`openai/parallel_tool_calls`); a `"replay_transcript"` string in the JSON body; the endpoint's
/// default (``Configuration/defaultTranscripts``: `openai/text`, `openai-responses/text`,
/// `anthropic/text`, `tgi/generate_stream`, `ollama/chat`, `gemini/text_crlf`). An unknown name gets a
/// 404 with a JSON error.
///
/// **Misbehaving**: the `x-replay-behavior` header or a `"replay_behavior"` body string (see
/// ``ReplayBehavior``): stall, cut the connection, fail the first attempts with 429/500 (with
/// `Retry-After`), send keep-alives, chunk randomly, change the timing.
///
/// **Recording**: ``requests`` lists every request with its headers (auth and `traceparent`
/// included), body, and when the response ended or the client closed the connection mid-response
/// (``RecordedRequest/clientClosedAt``) — tests assert that a cancelled generation closes its upstream
/// connection within 100 ms.
///
/// ```swift
/// let upstream = ReplayUpstream(transcripts: ReplayUpstream.embeddedTranscripts, eventLoopGroup: group)
/// let port = try await upstream.start()
/// // … point a provider at upstream.baseURL …
/// try await upstream.stop()
/// ```
///
/// Threading: each connection's handler lives on its channel's event loop; the recording is behind a
/// `Mutex` and may be read from any thread.
public final class ReplayUpstream: Sendable {
    /// Timing and defaults.
    public struct Configuration: Sendable {
        /// The address to bind; loopback by default. Port 0 picks a free port.
        public var host = "127.0.0.1"
        public var port = 0
        /// The pause between two events of a stream. Default 15 ms.
        public var eventDelay: TimeAmount = .milliseconds(15)
        /// The transcript served per endpoint when the request names none.
        public var defaultTranscripts: [String: String] = [
            "/v1/chat/completions": "openai/text",
            "/v1/responses": "openai-responses/text",
            "/v1/messages": "anthropic/text",
            "/generate_stream": "tgi/generate_stream",
            "/api/chat": "ollama/chat",
            "/v1beta/models": "gemini/text_crlf",
        ]
        /// When set, requests must carry this key (in `authorization: Bearer`, `x-api-key` or
        /// `x-goog-api-key`); others get a 401 in OpenAI's error shape.
        public var requiredAPIKey: String?

        public init() {}

        public static var defaults: Configuration { Configuration() }

        public static func defaults(configure: (inout Configuration) -> Void) -> Configuration {
            var configuration = Configuration()
            configure(&configuration)
            return configuration
        }
    }

    /// One request the server received, and what became of its response.
    public struct RecordedRequest: Sendable {
        public var id: Int
        public var method: String
        public var uri: String
        public var headers: [ReplayTranscript.Header]
        public var body: [UInt8]
        /// The transcript chosen, if any.
        public var transcript: String?
        /// The status answered.
        public var status: Int?
        public var receivedAt: NIODeadline
        /// When the server wrote the end of the response.
        public var completedAt: NIODeadline?
        /// When the client closed the connection while the response was still being sent.
        public var clientClosedAt: NIODeadline?
        /// Whether the server cut the connection on purpose (`cut-after`).
        public var cutByServer = false

        /// The first value of a header (case-insensitive).
        public func header(_ name: String) -> String? {
            self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        /// The body as a JSON value, if it is JSON.
        public var json: JSONValue? { try? JSONValue.parse(self.body) }
    }

    public let configuration: Configuration
    let transcripts: [String: ReplayTranscript]
    let eventLoopGroup: any EventLoopGroup

    struct State {
        var channel: (any Channel)?
        var requests: [RecordedRequest] = []
        var attempts: [String: Int] = [:]
    }

    let state = Mutex(State())

    /// Creates a server for `transcripts` (not yet listening).
    public init(
        transcripts: [ReplayTranscript] = ReplayUpstream.embeddedTranscripts, configuration: Configuration = .defaults,
        eventLoopGroup: any EventLoopGroup
    ) {
        var byName: [String: ReplayTranscript] = [:]
        for transcript in transcripts { byName[transcript.name] = transcript }
        self.transcripts = byName
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
    }

    /// Creates a server for the transcripts in `directory` (`<provider>/<case>.{sse,ndjson,http}`),
    /// on top of the embedded ones (a file replaces an embedded transcript of the same name).
    public convenience init(
        directory: URL, configuration: Configuration = .defaults, eventLoopGroup: any EventLoopGroup
    ) throws {
        var transcripts = ReplayUpstream.embeddedTranscripts
        let loaded = try ReplayTranscript.load(directory: directory)
        transcripts.removeAll { existing in loaded.contains { $0.name == existing.name } }
        transcripts += loaded
        self.init(transcripts: transcripts, configuration: configuration, eventLoopGroup: eventLoopGroup)
    }

    /// The names of the transcripts served.
    public var transcriptNames: [String] { self.transcripts.keys.sorted() }

    /// Starts listening.
    /// - Returns: The port.
    @discardableResult
    public func start() async throws -> Int {
        let channel = try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ReplayHandler(server: self))
                }
            }
            .bind(host: self.configuration.host, port: self.configuration.port)
            .get()
        self.state.withLock { $0.channel = channel }
        return channel.localAddress?.port ?? 0
    }

    /// The port, once started.
    public var port: Int {
        self.state.withLock { $0.channel?.localAddress?.port } ?? 0
    }

    /// `http://127.0.0.1:<port>`: the base URL to configure a provider with.
    public var baseURL: String { "http://\(self.configuration.host):\(self.port)" }

    /// Stops listening (open connections are closed with the server channel's children).
    public func stop() async throws {
        let channel = self.state.withLock { state -> (any Channel)? in
            defer { state.channel = nil }
            return state.channel
        }
        try await channel?.close()
    }

    /// Every request received so far, in order.
    public var requests: [RecordedRequest] { self.state.withLock { $0.requests } }

    /// The recorded requests as JSON (`GET /__replay/requests`): id, method, uri, headers (name → value,
    /// names lower-cased), transcript, status, and whether the client closed the connection early.
    func requestsJSON() -> String {
        var buffer = ByteBuffer()
        var items: [JSONValue] = []
        for request in self.requests {
            var headers: [String: JSONValue] = [:]
            for header in request.headers { headers[header.name.lowercased()] = .string(header.value) }
            items.append(
                .object([
                    "id": .int(request.id), "method": .string(request.method), "uri": .string(request.uri),
                    "headers": .object(headers), "transcript": request.transcript.map { .string($0) } ?? .null,
                    "status": request.status.map { .int($0) } ?? .null,
                    "client_closed": .bool(request.clientClosedAt != nil),
                    "body": .string(String(decoding: request.body, as: UTF8.self)),
                ]))
        }
        JSONValue.write(.array(items), to: &buffer)
        return String(buffer: buffer)
    }

    /// Forgets the attempt counters of `fail=` behaviours.
    public func resetAttempts() {
        self.state.withLock { $0.attempts.removeAll() }
    }

    /// Waits until `count` requests have arrived, or `timeout` passed.
    /// - Returns: The requests so far.
    @discardableResult
    public func waitForRequests(count: Int, timeout: TimeAmount = .seconds(5)) async -> [RecordedRequest] {
        await self.wait(timeout: timeout) { $0.count >= count }
    }

    /// Waits until the request with `id` has ended (completed, or closed by the client), or `timeout`.
    public func waitForEnd(ofRequest id: Int, timeout: TimeAmount = .seconds(5)) async -> RecordedRequest? {
        let requests = await self.wait(timeout: timeout) { requests in
            requests.first { $0.id == id }.map { $0.completedAt != nil || $0.clientClosedAt != nil || $0.cutByServer }
                ?? false
        }
        return requests.first { $0.id == id }
    }

    private func wait(timeout: TimeAmount, until done: ([RecordedRequest]) -> Bool) async -> [RecordedRequest] {
        let deadline = NIODeadline.now() + timeout
        while true {
            let requests = self.requests
            if done(requests) || NIODeadline.now() >= deadline { return requests }
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
    }

    // MARK: Used by the handler

    func record(_ request: RecordedRequest) -> Int {
        self.state.withLock { state in
            var request = request
            request.id = state.requests.count + 1
            state.requests.append(request)
            return request.id
        }
    }

    func update(request id: Int, _ body: (inout RecordedRequest) -> Void) {
        self.state.withLock { state in
            guard id >= 1, id <= state.requests.count else { return }
            body(&state.requests[id - 1])
        }
    }

    /// Counts an attempt at `key` and returns its number (1 for the first).
    func nextAttempt(_ key: String) -> Int {
        self.state.withLock { state in
            state.attempts[key, default: 0] += 1
            return state.attempts[key]!
        }
    }

    func transcript(named name: String) -> ReplayTranscript? { self.transcripts[name] }
}
