import NIOCore
import NIOHTTP1
import NewsroomCore
import NewsroomDemo
import NewsroomTesting
import Testing

@testable import NewsroomUpstream

@Suite("Adapters: requests, errors, keys")
struct AdapterTests {
    let provider = UpstreamProvider(
        id: "p", baseURL: "http://127.0.0.1:9/", apiKey: "sk-abc12345678", headers: ["X-Extra": "1"])

    func body(_ request: UpstreamRequest) throws -> JSONValue {
        try JSONValue.parse(request.body.readableBytesView)
    }

    func header(_ request: UpstreamRequest, _ name: String) -> String? {
        request.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    @Test("OpenAI: stream and include_usage forced, other stream_options kept, Bearer key")
    func openAIRequest() throws {
        let request = try OpenAIChatAdapter().makeRequest(
            body: .object([
                "model": .string("gpt-4o"), "stream": .bool(false),
                "stream_options": .object(["include_obfuscation": .bool(false)]), "temperature": .double(0.5),
            ]), provider: self.provider)
        #expect(request.url == "http://127.0.0.1:9/v1/chat/completions")
        #expect(request.model == "gpt-4o")
        let body = try self.body(request)
        #expect(body["stream"] == .bool(true))
        #expect(body["stream_options"] == .object(["include_obfuscation": .bool(false), "include_usage": .bool(true)]))
        #expect(body["temperature"] == .double(0.5))
        #expect(self.header(request, "authorization") == "Bearer sk-abc12345678")
        #expect(self.header(request, "X-Extra") == "1")
        #expect(self.header(request, "content-type") == "application/json")
    }

    @Test("extra headers replace the adapter's (e.g. a newer anthropic-version)")
    func extraHeadersWin() throws {
        var provider = self.provider
        provider.headers = ["anthropic-version": "2099-01-01"]
        let request = try AnthropicAdapter().makeRequest(body: .object([:]), provider: provider)
        #expect(request.headers.filter { $0.0.lowercased() == "anthropic-version" }.map(\.1) == ["2099-01-01"])
        #expect(self.header(request, "x-api-key") == "sk-abc12345678")
    }

    @Test("no key configured: no auth header")
    func noKey() throws {
        let provider = UpstreamProvider(id: "vllm", baseURL: "http://h", apiKey: nil)
        for adapter in UpstreamAdapters.names.compactMap(UpstreamAdapters.adapter(named:)) {
            let request = try adapter.makeRequest(body: .object(["model": .string("m")]), provider: provider)
            for name in ["authorization", "x-api-key", "x-goog-api-key"] {
                #expect(self.header(request, name) == nil, "\(adapter.name) sent \(name)")
            }
        }
    }

    @Test("Gemini: model into the URL, removed from the body, models/ prefix dropped")
    func geminiRequest() throws {
        let request = try GeminiAdapter().makeRequest(
            body: .object(["model": .string("models/gemini-2.5-pro"), "contents": .array([])]), provider: self.provider)
        #expect(request.url == "http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
        #expect(try self.body(request) == .object(["contents": .array([])]))
        #expect(self.header(request, "x-goog-api-key") == "sk-abc12345678")
    }

    @Test("TGI: details requested unless the client set it")
    func tgiRequest() throws {
        let adapter = TGIAdapter()
        let forced = try adapter.makeRequest(body: .object(["inputs": .string("x")]), provider: self.provider)
        #expect(try self.body(forced)["parameters"] == .object(["details": .bool(true)]))
        let kept = try adapter.makeRequest(
            body: .object(["parameters": .object(["details": .bool(false)])]), provider: self.provider)
        #expect(try self.body(kept)["parameters"] == .object(["details": .bool(false)]))
    }

    @Test(
        "HTTP errors classify by status, then by the provider's error type",
        arguments: [
            (400, #"{"error":{"message":"m","type":"invalid_request_error"}}"#, "bad_request", false),
            (
                401, #"{"error":{"message":"m","type":"invalid_request_error","code":"invalid_api_key"}}"#,
                "auth_failed", false
            ),
            (403, #"{"type":"error","error":{"type":"permission_error","message":"m"}}"#, "auth_failed", false),
            (404, #"{"error":"model not found"}"#, "bad_request", false),
            (429, #"{"error":{"message":"m","type":"requests","code":"rate_limit_exceeded"}}"#, "rate_limited", true),
            (
                429, #"{"error":{"message":"m","type":"insufficient_quota","code":"insufficient_quota"}}"#,
                "rate_limited", false
            ),
            (429, #"{"error":"Model is overloaded","error_type":"overloaded"}"#, "rate_limited", true),
            (500, #"{"error":{"message":"m","type":"server_error"}}"#, "upstream_unavailable", true),
            (502, "<html>Bad gateway</html>", "upstream_unavailable", true),
            (503, #"{"error":{"code":503,"message":"m","status":"UNAVAILABLE"}}"#, "upstream_unavailable", true),
            (504, "", "upstream_timeout", true),
            (529, #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, "overloaded", true),
            (422, #"{"error":"Input validation error","error_type":"validation"}"#, "bad_request", false),
            (
                424, #"{"error":"Request failed during generation","error_type":"generation"}"#, "upstream_unavailable",
                true
            ),
        ])
    func httpErrors(status: Int, body: String, code: String, retryable: Bool) {
        let error = UpstreamErrorClassifier.httpError(status: status, body: ByteBuffer(string: body))
        #expect(error.code == code)
        #expect(error.retryable == retryable)
        #expect(error.message.hasPrefix("the upstream answered HTTP \(status)"))
    }

    @Test("long provider messages are cut")
    func longMessages() {
        let body = #"{"error":{"message":""# + String(repeating: "é", count: 2000) + #""}}"#
        let error = UpstreamErrorClassifier.httpError(status: 500, body: ByteBuffer(string: body))
        #expect(error.message.utf8.count < 700)
    }

    @Test("the redactor removes the configured key and key-like words")
    func redactor() {
        let redactor = SecretRedactor(secrets: ["my-secret-value-123", nil])
        #expect(redactor.redact("bad key my-secret-value-123!") == "bad key [redacted]!")
        #expect(
            redactor.redact("Incorrect API key provided: sk-proj-****************************abcd. See docs.")
                == "Incorrect API key provided: [redacted]. See docs.")
        #expect(redactor.redact("key AIzaSyD-abcdefghijklmnop in url") == "key [redacted] in url")
        #expect(redactor.redact("ask-me about sk-short") == "ask-me about sk-short")
        #expect(redactor.redact("plain text") == "plain text")
    }

    @Test("Retry-After: retry-after-ms first, then seconds, then an HTTP-date")
    func retryAfter() {
        #expect(
            RetryAfter.delay(from: HTTPHeaders([("retry-after-ms", "250"), ("retry-after", "3")])) == .milliseconds(250)
        )
        #expect(RetryAfter.delay(from: HTTPHeaders([("retry-after", "1.5")])) == .milliseconds(1500))
        #expect(RetryAfter.delay(from: HTTPHeaders([("retry-after", "soon")])) == nil)
        #expect(RetryAfter.delay(from: HTTPHeaders()) == nil)
        #expect(RetryAfter.httpDate("Wed, 21 Oct 2015 07:28:00 GMT") == 1_445_412_480)
        #expect(RetryAfter.httpDate("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
    }

    @Test("backoff grows exponentially, is capped, and jitters within bounds")
    func backoff() {
        var policy = GenerationManager.RetryPolicy()
        policy.initialBackoff = .milliseconds(100)
        policy.maxBackoff = .milliseconds(1000)
        policy.jitter = 0.2
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let first = policy.backoff(retry: 1, using: &generator)
            #expect(first >= .milliseconds(80) && first <= .milliseconds(100))
            let third = policy.backoff(retry: 3, using: &generator)
            #expect(third >= .milliseconds(320) && third <= .milliseconds(400))
            let capped = policy.backoff(retry: 20, using: &generator)
            #expect(capped >= .milliseconds(800) && capped <= .milliseconds(1000))
        }
    }

    @Test("unparseable chunks are skipped and counted, never surfaced as text")
    func skipsGarbage() {
        var decoder = OpenAIChatAdapter().makeDecoder(
            context: UpstreamStreamContext(generation: "g", provider: "openai", requestedModel: "m"))
        var events = decoder.decode(ByteBuffer(string: "data: {not json\n\n: comment\n\ndata: [1,2]\n\n"))
        events += decoder.decode(
            ByteBuffer(string: #"data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}"# + "\n\ndata: [DONE]\n\n"))
        #expect(decoder.skippedChunks == 2)
        #expect(AssembledStream(events).text == "ok")
        #expect(decoder.isFinished)
        // Bytes after the end are ignored.
        #expect(
            decoder.decode(ByteBuffer(string: #"data: {"choices":[{"delta":{"content":"late"}}]}"# + "\n\n")).isEmpty)
        #expect(decoder.finish().isEmpty)
    }

    @Test("Anthropic server tool use is not a client tool call; unknown events are ignored")
    func anthropicServerTools() {
        var decoder = AnthropicAdapter().makeDecoder(
            context: UpstreamStreamContext(generation: "g", provider: "anthropic", requestedModel: nil))
        let stream = [
            #"{"type":"message_start","message":{"model":"claude","usage":{"input_tokens":5,"output_tokens":1}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"x\"}"}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"brand_new_event","index":1}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Found it."}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#,
            #"{"type":"message_stop"}"#,
        ].map { "event: x\ndata: \($0)\n\n" }.joined()
        let assembled = AssembledStream(decoder.decode(ByteBuffer(string: stream)) + decoder.finish())
        #expect(assembled.calls.isEmpty)
        #expect(assembled.text == "Found it.")
        #expect(assembled.finishReason == .stop)
        #expect(assembled.usage == Usage(inputTokens: 5, outputTokens: 9))
    }

    @Test("the embedded transcripts parse and split into events")
    func embedded() {
        let names = Set(ReplayUpstream.embeddedTranscripts.map(\.name))
        for provider in ["openai", "vllm", "tgi-chat", "openai-responses", "anthropic", "tgi", "ollama", "gemini"] {
            #expect(names.contains { $0.hasPrefix(provider + "/") }, "no embedded transcript for \(provider)")
        }
        // The embedded copies equal the test files (the whole-answer twins `<name>_json` have none: they
        // are checked by `CompleteResponsesTests`).
        for transcript in ReplayUpstream.embeddedTranscripts where !transcript.name.hasSuffix("_json") {
            #expect(transcript == TranscriptFixtures.transcript(transcript.name), "\(transcript.name) differs")
        }
        let text = TranscriptFixtures.transcript("openai/text")
        #expect(text.events.count == 16)
        #expect(text.events.joined().elementsEqual(TranscriptFixtures.body(text)))
        let crlf = TranscriptFixtures.transcript("gemini/text_crlf")
        #expect(crlf.events.count == 4)
    }
}
