import NIOCore
import NewsroomCore

/// A command a client sends on the multiplexed WebSocket (`GET /v1/ws`), one JSON object per text
/// message, with an optional `id` that the reply echoes:
///
/// - `{"op":"subscribe","topic":"…","after":<seq>,"policy":"…"}` / `{"op":"unsubscribe","topic":"…"}`
/// - `{"op":"publish","topic":"…","event":{…}}` (validated as an HTTP publish)
/// - `{"op":"generate", …the body of POST /v1/generations…}`
/// - `{"op":"cancel","generation":"…"}` or `{"op":"cancel","topic":"…"}`
///
/// Replies are `{"op":"ok","id":…}` (with a few fields per op) or
/// `{"op":"error","id":…,"code":…,"message":…}`.
public struct WebSocketCommand: Sendable, Hashable {
    /// What the command asks for.
    public enum Operation: Sendable, Hashable {
        /// `max_delay` as sent (`"100ms"`, or a number of milliseconds), read by the transport.
        case subscribe(topic: String, after: Int?, policy: SlowConsumerPolicy?, maxDelay: String?)
        case unsubscribe(topic: String)
        case publish(topic: String, event: EventPayload)
        /// The object as sent (minus `op` and `id`), to be read as a generation request.
        case generate(JSONValue)
        case cancel(generation: String?, topic: String?)
    }

    /// The client's correlation id (any JSON value), echoed in the reply.
    public var id: JSONValue?
    public var operation: Operation

    /// A command that could not be understood; ``id`` is set when the message had one.
    public struct Failure: Error, Hashable, Sendable {
        public var id: JSONValue?
        public var code: String
        public var message: String
        public init(id: JSONValue?, code: String, message: String) {
            self.id = id
            self.code = code
            self.message = message
        }
    }

    /// Decodes one text message.
    public static func decode(_ bytes: some Collection<UInt8>) throws(Failure) -> WebSocketCommand {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw Failure(id: nil, code: "invalid_json", message: error.message)
        }
        guard case .object(let object) = value else {
            throw Failure(id: nil, code: "invalid_command", message: "a command must be a JSON object")
        }
        return try Self.decode(object: object)
    }

    /// Reads a command from its JSON object (`op`, `id` and the op's fields). Socket.IO events arrive
    /// here with the event's name as `op`.
    public static func decode(object: [String: JSONValue]) throws(Failure) -> WebSocketCommand {
        let id = object["id"]
        func fail(_ code: String, _ message: String) -> Failure { Failure(id: id, code: code, message: message) }
        func topic() throws(Failure) -> String {
            guard let topic = object["topic"]?.stringValue else { throw fail("invalid_command", "missing field 'topic'") }
            guard TopicName.isValid(topic) else {
                throw fail("invalid_topic", HubError.invalidTopicName(topic).message)
            }
            return topic
        }
        func only(_ allowed: Set<String>) throws(Failure) {
            if let unknown = object.keys.filter({ !allowed.contains($0) && $0 != "op" && $0 != "id" }).sorted().first {
                throw fail("invalid_command", "unknown field '\(unknown.prefix(64))'")
            }
        }
        guard let op = object["op"]?.stringValue else { throw fail("invalid_command", "missing field 'op'") }
        switch op {
        case "subscribe":
            try only(["topic", "after", "policy", "max_delay"])
            var after: Int?
            if let value = object["after"], value != .null {
                guard let seq = value.intValue, seq >= 0 else {
                    throw fail("invalid_resume", "'after' must be a non-negative integer")
                }
                after = seq
            }
            var policy: SlowConsumerPolicy?
            if let value = object["policy"], value != .null {
                guard let name = value.stringValue, let parsed = SlowConsumerPolicy(name: name) else {
                    throw fail(
                        "invalid_policy", "'policy' must be one of \(SlowConsumerPolicy.names.joined(separator: ", "))")
                }
                policy = parsed
            }
            var maxDelay: String?
            switch object["max_delay"] {
            case nil, .null?: break
            case .string(let text)?: maxDelay = text
            case .int(let milliseconds)?: maxDelay = String(milliseconds)
            case .double(let milliseconds)?: maxDelay = String(milliseconds)
            default: throw fail("invalid_command", "'max_delay' must be a duration such as \"100ms\" or a number of milliseconds")
            }
            return WebSocketCommand(
                id: id, operation: .subscribe(topic: try topic(), after: after, policy: policy, maxDelay: maxDelay))
        case "unsubscribe":
            try only(["topic"])
            return WebSocketCommand(id: id, operation: .unsubscribe(topic: try topic()))
        case "publish":
            try only(["topic", "event"])
            let topic = try topic()
            guard let event = object["event"] else { throw fail("invalid_command", "missing field 'event'") }
            do {
                return WebSocketCommand(id: id, operation: .publish(topic: topic, event: try EventDecoder.decode(event)))
            } catch {
                throw fail("invalid_event", error.message)
            }
        case "generate":
            var body = object
            body["op"] = nil
            body["id"] = nil
            return WebSocketCommand(id: id, operation: .generate(.object(body)))
        case "cancel":
            try only(["generation", "topic"])
            let generation = object["generation"]?.stringValue
            let topic = try object["topic"] == nil ? nil : topic()
            guard (generation == nil) != (topic == nil) else {
                throw fail("invalid_command", "cancel needs exactly one of 'generation' or 'topic'")
            }
            return WebSocketCommand(id: id, operation: .cancel(generation: generation, topic: topic))
        default:
            throw fail("unknown_op", "unknown op '\(op.prefix(32))'")
        }
    }
}

/// The JSON replies of the multiplexed WebSocket.
public enum WebSocketReply {
    /// `{"op":"ok","id":…,…fields}`.
    public static func ok(id: JSONValue?, fields: [(StaticString, JSONValue)] = []) -> ByteBuffer {
        var json = JSONWriter(buffer: ByteBuffer())
        json.beginObject()
        json.field("op", "ok")
        Self.writeID(id, into: &json)
        for (key, value) in fields { Self.write(key, value, into: &json) }
        json.endObject()
        return json.buffer
    }

    /// `{"op":"error","id":…,"code":…,"message":…}`.
    public static func error(id: JSONValue?, code: String, message: String) -> ByteBuffer {
        var json = JSONWriter(buffer: ByteBuffer())
        json.beginObject()
        json.field("op", "error")
        Self.writeID(id, into: &json)
        json.field("code", code)
        json.field("message", message)
        json.endObject()
        return json.buffer
    }

    private static func writeID(_ id: JSONValue?, into json: inout JSONWriter) {
        Self.write("id", id ?? .null, into: &json)
    }

    private static func write(_ key: StaticString, _ value: JSONValue, into json: inout JSONWriter) {
        switch value {
        case .null: json.null(key)
        case .bool(let bool): json.field(key, bool)
        case .int(let int): json.field(key, int)
        case .double(let double): json.field(key, double)
        case .string(let string): json.field(key, string)
        case .array, .object:
            json.rawField(key, json: value.jsonBytes)
        }
    }
}
