import NIOCore
import NewsroomCore
import NewsroomWire
import Testing

@Suite struct EventJSONTests {
    let ts = Timestamp(millisecondsSince1970: 1_795_613_908_123)

    func json(_ seq: Int?, _ payload: EventPayload) -> String {
        EventJSON.string(Event(seq: seq, topic: "chat:42", timestamp: self.ts, payload: payload))
    }

    @Test func everyTypeHasItsDocumentedShape() {
        let prefix = #""topic":"chat:42","ts":"2026-11-25T13:38:28.123Z""#
        #expect(
            self.json(1, .streamStart(StreamStart(generation: "gen_1", provider: "openai", model: nil)))
                == #"{"seq":1,"type":"stream_start","# + prefix + #","generation":"gen_1","provider":"openai","model":null}"#)
        #expect(
            self.json(2, .textDelta(TextDelta(text: "Hi \"there\"\n", index: 0)))
                == #"{"seq":2,"type":"text_delta","# + prefix + #","text":"Hi \"there\"\n","index":0}"#)
        #expect(
            self.json(3, .reasoningDelta(ReasoningDelta(text: "hmm", index: 1)))
                == #"{"seq":3,"type":"reasoning_delta","# + prefix + #","text":"hmm","index":1}"#)
        #expect(
            self.json(4, .toolCallDelta(ToolCallDelta(index: 0, callID: "call_1", name: "f", argumentsDelta: "{\"a\"")))
                == #"{"seq":4,"type":"tool_call_delta","# + prefix
                + #","index":0,"call_id":"call_1","name":"f","arguments_delta":"{\"a\""}"#)
        #expect(
            self.json(5, .toolCallDelta(ToolCallDelta(index: 0, callID: "call_1", argumentsDelta: ":1}")))
                == #"{"seq":5,"type":"tool_call_delta","# + prefix + #","index":0,"call_id":"call_1","arguments_delta":":1}"}"#)
        #expect(
            self.json(6, .toolCall(ToolCall(index: 0, callID: "call_1", name: "f", arguments: "{\"a\":1}")))
                == #"{"seq":6,"type":"tool_call","# + prefix + #","index":0,"call_id":"call_1","name":"f","arguments":"{\"a\":1}"}"#)
        #expect(
            self.json(
                7,
                .streamComplete(
                    StreamComplete(
                        finishReason: .stop, providerFinishReason: "end_turn",
                        usage: Usage(inputTokens: 10, outputTokens: 20))))
                == #"{"seq":7,"type":"stream_complete","# + prefix
                + #","finish_reason":"stop","provider_finish_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":20}}"#)
        #expect(
            self.json(8, .streamComplete(StreamComplete(finishReason: .cancelled)))
                == #"{"seq":8,"type":"stream_complete","# + prefix
                + #","finish_reason":"cancelled","provider_finish_reason":null,"usage":null}"#)
        #expect(
            self.json(9, .error(StreamError(code: "rate_limited", message: "slow down", retryable: true)))
                == #"{"seq":9,"type":"error","# + prefix + #","code":"rate_limited","message":"slow down","retryable":true}"#)
        #expect(
            self.json(nil, .heartbeat(Heartbeat(lastSeq: 9, state: .streaming)))
                == #"{"type":"heartbeat","# + prefix + #","last_seq":9,"state":"streaming"}"#)
        #expect(self.json(nil, .gap(Gap(from: 3, to: 7))) == #"{"type":"gap","# + prefix + #","from":3,"to":7}"#)
    }

    @Test func controlCharactersAreEscapedSoNoRawNewlineReachesTheWire() {
        let json = self.json(1, .textDelta(TextDelta(text: "a\r\nb\u{0}c\u{1F}d\te\\")))
        #expect(!json.contains("\n") && !json.contains("\r"))
        #expect(json.contains(#""text":"a\r\nb\u0000c\u001fd\te\\""#))
    }

    @Test func nonASCIIIsKeptAsUTF8() {
        #expect(self.json(1, .textDelta(TextDelta(text: "héllo 👋"))).contains("héllo 👋"))
    }

    @Test func broadcastJSONRoundTrips() throws {
        let payloads: [EventPayload] = [
            .streamStart(StreamStart(generation: nil, provider: "p", model: "m")),
            .textDelta(TextDelta(text: "x", index: 2)),
            .toolCallDelta(ToolCallDelta(index: 1, callID: "c", name: nil, argumentsDelta: "")),
            .streamComplete(StreamComplete(finishReason: .toolCalls, providerFinishReason: nil, usage: nil)),
            .heartbeat(Heartbeat(lastSeq: 0, state: .waiting)),
            .gap(Gap(from: 1, to: 1)),
            .generationStarted(GenerationStarted(generation: "g", answerTopic: "a", provider: nil, model: "m", prompt: "hi")),
            .generationEnded(GenerationEnded(generation: "g", answerTopic: "a", finishReason: .cancelled, usage: nil)),
        ]
        for payload in payloads {
            let event = Event(seq: 5, topic: "t", timestamp: self.ts, payload: payload)
            let decoded = try EventDecoder.decodeBroadcast(Array(EventJSON.string(event).utf8))
            #expect(decoded == event)
        }
    }

    @Test func publishableFormHasNoEnvelope() throws {
        var buffer = ByteBuffer()
        EventJSON.writePublishable(.textDelta(TextDelta(text: "hi")), to: &buffer)
        #expect(String(buffer: buffer) == #"{"type":"text_delta","text":"hi","index":0}"#)
        #expect(try EventDecoder.decode(buffer.readableBytesView) == .textDelta(TextDelta(text: "hi")))
    }
}
