import NIOCore
import NewsroomCore
import NewsroomWire
import Testing

@Suite struct EventDecoderTests {
    @Test(arguments: [
        (#"{"type":"text_delta","text":"a"}"#, EventPayload.textDelta(TextDelta(text: "a"))),
        (#"{"type":"text_delta","text":"a","index":2}"#, .textDelta(TextDelta(text: "a", index: 2))),
        (#"{"type":"reasoning_delta","text":"r"}"#, .reasoningDelta(ReasoningDelta(text: "r"))),
        (#"{"type":"stream_start"}"#, .streamStart(StreamStart())),
        (#"{"type":"stream_start","generation":null,"provider":"p","model":"m"}"#, .streamStart(StreamStart(provider: "p", model: "m"))),
        (
            #"{"type":"tool_call_delta","call_id":"c","name":"f","arguments_delta":"{"}"#,
            .toolCallDelta(ToolCallDelta(index: 0, callID: "c", name: "f", argumentsDelta: "{"))
        ),
        (
            #"{"type":"tool_call","index":1,"call_id":"c","name":"f","arguments":"{}"}"#,
            .toolCall(ToolCall(index: 1, callID: "c", name: "f", arguments: "{}"))
        ),
        (
            #"{"type":"stream_complete","finish_reason":"length","usage":{"input_tokens":1,"output_tokens":null}}"#,
            .streamComplete(StreamComplete(finishReason: .length, usage: Usage(inputTokens: 1, outputTokens: nil)))
        ),
        (
            #"{"type":"error","code":"rate_limited","message":"m","retryable":true}"#,
            .error(StreamError(code: "rate_limited", message: "m", retryable: true))
        ),
        (
            #"{"type":"error","code":"fatal","message":"m","terminal":true}"#,
            .error(StreamError(code: "fatal", message: "m", retryable: false, terminal: true))
        ),
    ])
    func validEventsDecode(_ json: String, _ expected: EventPayload) throws {
        #expect(try EventDecoder.decode(Array(json.utf8)) == expected)
    }

    @Test(arguments: [
        ("not json", "malformed JSON"),
        ("[1,2]", "must be a JSON object"),
        (#"{"text":"a"}"#, "missing field 'type'"),
        (#"{"type":"shout","text":"a"}"#, "unknown event type"),
        (#"{"type":"text_delta"}"#, "missing field 'text'"),
        (#"{"type":"text_delta","text":5}"#, "'text' must be a string"),
        (#"{"type":"text_delta","text":"a","index":-1}"#, "'index'"),
        (#"{"type":"text_delta","text":"a","index":1.5}"#, "'index'"),
        (#"{"type":"text_delta","text":"a","colour":"red"}"#, "unknown field 'colour'"),
        (#"{"type":"text_delta","text":"a","seq":3}"#, "'seq' is set by the hub"),
        (#"{"type":"text_delta","text":"a","topic":"x"}"#, "'topic' is set by the hub"),
        (#"{"type":"heartbeat","last_seq":1,"state":"waiting"}"#, "made by the hub"),
        (#"{"type":"gap","from":1,"to":2}"#, "made by the hub"),
        (#"{"type":"stream_complete","finish_reason":"tired"}"#, "'finish_reason' must be one of"),
        (#"{"type":"stream_complete","finish_reason":"stop","usage":{"input_tokens":"1"}}"#, "usage.input_tokens"),
        (#"{"type":"stream_complete","finish_reason":"stop","usage":{"cost":1}}"#, "unknown field 'usage.cost'"),
        (#"{"type":"error","code":"Bad Code","message":"m"}"#, "snake_case"),
        (#"{"type":"error","code":"x","message":"m","retryable":"yes"}"#, "'retryable' must be a boolean"),
        (#"{"type":"tool_call","call_id":"c","name":"f"}"#, "missing field 'arguments'"),
    ])
    func invalidEventsAreRejectedWithAMessage(_ json: String, _ fragment: String) {
        do {
            _ = try EventDecoder.decode(Array(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test func invalidUTF8IsRejected() {
        let bytes: [UInt8] = Array(#"{"type":"text_delta","text":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(throws: EventDecoder.Failure("the body is not valid UTF-8")) { try EventDecoder.decode(bytes) }
    }

    @Test func ndjsonBodiesDecodeLineByLineAndNameTheBadLine() throws {
        let good = ByteBuffer(string: "{\"type\":\"text_delta\",\"text\":\"a\"}\r\n\n{\"type\":\"text_delta\",\"text\":\"b\"}")
        #expect(try EventDecoder.decodeBody(good, ndjson: true).count == 2)
        let bad = ByteBuffer(string: "{\"type\":\"text_delta\",\"text\":\"a\"}\n{\"type\":\"nope\"}\n")
        #expect(throws: EventDecoder.Failure("line 2: unknown event type 'nope'")) {
            try EventDecoder.decodeBody(bad, ndjson: true)
        }
        #expect(throws: EventDecoder.Failure("the body holds no events")) {
            try EventDecoder.decodeBody(ByteBuffer(string: "\n\n"), ndjson: true)
        }
    }
}
