import Foundation
import NIOCore
import NewsroomCore
import NewsroomDemo
import NewsroomTesting
import NewsroomUpstream

/// The recorded transcripts under `Transcripts/` (a resource of this test target), with the expected
/// events of each (`<case>.events.jsonl`).
///
/// Set `NEWSROOM_RECORD_TRANSCRIPTS=1` to (re)write the `.events.jsonl` files from the decoders' current
/// output into the source tree — then read every diff: the files are the specification.
enum TranscriptFixtures {
    static let generation = "gen_test"

    /// The folder in the test bundle.
    static var directory: URL {
        Bundle.module.url(forResource: "Transcripts", withExtension: nil)!
    }

    /// The folder in the source tree (for recording).
    static var sourceDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Transcripts")
    }

    static let all: [ReplayTranscript] = (try? ReplayTranscript.load(directory: directory)) ?? []

    static var names: [String] { all.map(\.name) }

    static func transcript(_ name: String) -> ReplayTranscript {
        all.first { $0.name == name }!
    }

    /// The adapter for a provider folder.
    static func adapter(for provider: String) -> any UpstreamAdapter {
        switch provider {
        case "openai", "vllm", "tgi-chat": OpenAIChatAdapter()
        case "openai-responses": OpenAIResponsesAdapter()
        case "anthropic": AnthropicAdapter()
        case "tgi": TGIAdapter()
        case "ollama": OllamaAdapter()
        case "gemini": GeminiAdapter()
        default: fatalError("no adapter for \(provider)")
        }
    }

    static func context(_ transcript: ReplayTranscript) -> UpstreamStreamContext {
        UpstreamStreamContext(generation: generation, provider: transcript.provider, requestedModel: nil)
    }

    /// Runs a transcript through its provider's decoder, reads as given.
    static func decode(_ transcript: ReplayTranscript, chunks: [ByteBuffer]) -> [EventPayload] {
        let adapter = self.adapter(for: transcript.provider)
        switch transcript.content {
        case .response(let status, _, let body):
            return self.context(transcript).failureEvents(
                adapter.classifyHTTPError(status: status, body: ByteBuffer(bytes: body)))
        case .stream:
            var decoder = adapter.makeDecoder(context: self.context(transcript))
            var events: [EventPayload] = []
            for chunk in chunks {
                events += decoder.decode(chunk)
            }
            events += decoder.finish()
            return events
        }
    }

    static func body(_ transcript: ReplayTranscript) -> [UInt8] {
        switch transcript.content {
        case .stream(_, let body): body
        case .response(_, _, let body): body
        }
    }

    /// The expected events of a transcript; records them first in record mode.
    static func expected(_ transcript: ReplayTranscript) throws -> [EventPayload] {
        let file = transcript.name + ".events.jsonl"
        if ProcessInfo.processInfo.environment["NEWSROOM_RECORD_TRANSCRIPTS"] == "1" {
            let events = self.decode(transcript, chunks: Chunking.whole(self.body(transcript)))
            try EventLines.jsonl(events).write(
                to: self.sourceDirectory.appendingPathComponent(file), atomically: true, encoding: .utf8)
            return events
        }
        let text = try String(contentsOf: self.directory.appendingPathComponent(file), encoding: .utf8)
        return try EventLines.payloads(jsonl: text)
    }
}
