import NIOCore
import NewsroomCore
import NewsroomDemo
import Testing

@testable import NewsroomUpstream

/// Non-streaming answers (a proxied request without `stream: true`) become the events a stream of the
/// same answer would have given.
@Suite("Whole answers: events like a stream's")
struct CompleteResponsesTests {
    let context = UpstreamStreamContext(generation: "gen_1", provider: "p", requestedModel: "asked")

    func events(_ adapter: String, _ json: String) throws -> [EventPayload] {
        CompleteResponses.events(adapter: adapter, json: try JSONValue.parse(Array(json.utf8)), context: self.context)
    }

    @Test func aChatCompletionWithTextAndToolCalls() throws {
        let events = try self.events(
            "openai",
            #"{"object":"chat.completion","model":"gpt-x","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#
        )
        #expect(
            events == [
                .streamStart(StreamStart(generation: "gen_1", provider: "p", model: "gpt-x")),
                .textDelta(TextDelta(text: "Hi")),
                .toolCall(ToolCall(index: 0, callID: "c1", name: "f", arguments: #"{"a":1}"#)),
                .streamComplete(
                    StreamComplete(
                        finishReason: .toolCalls, providerFinishReason: "tool_calls",
                        usage: Usage(inputTokens: 3, outputTokens: 4))),
            ])
    }

    @Test func aResponseThatIsIncomplete() throws {
        let events = try self.events(
            "openai-responses",
            #"{"object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"model":"m","output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"think"}]},{"type":"message","content":[{"type":"output_text","text":"par"}]}],"usage":{"input_tokens":1,"output_tokens":2}}"#
        )
        #expect(events.count == 4)
        #expect(events[1] == .reasoningDelta(ReasoningDelta(text: "think")))
        #expect(events[2] == .textDelta(TextDelta(text: "par")))
        guard case .streamComplete(let complete) = events[3] else {
            Issue.record("no end: \(events)")
            return
        }
        #expect(complete.finishReason == .length && complete.providerFinishReason == "max_output_tokens")
    }

    @Test func anAnthropicMessageWithThinkingAndToolUse() throws {
        let events = try self.events(
            "anthropic",
            #"{"type":"message","model":"claude","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Sure"},{"type":"tool_use","id":"t1","name":"get","input":{"city":"Paris"}}],"stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":6}}"#
        )
        #expect(events[1] == .reasoningDelta(ReasoningDelta(text: "hm")))
        #expect(events[2] == .textDelta(TextDelta(text: "Sure")))
        #expect(events[3] == .toolCall(ToolCall(index: 0, callID: "t1", name: "get", arguments: #"{"city":"Paris"}"#)))
        guard case .streamComplete(let complete) = events[4] else {
            Issue.record("no end: \(events)")
            return
        }
        #expect(complete.finishReason == .toolCalls && complete.usage == Usage(inputTokens: 5, outputTokens: 6))
    }

    @Test func anErrorObjectOrAnUnknownShapeEndsWithAnError() throws {
        for json in [#"{"error":{"message":"no","type":"server_error"}}"#, #"{"what":1}"#, "[1]"] {
            let events = try self.events("openai", json)
            #expect(events.map(\.type).suffix(2) == [.error, .streamComplete], "\(json)")
        }
    }
    /// The replay upstream's whole-answer twins decode to the answer their streaming sibling gives, when
    /// there is one (the proxy serves them to callers that do not ask for a stream).
    @Test func theReplayTwinsDecodeWhole() throws {
        let twins = ReplayUpstream.embeddedTranscripts.filter { $0.name.hasSuffix("_json") }
        #expect(twins.count >= 5)
        for twin in twins {
            guard case .response(let status, _, let body) = twin.content else {
                Issue.record("\(twin.name) is not a whole response")
                continue
            }
            #expect(status == 200)
            let provider = String(twin.name.prefix { $0 != "/" })
            let adapter = provider == "openai-responses" ? "openai-responses" : provider
            let events = CompleteResponses.events(
                adapter: adapter, json: try JSONValue.parse(body), context: self.context)
            #expect(events.first?.type == .streamStart, "\(twin.name)")
            #expect(events.last?.type == .streamComplete, "\(twin.name)")
            #expect(!events.contains { $0.type == .error }, "\(twin.name): \(events)")
            let assembled = AssembledStream(events)
            #expect(!assembled.text.isEmpty || !assembled.calls.isEmpty, "\(twin.name)")
            let siblingName = String(twin.name.dropLast("_json".count))
            if let sibling = TranscriptFixtures.all.first(where: { $0.name == siblingName }) {
                let streamed = AssembledStream(try TranscriptFixtures.expected(sibling))
                #expect(assembled.text == streamed.text, "\(twin.name)")
                #expect(assembled.calls.map(\.name) == streamed.calls.map(\.name), "\(twin.name)")
            }
        }
    }
}
