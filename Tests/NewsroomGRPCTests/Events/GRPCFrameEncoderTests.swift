import NewsroomProto
import NewsroomWire
import NIOCore
import NewsroomCore
import NewsroomGRPC
import SwiftProtobuf
import Testing

/// The gRPC wire format: every event type to protobuf bytes and back, field for field.
struct GRPCFrameEncoderTests {
    static let at = Timestamp(millisecondsSince1970: 1_795_613_908_123)

    static let events: [Event] = [
        Event(
            seq: 1, topic: "t", timestamp: at,
            payload: .streamStart(StreamStart(generation: "gen_1", provider: "openai", model: "gpt"))),
        Event(seq: 2, topic: "t", timestamp: at, payload: .streamStart(StreamStart())),
        Event(seq: 3, topic: "t", timestamp: at, payload: .textDelta(TextDelta(text: "héllo\n", index: 2))),
        Event(seq: 4, topic: "t", timestamp: at, payload: .reasoningDelta(ReasoningDelta(text: "hmm", index: 0))),
        Event(
            seq: 5, topic: "t", timestamp: at,
            payload: .toolCallDelta(ToolCallDelta(index: 1, callID: "c", name: "f", argumentsDelta: "{"))),
        Event(
            seq: 6, topic: "t", timestamp: at,
            payload: .toolCallDelta(ToolCallDelta(index: 1, callID: "c", argumentsDelta: "}"))),
        Event(
            seq: 7, topic: "t", timestamp: at,
            payload: .toolCall(ToolCall(index: 1, callID: "c", name: "f", arguments: "{}"))),
        Event(
            seq: 8, topic: "t", timestamp: at,
            payload: .error(StreamError(code: "rate_limited", message: "m", retryable: true))),
        Event(
            seq: 9, topic: "t", timestamp: at,
            payload: .error(StreamError(code: "x", message: "", retryable: false, terminal: true))),
        Event(
            seq: 10, topic: "t", timestamp: at,
            payload: .streamComplete(
                StreamComplete(
                    finishReason: .length, providerFinishReason: "max_tokens",
                    usage: Usage(inputTokens: 3, outputTokens: nil)))),
        Event(seq: 11, topic: "t", timestamp: at, payload: .streamComplete(StreamComplete(finishReason: .cancelled))),
        Event(seq: nil, topic: "t", timestamp: at, payload: .heartbeat(Heartbeat(lastSeq: 11, state: .ended))),
        Event(seq: nil, topic: "t", timestamp: at, payload: .heartbeat(Heartbeat(lastSeq: 0, state: .waiting, epoch: "e2"))),
        Event(seq: 12, topic: "t", timestamp: at, payload: .streamStart(StreamStart(provider: "p", epoch: "e1"))),
        Event(seq: nil, topic: "t", timestamp: at, payload: .gap(Gap(from: 3, to: 9))),
    ]

    @Test(arguments: Self.events)
    func everyEventRoundTripsThroughTheSharedBytes(_ event: Event) throws {
        let bytes = GRPCFrameEncoder().encode(event, allocator: ByteBufferAllocator())
        let message = try Newsroom_V1_Event(serializedBytes: Array(bytes.readableBytesView))
        #expect(Event(message) == event)
        #expect(message.seq == UInt64(event.seq ?? 0))
        #expect(message.ts.seconds == 1_795_613_908 && message.ts.nanos == 123_000_000)
    }

    @Test func absentOptionalFieldsStayAbsent() throws {
        let message = Newsroom_V1_Event(Self.events[1])
        #expect(!message.streamStart.hasGeneration && !message.streamStart.hasProvider && !message.streamStart.hasModel)
        let complete = Newsroom_V1_Event(Self.events[10])
        #expect(!complete.streamComplete.hasUsage && !complete.streamComplete.hasProviderFinishReason)
        let usage = Newsroom_V1_Event(Self.events[9]).streamComplete.usage
        #expect(usage.hasInputTokens && !usage.hasOutputTokens)
    }

    @Test func timestampsBefore1970KeepNonNegativeNanos() {
        let proto = Google_Protobuf_Timestamp(Timestamp(millisecondsSince1970: -1))
        #expect(proto.seconds == -1 && proto.nanos == 999_000_000)
        #expect(Timestamp(proto).millisecondsSince1970 == -1)
    }

    @Test func publishedEventsDecodeWithTheJSONRules() throws {
        for event in Self.events.prefix(11) {
            var message = Newsroom_V1_Event(event)
            message.seq = 0
            message.topic = ""
            message.clearTs()
            #expect(try ProtobufEventDecoder.decodePublished(message) == event.payload)
        }
    }
}
