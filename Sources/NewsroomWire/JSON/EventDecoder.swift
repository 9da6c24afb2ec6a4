import NIOCore
import NewsroomCore

/// Validates and decodes events sent by publishers (HTTP publish bodies, WebSocket `publish` commands).
///
/// Strict: the `type` must be one a publisher may send, each field must have its documented type, and
/// any other key is rejected (nothing is passed through silently). `seq`, `ts` and `topic` are set by
/// the hub and may not be sent.
public enum EventDecoder {
    /// Why an event was rejected; ``message`` names the field and is safe to show to the client.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { self.message }
    }

    /// Decodes a publish body: one JSON object, or NDJSON (one object per line) when `ndjson` is set.
    /// - Throws: ``Failure`` naming the first bad line and field; nothing is returned for a bad batch.
    public static func decodeBody(_ body: ByteBuffer, ndjson: Bool) throws(Failure) -> [EventPayload] {
        let bytes = body.readableBytesView
        guard ndjson else {
            return [try Self.decode(bytes)]
        }
        var payloads: [EventPayload] = []
        var line = 0
        var start = bytes.startIndex
        while start < bytes.endIndex {
            line += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            var slice = bytes[start..<end]
            if slice.last == UInt8(ascii: "\r") { slice = slice.dropLast() }
            start = end == bytes.endIndex ? end : bytes.index(after: end)
            if slice.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            do {
                payloads.append(try Self.decode(slice))
            } catch {
                throw Failure("line \(line): \(error.message)")
            }
        }
        guard !payloads.isEmpty else { throw Failure("the body holds no events") }
        return payloads
    }

    /// Decodes one event from its JSON text.
    public static func decode(_ bytes: some Collection<UInt8>) throws(Failure) -> EventPayload {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw Failure(error.message)
        }
        return try Self.decode(value)
    }

    /// Decodes one event from a parsed JSON value.
    public static func decode(_ value: JSONValue) throws(Failure) -> EventPayload {
        guard case .object(let object) = value else {
            throw Failure("an event must be a JSON object, not \(value.typeName)")
        }
        var fields = Fields(object: object)
        let typeName = try fields.requiredString("type")
        for reserved in ["seq", "ts", "topic"] where object[reserved] != nil {
            throw Failure("'\(reserved)' is set by the hub and must not be sent")
        }
        guard let type = EventType(rawValue: typeName) else {
            throw Failure("unknown event type '\(typeName.prefix(64))'")
        }
        let payload: EventPayload
        switch type {
        case .streamStart:
            payload = .streamStart(
                StreamStart(
                    generation: try fields.optionalString("generation"), provider: try fields.optionalString("provider"),
                    model: try fields.optionalString("model")))
        case .textDelta:
            payload = .textDelta(TextDelta(text: try fields.requiredString("text"), index: try fields.index()))
        case .reasoningDelta:
            payload = .reasoningDelta(ReasoningDelta(text: try fields.requiredString("text"), index: try fields.index()))
        case .toolCallDelta:
            payload = .toolCallDelta(
                ToolCallDelta(
                    index: try fields.index(), callID: try fields.requiredString("call_id"),
                    name: try fields.optionalString("name"), argumentsDelta: try fields.requiredString("arguments_delta")))
        case .toolCall:
            payload = .toolCall(
                ToolCall(
                    index: try fields.index(), callID: try fields.requiredString("call_id"),
                    name: try fields.requiredString("name"), arguments: try fields.requiredString("arguments")))
        case .streamComplete:
            payload = .streamComplete(
                StreamComplete(
                    finishReason: try fields.finishReason(), providerFinishReason: try fields.optionalString("provider_finish_reason"),
                    usage: try fields.usage()))
        case .generationStarted:
            payload = .generationStarted(
                GenerationStarted(
                    generation: try fields.requiredString("generation"), answerTopic: try fields.requiredString("answer_topic"),
                    provider: try fields.optionalString("provider"), model: try fields.optionalString("model"),
                    prompt: try fields.optionalString("prompt")))
        case .generationEnded:
            payload = .generationEnded(
                GenerationEnded(
                    generation: try fields.requiredString("generation"), answerTopic: try fields.requiredString("answer_topic"),
                    finishReason: try fields.finishReason(), usage: try fields.usage()))
        case .error:
            let code = try fields.requiredString("code")
            guard !code.isEmpty, code.utf8.count <= 64,
                code.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F })
            else {
                throw Failure("'code' must be snake_case (a-z, 0-9, _), at most 64 characters")
            }
            payload = .error(
                StreamError(
                    code: code, message: try fields.requiredString("message"),
                    retryable: try fields.optionalBool("retryable") ?? false,
                    terminal: try fields.optionalBool("terminal") ?? false))
        default:
            throw Failure("'\(type)' events are made by the hub and cannot be published")
        }
        if let unknown = fields.remaining.sorted().first {
            throw Failure("unknown field '\(unknown.prefix(64))' for type '\(type)'")
        }
        return payload
    }

    /// Decodes an event as the hub broadcasts it (with `seq`, `topic`, `ts`; including `heartbeat`
    /// and `gap`), for clients. Unknown fields are ignored so clients keep working when fields are added.
    public static func decodeBroadcast(_ bytes: some Collection<UInt8>) throws(Failure) -> Event {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw Failure(error.message)
        }
        guard case .object(var object) = value else { throw Failure("an event must be a JSON object") }
        let seq = object.removeValue(forKey: "seq")?.intValue
        let topic = object.removeValue(forKey: "topic")?.stringValue ?? ""
        let timestamp = object.removeValue(forKey: "ts")?.stringValue.flatMap(Timestamp.init(rfc3339:))
            ?? Timestamp(millisecondsSince1970: 0)
        let payload: EventPayload
        switch object["type"]?.stringValue {
        case "heartbeat":
            guard let last = object["last_seq"]?.intValue,
                let state = object["state"]?.stringValue.flatMap(TopicState.init(rawValue:))
            else { throw Failure("a heartbeat needs 'last_seq' and 'state'") }
            payload = .heartbeat(Heartbeat(lastSeq: last, state: state, epoch: object["epoch"]?.stringValue))
        case "gap":
            guard let from = object["from"]?.intValue, let to = object["to"]?.intValue else {
                throw Failure("a gap needs 'from' and 'to'")
            }
            payload = .gap(Gap(from: from, to: to))
        case "stream_start" where object["epoch"] != nil:
            let epoch = object.removeValue(forKey: "epoch")?.stringValue
            guard case .streamStart(var start) = try Self.decode(JSONValue.object(object)) else {
                throw Failure("invalid stream_start")
            }
            start.epoch = epoch
            payload = .streamStart(start)
        default:
            let known: Set<String> = [
                "type", "generation", "provider", "model", "text", "index", "call_id", "name", "arguments_delta",
                "arguments", "finish_reason", "provider_finish_reason", "usage", "code", "message", "retryable",
                "terminal", "answer_topic", "prompt",
            ]
            payload = try Self.decode(JSONValue.object(object.filter { known.contains($0.key) }))
        }
        return Event(seq: seq, topic: topic, timestamp: timestamp, payload: payload)
    }

    /// Reads typed fields and remembers which keys were consumed.
    struct Fields {
        let object: [String: JSONValue]
        var remaining: Set<String>

        init(object: [String: JSONValue]) {
            self.object = object
            self.remaining = Set(object.keys)
        }

        mutating func requiredString(_ key: String) throws(Failure) -> String {
            self.remaining.remove(key)
            guard let value = self.object[key] else { throw Failure("missing field '\(key)'") }
            guard case .string(let string) = value else {
                throw Failure("'\(key)' must be a string, not \(value.typeName)")
            }
            return string
        }

        mutating func optionalString(_ key: String) throws(Failure) -> String? {
            self.remaining.remove(key)
            switch self.object[key] {
            case nil, .null?: return nil
            case .string(let string)?: return string
            case let value?: throw Failure("'\(key)' must be a string or null, not \(value.typeName)")
            }
        }

        mutating func optionalBool(_ key: String) throws(Failure) -> Bool? {
            self.remaining.remove(key)
            switch self.object[key] {
            case nil: return nil
            case .bool(let bool)?: return bool
            case let value?: throw Failure("'\(key)' must be a boolean, not \(value.typeName)")
            }
        }

        mutating func finishReason() throws(Failure) -> FinishReason {
            guard let reason = FinishReason(rawValue: try self.requiredString("finish_reason")) else {
                throw Failure(
                    "'finish_reason' must be one of \(FinishReason.all.map(\.rawValue).joined(separator: ", "))")
            }
            return reason
        }

        mutating func index() throws(Failure) -> Int {
            self.remaining.remove("index")
            guard let value = self.object["index"] else { return 0 }
            guard let index = value.intValue, index >= 0, index <= 1_000_000 else {
                throw Failure("'index' must be a non-negative integer")
            }
            return index
        }

        mutating func usage() throws(Failure) -> Usage? {
            self.remaining.remove("usage")
            switch self.object["usage"] {
            case nil, .null?:
                return nil
            case .object(let usage)?:
                var fields = Fields(object: usage)
                func count(_ key: String, in fields: inout Fields) throws(Failure) -> Int? {
                    fields.remaining.remove(key)
                    switch fields.object[key] {
                    case nil, .null?: return nil
                    case let value?:
                        guard let count = value.intValue, count >= 0 else {
                            throw Failure("'usage.\(key)' must be a non-negative integer or null")
                        }
                        return count
                    }
                }
                let input = try count("input_tokens", in: &fields)
                let output = try count("output_tokens", in: &fields)
                if let unknown = fields.remaining.sorted().first {
                    throw Failure("unknown field 'usage.\(unknown.prefix(64))'")
                }
                return Usage(inputTokens: input, outputTokens: output)
            case let value?:
                throw Failure("'usage' must be an object or null, not \(value.typeName)")
            }
        }
    }
}
