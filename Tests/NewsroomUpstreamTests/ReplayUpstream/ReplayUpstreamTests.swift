import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NewsroomCore
import NewsroomDemo
import NewsroomTesting
import Testing

@Suite("Replay upstream", .serialized)
struct ReplayUpstreamTests {
    func withServer(
        configure: (inout ReplayUpstream.Configuration) -> Void = { _ in },
        _ body: (ReplayUpstream, HTTPClient) async throws -> Void
    ) async throws {
        var configuration = ReplayUpstream.Configuration.defaults
        configuration.eventDelay = .milliseconds(1)
        configure(&configuration)
        let server = ReplayUpstream(
            transcripts: ReplayUpstream.embeddedTranscripts, configuration: configuration,
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        try await server.start()
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        do {
            try await body(server, client)
        } catch {
            try? await client.shutdown()
            try? await server.stop()
            throw error
        }
        try await client.shutdown()
        try await server.stop()
    }

    func post(
        _ client: HTTPClient, _ url: String, headers: [(String, String)] = [], body: String = #"{"stream":true}"#
    ) async throws -> (status: Int, headers: [(String, String)], body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers.map { ($0.name, $0.value) }, String(buffer: bytes))
    }

    @Test("serves the transcript named by header, by body field, or the endpoint's default; records the request")
    func choosesTranscripts() async throws {
        try await self.withServer { server, client in
            let byHeader = try await self.post(
                client, server.baseURL + "/v1/chat/completions",
                headers: [
                    ("x-replay-transcript", "openai/parallel_tool_calls"), ("authorization", "Bearer k"),
                    ("traceparent", "00-abc-def-01"),
                ])
            #expect(byHeader.status == 200)
            #expect(byHeader.body.contains("get_weather"))
            #expect(byHeader.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "text/event-stream" })
            let byBody = try await self.post(
                client, server.baseURL + "/api/chat", body: #"{"replay_transcript":"ollama/tool_calls"}"#)
            #expect(byBody.body.contains("Toronto"))
            let byDefault = try await self.post(
                client, server.baseURL + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
            #expect(byDefault.body.contains("Rayleigh"))
            #expect(byDefault.body.contains("\r\n\r\n"))
            let unknown = try await self.post(
                client, server.baseURL + "/v1/messages", headers: [("x-replay-transcript", "anthropic/nope")])
            #expect(unknown.status == 404)
            let httpError = try await self.post(
                client, server.baseURL + "/v1/chat/completions",
                headers: [("x-replay-transcript", "openai/http_error_429")])
            #expect(httpError.status == 429)
            #expect(httpError.headers.contains { $0.0.lowercased() == "retry-after" && $0.1 == "1" })
            let requests = server.requests
            #expect(requests.count == 5)
            #expect(requests.first?.header("authorization") == "Bearer k")
            #expect(requests.first?.header("traceparent") == "00-abc-def-01")
            #expect(requests.first?.transcript == "openai/parallel_tool_calls")
            #expect(requests.first?.completedAt != nil)
            #expect(requests[1].json?["replay_transcript"]?.stringValue == "ollama/tool_calls")
        }
    }

    @Test("keep-alives and random chunking leave the events intact")
    func keepAliveAndChunks() async throws {
        try await self.withServer { server, client in
            let plain = try await self.post(client, server.baseURL + "/v1/messages")
            let chunked = try await self.post(
                client, server.baseURL + "/v1/messages",
                headers: [("x-replay-behavior", "chunk=random:42,keepalive=10,delay=25")])
            #expect(chunked.body.contains(":\n\n"))
            #expect(chunked.body.replacingOccurrences(of: ":\n\n", with: "") == plain.body)
        }
    }

    @Test("fail=…xK answers K failures per transcript, then succeeds")
    func attemptCounter() async throws {
        try await self.withServer { server, client in
            let headers = [("x-replay-behavior", "fail=500x2")]
            let url = server.baseURL + "/v1/chat/completions"
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try await self.post(client, url, headers: headers).status) }
            server.resetAttempts()
            statuses.append(try await self.post(client, url, headers: headers).status)
            #expect(statuses == [500, 500, 200, 500])
        }
    }

    @Test("a required API key is checked")
    func requiredKey() async throws {
        try await self.withServer(configure: { $0.requiredAPIKey = "secret" }) { server, client in
            let url = server.baseURL + "/v1/messages"
            let none = try await self.post(client, url).status
            let xAPIKey = try await self.post(client, url, headers: [("x-api-key", "secret")]).status
            let bearer = try await self.post(client, url, headers: [("authorization", "Bearer secret")]).status
            let statuses: [Int] = [none, xAPIKey, bearer]
            #expect(statuses == [401, 200, 200])
        }
    }
}
