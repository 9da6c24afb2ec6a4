import NIOCore
import NewsroomCore

extension GenerationRequest {
    /// Reads the JSON form of a generation request, as `POST /v1/generations` and the WebSocket
    /// `generate` command take it:
    /// `{"provider": "<id>", "request": {…}, "topic": "<optional>", "cancel_when_idle_s": <optional number>}`.
    ///
    /// `op` and `id` are allowed (the WebSocket command's envelope); any other field is refused, so a
    /// misspelled option is not silently ignored.
    /// - Parameters:
    ///   - json: The parsed body.
    ///   - traceHeaders: The caller's W3C trace-context headers, continued upstream.
    /// - Throws: `bad_request` or `invalid_topic`.
    public init(json: JSONValue, traceHeaders: [(String, String)]) throws(ControlError) {
        guard case .object(let object) = json else { throw ControlError.invalidArgument("the body must be a JSON object") }
        let known: Set<String> = [
            "provider", "request", "topic", "cancel_when_idle_s", "conversation", "announce_prompt", "op", "id",
        ]
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw ControlError.invalidArgument("unknown field '\(unknown.prefix(64))'")
        }
        guard let provider = object["provider"]?.stringValue, !provider.isEmpty else {
            throw ControlError.invalidArgument("missing field 'provider' (a string)")
        }
        guard let request = object["request"] else { throw ControlError.invalidArgument("missing field 'request'") }
        guard case .object = request else { throw ControlError.invalidArgument("'request' must be a JSON object") }
        var topic: String?
        switch object["topic"] {
        case nil, .null?: break
        case .string(let name)?:
            try ControlService.validateTopic(name)
            topic = name
        default: throw ControlError.invalidArgument("'topic' must be a string")
        }
        var idle: TimeAmount?
        switch object["cancel_when_idle_s"] {
        case nil, .null?: break
        case let value?:
            guard let seconds = value.doubleValue else {
                throw ControlError.invalidArgument("'cancel_when_idle_s' must be a number of seconds")
            }
            idle = try ControlService.cancelWhenIdle(seconds: seconds)
        }
        var conversation: String?
        switch object["conversation"] {
        case nil, .null?: break
        case .string(let id)?: conversation = id
        default: throw ControlError.invalidArgument("'conversation' must be a string")
        }
        var announcePrompt = false
        switch object["announce_prompt"] {
        case nil, .null?: break
        case .bool(let value)?: announcePrompt = value
        default: throw ControlError.invalidArgument("'announce_prompt' must be true or false")
        }
        self.init(
            provider: provider, body: request, topic: topic, cancelWhenIdle: idle, traceHeaders: traceHeaders,
            conversation: conversation, announcePrompt: announcePrompt)
    }
}
