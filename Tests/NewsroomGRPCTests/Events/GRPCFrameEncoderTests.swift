import NewsroomProto
import NewsroomWire
import NIOCore
import NewsroomCore
import NewsroomHTTP
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
        Event(
            seq: 13, topic: "conversation:c", timestamp: at,
            payload: .generationStarted(
                GenerationStarted(generation: "g", answerTopic: "a", provider: "p", model: "m", prompt: "Why?"))),
        Event(
            seq: 14, topic: "conversation:c", timestamp: at,
            payload: .generationStarted(GenerationStarted(generation: "g", answerTopic: "a"))),
        Event(
            seq: 15, topic: "conversation:c", timestamp: at,
            payload: .generationEnded(
                GenerationEnded(generation: "g", answerTopic: "a", finishReason: .stop, usage: Usage(inputTokens: 1, outputTokens: 2)))),
    ]

    @Test(arguments: Self.events)
    func everyEventRoundTripsThroughTheSharedBytes(_ event: Event) throws {
        var bytes = GRPCFrameEncoder().encode(event, allocator: ByteBufferAllocator())
        // One gRPC Length-Prefixed-Message: flag 0 (not compressed), the 4-byte length, the message.
        let flag = bytes.readInteger(as: UInt8.self)
        let length = bytes.readInteger(as: UInt32.self)
        #expect(flag == 0 && length.map(Int.init) == bytes.readableBytes)
        let message = try Newsroom_V1_Event(serializedBytes: Array(bytes.readableBytesView))
        #expect(Event(message) == event)
        #expect(message.seq == UInt64(event.seq ?? 0))
        #expect(message.ts.seconds == 1_795_613_908 && message.ts.nanos == 123_000_000)
    }

    @Test func theGRPCWebFormatsFrameTheSameMessage() throws {
        let allocator = ByteBufferAllocator()
        let event = Self.events[2]
        let message = GRPCFrameEncoder().encode(event, allocator: allocator)
        // gRPC-Web text: the base64 of the same bytes, padded per message.
        let text = GRPCWebTextEncoder().encode(event, allocator: allocator)
        let decoded = try #require(GRPCFraming.decodeBase64(text))
        #expect(decoded == message)
        // On HTTP/1.1 each is one chunk: hex length, CRLF, the bytes, CRLF.
        var chunk = GRPCWebChunkedEncoder().encode(event, allocator: allocator)
        let head = String(message.readableBytes, radix: 16) + "\r\n"
        #expect(chunk.readString(length: head.utf8.count) == head)
        #expect(chunk.readSlice(length: message.readableBytes) == message)
        #expect(chunk.readString(length: 2) == "\r\n" && chunk.readableBytes == 0)
        var textChunk = GRPCWebTextChunkedEncoder().encode(event, allocator: allocator)
        let textHead = String(text.readableBytes, radix: 16) + "\r\n"
        #expect(textChunk.readString(length: textHead.utf8.count) == textHead)
        #expect(textChunk.readSlice(length: text.readableBytes) == text)
    }

    @Test func aTrailersFrameHoldsTheStatusAsHeaderLines() {
        var frame = GRPCFraming.trailers([("grpc-status", "5"), ("Grpc-Message", "no topic")], allocator: ByteBufferAllocator())
        #expect(frame.readInteger(as: UInt8.self) == 0x80)
        let length = frame.readInteger(as: UInt32.self)
        #expect(frame.readString(length: frame.readableBytes) == "grpc-status: 5\r\ngrpc-message: no topic\r\n")
        #expect(length == 40)
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
