import Foundation
import NIOCore
import NewsroomCore
import Testing

@testable import NewsroomUpstream

/// Teed provider streams: decoders kept per topic between posts, bounded, in the provider's framing.
@Suite("Teed provider streams")
struct ProviderStreamDecodersTests {
    static let chunk = #"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#

    @Test func chunkLinesAreFramedAsTheProviderSendsThem() {
        let framed = ProviderStreamDecoders.framedChunks(
            ByteBuffer(string: "\(Self.chunk)\r\n\n  \n\(Self.chunk)"), adapter: "openai", final: true)
        #expect(String(buffer: framed) == "data: \(Self.chunk)\n\ndata: \(Self.chunk)\n\ndata: [DONE]\n\n")
        let ndjson = ByteBuffer(string: #"{"done":false}"# + "\n")
        #expect(ProviderStreamDecoders.framedChunks(ndjson, adapter: "ollama", final: true) == ndjson)
    }

    @Test func aStreamSpansPostsUntilTheLast() throws {
        let decoders = ProviderStreamDecoders()
        let first = try decoders.decode(
            topic: "t", format: "openai-chat", body: ByteBuffer(string: Self.chunk), chunkLines: true, final: false)
        #expect(first.map(\.type) == [.streamStart, .textDelta])
        #expect(decoders.openCount == 1)
        let last = try decoders.decode(
            topic: "t", format: "openai-chat", body: ByteBuffer(string: Self.chunk), chunkLines: true, final: true)
        #expect(last.first == .textDelta(TextDelta(text: "Hi")))
        #expect(last.last?.type == .streamComplete)
        #expect(decoders.openCount == 0)
        // A closing post after the stream ended on its own is nothing.
        #expect(try decoders.decode(topic: "t", format: "openai-chat", body: ByteBuffer(), chunkLines: true, final: true).isEmpty)
    }

    @Test func openStreamsAreBoundedAndExpire() throws {
        let decoders = ProviderStreamDecoders(maxOpen: 2, idleExpiry: .milliseconds(50))
        for topic in ["a", "b"] {
            _ = try decoders.decode(topic: topic, format: "openai", body: ByteBuffer(string: Self.chunk), chunkLines: true, final: false)
        }
        #expect(throws: GenerationError.self) {
            try decoders.decode(topic: "c", format: "openai", body: ByteBuffer(string: Self.chunk), chunkLines: true, final: false)
        }
        #expect(throws: GenerationError.self) {
            try decoders.decode(topic: "a", format: "gemini", body: ByteBuffer(string: "{}"), chunkLines: true, final: false)
        }
        #expect(throws: GenerationError.self) {
            try decoders.decode(topic: "x", format: "cohere", body: ByteBuffer(string: "{}"), chunkLines: true, final: true)
        }
        Thread.sleep(forTimeInterval: 0.1)
        _ = try decoders.decode(topic: "c", format: "openai", body: ByteBuffer(string: Self.chunk), chunkLines: true, final: false)
        #expect(decoders.openCount == 1)
    }
}
