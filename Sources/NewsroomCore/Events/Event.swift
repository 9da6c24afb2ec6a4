import NIOCore

/// One event of the broadcast format: the standard model every provider's stream is turned into.
///
/// Every event carries the topic it belongs to, the hub's receive time, and — for events that are
/// stored in a topic's history — a per-topic sequence number that starts at 1 and strictly increases.
/// Per-subscriber notices (``EventPayload/heartbeat(_:)``, ``EventPayload/gap(_:)`` and notices such
/// as `resume_unavailable`) carry no sequence number, so they never move a client's resume point.
public struct Event: Sendable, Hashable {
    /// The per-topic sequence number, or `nil` for events that are not part of the history.
    public var seq: Int?
    /// The topic this event belongs to.
    public var topic: String
    /// When the hub accepted the event.
    public var timestamp: Timestamp
    /// The type and the type's fields.
    public var payload: EventPayload

    public init(seq: Int?, topic: String, timestamp: Timestamp, payload: EventPayload) {
        self.seq = seq
        self.topic = topic
        self.timestamp = timestamp
        self.payload = payload
    }

    /// The event's `type` as it appears on the wire.
    public var type: EventType { self.payload.type }
}

/// The `type` field of an event.
public struct EventType: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        guard Self.all.contains(where: { $0.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    private init(_ rawValue: String) { self.rawValue = rawValue }

    public static let streamStart = EventType("stream_start")
    public static let textDelta = EventType("text_delta")
    public static let reasoningDelta = EventType("reasoning_delta")
    public static let toolCallDelta = EventType("tool_call_delta")
    public static let toolCall = EventType("tool_call")
    public static let streamComplete = EventType("stream_complete")
    public static let error = EventType("error")
    public static let heartbeat = EventType("heartbeat")
    public static let gap = EventType("gap")
    public static let generationStarted = EventType("generation_started")
    public static let generationEnded = EventType("generation_ended")

    /// Every type of the model, in the order the documentation lists them.
    public static let all: [EventType] = [
        .streamStart, .textDelta, .reasoningDelta, .toolCallDelta, .toolCall, .streamComplete, .error, .heartbeat, .gap,
        .generationStarted, .generationEnded,
    ]

    /// The types a publisher may send; `heartbeat` and `gap` are made by the hub for one subscriber.
    /// (`generation_started`/`generation_ended` are what the hub announces on conversation topics; a
    /// backend that runs its own answers may announce them too.)
    public static let publishable: [EventType] = [
        .streamStart, .textDelta, .reasoningDelta, .toolCallDelta, .toolCall, .streamComplete, .error,
        .generationStarted, .generationEnded,
    ]

    public var description: String { self.rawValue }
}

/// The type-specific part of an event.
public enum EventPayload: Sendable, Hashable {
    case streamStart(StreamStart)
    case textDelta(TextDelta)
    case reasoningDelta(ReasoningDelta)
    case toolCallDelta(ToolCallDelta)
    case toolCall(ToolCall)
    case streamComplete(StreamComplete)
    case error(StreamError)
    case heartbeat(Heartbeat)
    case gap(Gap)
    case generationStarted(GenerationStarted)
    case generationEnded(GenerationEnded)

    public var type: EventType {
        switch self {
        case .streamStart: .streamStart
        case .textDelta: .textDelta
        case .reasoningDelta: .reasoningDelta
        case .toolCallDelta: .toolCallDelta
        case .toolCall: .toolCall
        case .streamComplete: .streamComplete
        case .error: .error
        case .heartbeat: .heartbeat
        case .gap: .gap
        case .generationStarted: .generationStarted
        case .generationEnded: .generationEnded
        }
    }

    /// Whether this event ends its topic: `stream_complete`, or an `error` marked terminal.
    public var isTerminal: Bool {
        switch self {
        case .streamComplete: true
        case .error(let error): error.terminal
        default: false
        }
    }

    /// Whether this is an incremental delta that may be merged with an adjacent one of the same kind.
    public var isDelta: Bool {
        switch self {
        case .textDelta, .reasoningDelta, .toolCallDelta: true
        default: false
        }
    }
}

/// `stream_start`: a generation begins.
public struct StreamStart: Sendable, Hashable {
    public var generation: String?
    public var provider: String?
    public var model: String?
    /// The shared history's epoch, set by a broker when it stores the event.
    public var epoch: String?
    public init(generation: String? = nil, provider: String? = nil, model: String? = nil, epoch: String? = nil) {
        self.generation = generation
        self.provider = provider
        self.model = model
        self.epoch = epoch
    }
}

/// `text_delta`: a fragment of the answer text.
public struct TextDelta: Sendable, Hashable {
    public var text: String
    /// The choice or content index the text belongs to.
    public var index: Int
    public init(text: String, index: Int = 0) {
        self.text = text
        self.index = index
    }
}

/// `reasoning_delta`: a fragment of the model's reasoning ("thinking") text.
public struct ReasoningDelta: Sendable, Hashable {
    public var text: String
    public var index: Int
    public init(text: String, index: Int = 0) {
        self.text = text
        self.index = index
    }
}

/// `tool_call_delta`: a fragment of a tool call's arguments while the call streams.
public struct ToolCallDelta: Sendable, Hashable {
    public var index: Int
    public var callID: String
    /// The tool's name; present on the first delta of a call.
    public var name: String?
    public var argumentsDelta: String
    public init(index: Int, callID: String, name: String? = nil, argumentsDelta: String) {
        self.index = index
        self.callID = callID
        self.name = name
        self.argumentsDelta = argumentsDelta
    }
}

/// `tool_call`: a complete tool call.
public struct ToolCall: Sendable, Hashable {
    public var index: Int
    public var callID: String
    public var name: String
    /// The complete arguments, as a JSON string.
    public var arguments: String
    public init(index: Int, callID: String, name: String, arguments: String) {
        self.index = index
        self.callID = callID
        self.name = name
        self.arguments = arguments
    }
}

/// `stream_complete`: the generation ended; the topic is sealed.
public struct StreamComplete: Sendable, Hashable {
    public var finishReason: FinishReason
    /// The provider's own word for why it stopped.
    public var providerFinishReason: String?
    public var usage: Usage?
    public init(finishReason: FinishReason, providerFinishReason: String? = nil, usage: Usage? = nil) {
        self.finishReason = finishReason
        self.providerFinishReason = providerFinishReason
        self.usage = usage
    }
}

/// Token counts reported by the provider.
public struct Usage: Sendable, Hashable {
    public var inputTokens: Int?
    public var outputTokens: Int?
    public init(inputTokens: Int?, outputTokens: Int?) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}

/// The normalized reason a stream ended.
public struct FinishReason: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        guard Self.all.contains(where: { $0.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    private init(_ rawValue: String) { self.rawValue = rawValue }

    public static let stop = FinishReason("stop")
    public static let length = FinishReason("length")
    public static let toolCalls = FinishReason("tool_calls")
    public static let contentFilter = FinishReason("content_filter")
    public static let cancelled = FinishReason("cancelled")
    public static let error = FinishReason("error")

    public static let all: [FinishReason] = [.stop, .length, .toolCalls, .contentFilter, .cancelled, .error]

    public var description: String { self.rawValue }
}

/// `error`: something went wrong. Followed by `stream_complete` unless ``terminal`` is set.
public struct StreamError: Sendable, Hashable {
    /// A snake_case code such as `rate_limited` or `resume_unavailable`.
    public var code: String
    public var message: String
    /// Whether trying again (a new generation, or a resume) may succeed.
    public var retryable: Bool
    /// Whether this error itself ends the topic (no `stream_complete` follows).
    public var terminal: Bool
    public init(code: String, message: String, retryable: Bool, terminal: Bool = false) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.terminal = terminal
    }
}

/// `heartbeat`: sent to a subscriber that received nothing for the heartbeat interval.
public struct Heartbeat: Sendable, Hashable {
    /// The topic's head: the last `seq` it issued (0 before the first event).
    public var lastSeq: Int
    public var state: TopicState
    /// The shared history's epoch when a broker is used (a new epoch means a new history).
    public var epoch: String?
    public init(lastSeq: Int, state: TopicState, epoch: String? = nil) {
        self.lastSeq = lastSeq
        self.state = state
        self.epoch = epoch
    }
}

/// `gap`: events this subscriber did not receive because it could not keep up (`drop_oldest`).
public struct Gap: Sendable, Hashable {
    public var from: Int
    public var to: Int
    public init(from: Int, to: Int) {
        self.from = from
        self.to = to
    }
}

/// Where a topic is in its life.
public struct TopicState: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
    public let rawValue: String
    public init?(rawValue: String) {
        switch rawValue {
        case "waiting": self = .waiting
        case "streaming": self = .streaming
        case "ended": self = .ended
        default: return nil
        }
    }
    private init(_ rawValue: String) { self.rawValue = rawValue }

    /// Created (by a subscriber or an empty publish) but no event yet.
    public static let waiting = TopicState("waiting")
    /// Has events and has not ended.
    public static let streaming = TopicState("streaming")
    /// Sealed by `stream_complete` or a terminal `error`.
    public static let ended = TopicState("ended")

    public var description: String { self.rawValue }
}

extension Event {
    /// Roughly the memory the event itself takes: its strings plus a fixed overhead for the rest. The
    /// history counts it with the encoded frames, so a topic whose events are encoded for no format (no
    /// subscriber yet) is still bounded in bytes.
    public var approximateSize: Int {
        let strings: Int
        switch self.payload {
        case .streamStart(let start):
            strings = (start.generation?.utf8.count ?? 0) + (start.provider?.utf8.count ?? 0) + (start.model?.utf8.count ?? 0)
        case .textDelta(let delta): strings = delta.text.utf8.count
        case .reasoningDelta(let delta): strings = delta.text.utf8.count
        case .toolCallDelta(let delta):
            strings = delta.callID.utf8.count + (delta.name?.utf8.count ?? 0) + delta.argumentsDelta.utf8.count
        case .toolCall(let call): strings = call.callID.utf8.count + call.name.utf8.count + call.arguments.utf8.count
        case .streamComplete(let complete): strings = complete.providerFinishReason?.utf8.count ?? 0
        case .error(let error): strings = error.code.utf8.count + error.message.utf8.count
        case .heartbeat, .gap: strings = 0
        case .generationStarted(let started):
            strings = started.generation.utf8.count + started.answerTopic.utf8.count + (started.provider?.utf8.count ?? 0)
                + (started.model?.utf8.count ?? 0) + (started.prompt?.utf8.count ?? 0)
        case .generationEnded(let ended): strings = ended.generation.utf8.count + ended.answerTopic.utf8.count
        }
        return 96 + self.topic.utf8.count + strings
    }
}

/// `generation_started`: on a conversation topic (`conversation:<id>`), an answer of the conversation
/// began on its own topic.
public struct GenerationStarted: Sendable, Hashable {
    public var generation: String
    /// The answer's own topic (JSON `answer_topic`): subscribe to it to follow the answer.
    public var answerTopic: String
    public var provider: String?
    public var model: String?
    /// The prompt's last user message, only when the caller opted in.
    public var prompt: String?
    public init(generation: String, answerTopic: String, provider: String? = nil, model: String? = nil, prompt: String? = nil) {
        self.generation = generation
        self.answerTopic = answerTopic
        self.provider = provider
        self.model = model
        self.prompt = prompt
    }
}

/// `generation_ended`: on a conversation topic, an answer of the conversation ended.
public struct GenerationEnded: Sendable, Hashable {
    public var generation: String
    public var answerTopic: String
    public var finishReason: FinishReason
    public var usage: Usage?
    public init(generation: String, answerTopic: String, finishReason: FinishReason, usage: Usage? = nil) {
        self.generation = generation
        self.answerTopic = answerTopic
        self.finishReason = finishReason
        self.usage = usage
    }
}
