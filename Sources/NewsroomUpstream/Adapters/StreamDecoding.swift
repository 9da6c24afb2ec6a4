import NIOCore
import NewsroomCore
import NewsroomWire

/// A decoder for an SSE provider: the framing is ``SSEParser``'s, the provider's part is
/// ``handle(_:)``, called once per dispatched event.
protocol SSEStreamDecoding: UpstreamDecoder {
    var parser: SSEParser { get set }
    var assembler: StreamAssembler { get set }
    var skippedChunks: Int { get set }
    /// Handles one SSE event; called only while the stream has not finished.
    mutating func handle(_ event: ServerSentEvent)
    /// Handles the end of the body; the default reports a truncated stream.
    mutating func endOfStream()
}

extension SSEStreamDecoding {
    var isFinished: Bool { self.assembler.isFinished }

    mutating func decode(_ buffer: ByteBuffer) -> [EventPayload] {
        guard !self.assembler.isFinished else { return [] }
        let events = self.parser.parse(buffer)
        for event in events {
            guard !self.assembler.isFinished else { break }
            self.handle(event)
        }
        return self.assembler.drain()
    }

    mutating func finish() -> [EventPayload] {
        self.parser.finish()
        if !self.assembler.isFinished { self.endOfStream() }
        return self.assembler.drain()
    }

    mutating func endOfStream() {
        self.assembler.truncated()
    }

    /// Parses an event's data as a JSON object; counts and skips anything else.
    mutating func json(_ event: ServerSentEvent) -> [String: JSONValue]? {
        guard let value = try? JSONValue.parse(event.data.utf8), let object = value.objectValue else {
            self.skippedChunks += 1
            return nil
        }
        return object
    }
}

/// A decoder for an NDJSON provider: one JSON object per line.
protocol NDJSONStreamDecoding: UpstreamDecoder {
    var parser: NDJSONParser { get set }
    var assembler: StreamAssembler { get set }
    var skippedChunks: Int { get set }
    /// Handles one line's JSON object; called only while the stream has not finished.
    mutating func handle(_ object: [String: JSONValue])
}

extension NDJSONStreamDecoding {
    var isFinished: Bool { self.assembler.isFinished }

    mutating func decode(_ buffer: ByteBuffer) -> [EventPayload] {
        guard !self.assembler.isFinished else { return [] }
        self.handle(lines: self.parser.parse(buffer))
        return self.assembler.drain()
    }

    mutating func finish() -> [EventPayload] {
        if !self.assembler.isFinished {
            // A last line without its LF is still a complete object if it parses.
            self.handle(lines: self.parser.finish())
        }
        if !self.assembler.isFinished { self.assembler.truncated() }
        return self.assembler.drain()
    }

    private mutating func handle(lines: [[UInt8]]) {
        for line in lines {
            guard !self.assembler.isFinished else { break }
            guard let value = try? JSONValue.parse(line), let object = value.objectValue else {
                self.skippedChunks += 1
                continue
            }
            self.handle(object)
        }
    }
}

extension JSONValue {
    /// The value as a string, or `nil` for null/absent.
    var nonEmptyString: String? {
        guard case .string(let string) = self, !string.isEmpty else { return nil }
        return string
    }
}

extension [String: JSONValue] {
    /// A truthy `error` field (openai-python raises on any data JSON with one).
    var hasError: Bool {
        switch self["error"] {
        case nil, .null?, .bool(false)?: false
        case .string(let string)? where string.isEmpty: false
        default: true
        }
    }
}

/// Body helpers shared by the adapters.
enum RequestBody {
    /// The body as an object, or a bad-request error.
    static func object(_ body: JSONValue) throws(GenerationError) -> [String: JSONValue] {
        guard case .object(let object) = body else {
            throw GenerationError(code: .badRequest, message: "'request' must be a JSON object, not \(body.typeName)")
        }
        return object
    }

    /// `Authorization: Bearer <key>` when a key is configured.
    static func bearer(_ provider: UpstreamProvider) -> [(String, String)] {
        guard let key = provider.apiKey, !key.isEmpty else { return [] }
        return [("authorization", "Bearer \(key)")]
    }
}
