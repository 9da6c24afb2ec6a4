import Foundation
import NIOCore
import NewsroomCore
import NewsroomTesting
import NewsroomUpstream
import Testing

/// Every transcript, fed whole, byte by byte and in random chunks, decodes to its `.events.jsonl`.
/// Modelled on NIOTestUtils' `ByteToMessageDecoderVerifier`: the chunking must never change the events.
/// Serialized so this CPU-bound suite holds at most one thread of the cooperative pool, leaving the
/// other to the timing-sensitive generation tests.
@Suite("Transcript decoding", .serialized)
struct TranscriptDecodingTests {
    @Test("at least one transcript per provider and case")
    func coverage() {
        let names = Set(TranscriptFixtures.names)
        for required in [
            "openai/text", "openai/parallel_tool_calls", "openai/refusal", "openai/midstream_error",
            "openai/http_error_429", "openai/crlf", "vllm/reasoning", "openai-responses/text",
            "openai-responses/function_call", "anthropic/text", "anthropic/tool_use", "anthropic/thinking",
            "anthropic/overloaded", "tgi/generate_stream", "ollama/chat", "gemini/text_crlf",
        ] {
            #expect(names.contains(required), "missing transcript \(required)")
        }
    }

    @Test("fed whole", arguments: TranscriptFixtures.names)
    func whole(_ name: String) throws {
        let transcript = TranscriptFixtures.transcript(name)
        let expected = try TranscriptFixtures.expected(transcript)
        let events = TranscriptFixtures.decode(transcript, chunks: Chunking.whole(TranscriptFixtures.body(transcript)))
        #expect(events == expected)
        Self.checkInvariants(events, name: name)
    }

    @Test("fed byte by byte", arguments: TranscriptFixtures.names)
    func byteByByte(_ name: String) throws {
        let transcript = TranscriptFixtures.transcript(name)
        let expected = try TranscriptFixtures.expected(transcript)
        let events = TranscriptFixtures.decode(
            transcript, chunks: Chunking.byteByByte(TranscriptFixtures.body(transcript)))
        #expect(events == expected)
    }

    @Test("fed in random chunks", arguments: TranscriptFixtures.names)
    func randomChunks(_ name: String) throws {
        let transcript = TranscriptFixtures.transcript(name)
        let expected = try TranscriptFixtures.expected(transcript)
        let body = TranscriptFixtures.body(transcript)
        let base = UInt64.random(in: 0...UInt64.max)
        for round in 0..<12 {
            let seed = base &+ UInt64(round)
            let events = TranscriptFixtures.decode(
                transcript, chunks: Chunking.random(body, seed: seed, maxChunk: round % 2 == 0 ? 7 : 300))
            #expect(events == expected, "random chunking with seed \(seed) changed the events of \(name)")
            if events != expected { print("\(name): failing seed \(seed)") }
        }
    }

    /// The rules every stream keeps: `stream_start` first and once, exactly one `stream_complete` and it
    /// is last, an `error` only right before `stream_complete(error)`, each `tool_call` once per id.
    static func checkInvariants(_ events: [EventPayload], name: String) {
        guard case .streamStart(let start)? = events.first else {
            Issue.record("\(name): stream_start is not first")
            return
        }
        #expect(start.generation == TranscriptFixtures.generation)
        let completes = events.filter { $0.type == .streamComplete }
        #expect(completes.count == 1, "\(name): \(completes.count) stream_complete")
        #expect(events.last?.type == .streamComplete)
        #expect(events.filter { $0.type == .streamStart }.count == 1)
        if let errorIndex = events.firstIndex(where: { $0.type == .error }) {
            #expect(errorIndex == events.count - 2, "\(name): error is not right before stream_complete")
            if case .streamComplete(let complete)? = events.last { #expect(complete.finishReason == .error) }
        }
        var ids = Set<String>()
        for case .toolCall(let call) in events {
            #expect(ids.insert(call.callID).inserted, "\(name): tool_call \(call.callID) twice")
        }
    }
}
