import NIOConcurrencyHelpers
import NIOCore
import NewsroomCore

/// The open provider streams an app tees into topics (`POST /v1/topics/{topic}/events?format=…`): one
/// decoder per topic, kept between requests so an app can post each chunk its SDK yields as it comes
/// (`more=true`) and end with a last post, or post a whole stream at once.
///
/// Bounded: at most ``maxOpen`` streams, each forgotten after ``idleExpiry`` without a post (its topic is
/// then left as it was; the next post for it starts a new stream).
final class ProviderStreamDecoders: Sendable {
    struct Entry {
        var format: String
        var decoder: any UpstreamDecoder
        var lastUsed: NIODeadline
    }

    /// The decoders are mutable, non-Sendable values: they are used only under the lock.
    private struct Table: @unchecked Sendable {
        var entries: [String: Entry] = [:]
    }

    let maxOpen: Int
    let idleExpiry: TimeAmount
    private let table = NIOLockedValueBox(Table())

    init(maxOpen: Int = 1024, idleExpiry: TimeAmount = .seconds(300)) {
        self.maxOpen = maxOpen
        self.idleExpiry = idleExpiry
    }

    /// The adapter behind a `format` name: the adapter names, plus `openai-chat` for `openai`.
    static func adapter(format: String) -> (any UpstreamAdapter)? {
        UpstreamAdapters.adapter(named: format == "openai-chat" ? "openai" : format)
    }

    /// Decodes one post of a provider's stream for `topic`.
    /// - Parameters:
    ///   - body: The provider's raw stream bytes (SSE or NDJSON, as the provider sends them), or, when
    ///     `chunkLines` is set, one JSON chunk object per line as an SDK yields them.
    ///   - final: The stream ends with this post (the decoder is finished and forgotten).
    /// - Throws: `bad_request` for an unknown format, a format other than the open stream's, or too many
    ///   open streams.
    func decode(
        topic: String, format: String, body: ByteBuffer, chunkLines: Bool, final: Bool
    ) throws(GenerationError) -> [EventPayload] {
        guard let adapter = Self.adapter(format: format) else {
            throw GenerationError(
                code: .badRequest,
                message: "unknown format '\(format.prefix(32))' (one of: openai-chat, "
                    + UpstreamAdapters.names.joined(separator: ", ") + ")")
        }
        let now = NIODeadline.now()
        let input = chunkLines ? Self.framedChunks(body, adapter: adapter.name, final: final) : body
        let result: Result<[EventPayload], GenerationError> = self.table.withLockedValue { table in
            var entry: Entry
            if let open = table.entries[topic], open.lastUsed + self.idleExpiry > now {
                guard open.format == format else {
                    return .failure(
                        GenerationError(
                            code: .badRequest,
                            message: "the open stream of this topic is in format '\(open.format)', not '\(format.prefix(32))'"))
                }
                entry = open
            } else {
                table.entries[topic] = nil
                // The closing post of a stream that already ended on its own (`message_stop`, `[DONE]`).
                if body.readableBytes == 0 { return .success([]) }
                if table.entries.count >= self.maxOpen {
                    table.entries = table.entries.filter { $0.value.lastUsed + self.idleExpiry > now }
                }
                guard table.entries.count < self.maxOpen else {
                    return .failure(
                        GenerationError(
                            code: .tooManyGenerations, message: "too many open provider streams (\(self.maxOpen))",
                            retryAfterSeconds: 1))
                }
                let context = UpstreamStreamContext(
                    generation: GenerationManager.makeID(), provider: format, requestedModel: nil)
                entry = Entry(format: format, decoder: adapter.makeDecoder(context: context), lastUsed: now)
            }
            var events = entry.decoder.decode(input)
            if final && !entry.decoder.isFinished { events += entry.decoder.finish() }
            entry.lastUsed = now
            table.entries[topic] = (final || entry.decoder.isFinished) ? nil : entry
            return .success(events)
        }
        return try result.get()
    }

    /// The number of open streams.
    var openCount: Int { self.table.withLockedValue { $0.entries.count } }

    /// Frames chunk objects (one JSON object per line, as an SDK yields them) the way the provider sends
    /// them: `data: <object>` events for the SSE formats (with OpenAI Chat's `data: [DONE]` after the
    /// last, which SDKs consume and do not yield), the lines themselves for NDJSON formats.
    static func framedChunks(_ body: ByteBuffer, adapter: String, final: Bool) -> ByteBuffer {
        if adapter == "ollama" { return body }  // NDJSON already
        var out = ByteBuffer()
        out.reserveCapacity(body.readableBytes + 64)
        for line in body.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard !line.allSatisfy({ $0 == UInt8(ascii: " ") }) else { continue }
            out.writeString("data: ")
            out.writeBytes(line)
            out.writeString("\n\n")
        }
        if final && adapter == "openai" { out.writeString("data: [DONE]\n\n") }
        return out
    }
}
