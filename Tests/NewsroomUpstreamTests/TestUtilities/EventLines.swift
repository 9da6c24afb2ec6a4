import Foundation
import NIOCore
import NewsroomCore
import NewsroomWire

/// The `.events.jsonl` format of the transcripts: one broadcast-format event per line, without the
/// fields the hub adds (`seq`, `topic`, `ts`), so the same file describes a decoder's output and what a
/// subscriber receives.
enum EventLines {
    /// One event as a line (the broadcast JSON minus `seq`, `topic` and `ts`).
    static func line(_ payload: EventPayload) -> String {
        let timestamp = Timestamp.now()
        let json = EventJSON.string(Event(seq: nil, topic: "t", timestamp: timestamp, payload: payload))
        return json.replacingOccurrences(of: ",\"topic\":\"t\",\"ts\":\"\(timestamp.description)\"", with: "")
    }

    /// Parses one broadcast-format event, ignoring `seq`, `topic` and `ts`.
    static func payload(json bytes: some Collection<UInt8>) throws -> EventPayload {
        guard case .object(var object) = try JSONValue.parse(bytes) else {
            throw EventDecoder.Failure("not an object")
        }
        for key in ["seq", "topic", "ts"] { object[key] = nil }
        return try EventDecoder.decode(.object(object))
    }

    /// Parses a whole `.events.jsonl` file.
    static func payloads(jsonl text: String) throws -> [EventPayload] {
        try text.split(whereSeparator: \.isNewline).map { try Self.payload(json: Array($0.utf8)) }
    }

    /// The text of a `.events.jsonl` file.
    static func jsonl(_ payloads: [EventPayload]) -> String {
        payloads.map(Self.line).joined(separator: "\n") + "\n"
    }
}

/// What a stream said, assembled: the text, reasoning, tool calls and ending, for comparisons that do
/// not depend on how deltas were split or merged.
struct AssembledStream: Equatable, CustomStringConvertible {
    struct Call: Equatable {
        var index: Int
        var id: String
        var name: String
        var arguments: String
        /// The arguments as the deltas built them.
        var streamedArguments: String?
    }

    var provider: String?
    var model: String?
    var text = ""
    var reasoning = ""
    var calls: [Call] = []
    var errors: [String] = []
    var finishReason: FinishReason?
    var providerFinishReason: String?
    var usage: Usage?
    var starts = 0
    var completes = 0

    init(_ payloads: [EventPayload]) {
        var streamed: [String: String] = [:]
        for payload in payloads {
            switch payload {
            case .streamStart(let start):
                self.starts += 1
                self.provider = start.provider
                self.model = start.model
            case .textDelta(let delta): self.text += delta.text
            case .reasoningDelta(let delta): self.reasoning += delta.text
            case .toolCallDelta(let delta): streamed[delta.callID, default: ""] += delta.argumentsDelta
            case .toolCall(let call):
                self.calls.append(
                    Call(
                        index: call.index, id: call.callID, name: call.name, arguments: call.arguments,
                        streamedArguments: streamed[call.callID]))
            case .streamComplete(let complete):
                self.completes += 1
                self.finishReason = complete.finishReason
                self.providerFinishReason = complete.providerFinishReason
                self.usage = complete.usage
            case .error(let error): self.errors.append(error.code)
            case .heartbeat, .gap, .generationStarted, .generationEnded: break
            }
        }
    }

    var description: String {
        "text=\(self.text.debugDescription) reasoning=\(self.reasoning.debugDescription) calls=\(self.calls) "
            + "errors=\(self.errors) finish=\(self.finishReason?.rawValue ?? "nil") usage=\(String(describing: self.usage))"
    }
}

/// A small seeded generator (SplitMix64), so a failing random chunking can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Ways to cut bytes into reads.
enum Chunking {
    static func whole(_ bytes: [UInt8]) -> [ByteBuffer] { [ByteBuffer(bytes: bytes)] }

    static func byteByByte(_ bytes: [UInt8]) -> [ByteBuffer] { bytes.map { ByteBuffer(bytes: [$0]) } }

    /// Random cuts of 1…`maxChunk` bytes.
    static func random(_ bytes: [UInt8], seed: UInt64, maxChunk: Int = 64) -> [ByteBuffer] {
        var generator = SeededGenerator(seed: seed)
        var chunks: [ByteBuffer] = []
        var start = 0
        while start < bytes.count {
            let length = Int.random(in: 1...maxChunk, using: &generator)
            let end = min(bytes.count, start + length)
            chunks.append(ByteBuffer(bytes: bytes[start..<end]))
            start = end
        }
        return chunks
    }
}
