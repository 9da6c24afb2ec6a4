import NewsroomCore
import SwiftProtobuf

// Conversions between the broadcast format (`NewsroomCore.Event`) and its protobuf mirror
// (`newsroom.v1.Event` in Protos/newsroom/v1/newsroom.proto), field for field.

extension Newsroom_V1_Event {
    /// The protobuf form of a hub event, as ``GRPCFrameEncoder`` sends it.
    public init(_ event: Event) {
        self.init()
        if let seq = event.seq { self.seq = UInt64(seq) }
        self.topic = event.topic
        self.ts = Google_Protobuf_Timestamp(event.timestamp)
        self.payload = .init(event.payload)
    }
}

extension Newsroom_V1_Event.OneOf_Payload {
    public init(_ payload: EventPayload) {
        switch payload {
        case .streamStart(let start):
            var message = Newsroom_V1_StreamStart()
            if let generation = start.generation { message.generation = generation }
            if let provider = start.provider { message.provider = provider }
            if let model = start.model { message.model = model }
            if let epoch = start.epoch { message.epoch = epoch }
            self = .streamStart(message)
        case .textDelta(let delta):
            var message = Newsroom_V1_TextDelta()
            message.text = delta.text
            message.index = UInt32(clamping: delta.index)
            self = .textDelta(message)
        case .reasoningDelta(let delta):
            var message = Newsroom_V1_ReasoningDelta()
            message.text = delta.text
            message.index = UInt32(clamping: delta.index)
            self = .reasoningDelta(message)
        case .toolCallDelta(let delta):
            var message = Newsroom_V1_ToolCallDelta()
            message.index = UInt32(clamping: delta.index)
            message.callID = delta.callID
            if let name = delta.name { message.name = name }
            message.argumentsDelta = delta.argumentsDelta
            self = .toolCallDelta(message)
        case .toolCall(let call):
            var message = Newsroom_V1_ToolCall()
            message.index = UInt32(clamping: call.index)
            message.callID = call.callID
            message.name = call.name
            message.arguments = call.arguments
            self = .toolCall(message)
        case .streamComplete(let complete):
            var message = Newsroom_V1_StreamComplete()
            message.finishReason = Newsroom_V1_FinishReason(complete.finishReason)
            if let reason = complete.providerFinishReason { message.providerFinishReason = reason }
            if let usage = complete.usage { message.usage = Newsroom_V1_Usage(usage) }
            self = .streamComplete(message)
        case .error(let error):
            var message = Newsroom_V1_Error()
            message.code = error.code
            message.message = error.message
            message.retryable = error.retryable
            message.terminal = error.terminal
            self = .error(message)
        case .heartbeat(let heartbeat):
            var message = Newsroom_V1_Heartbeat()
            message.lastSeq = UInt64(clamping: heartbeat.lastSeq)
            message.state = Newsroom_V1_TopicState(heartbeat.state)
            if let epoch = heartbeat.epoch { message.epoch = epoch }
            self = .heartbeat(message)
        case .gap(let gap):
            var message = Newsroom_V1_Gap()
            message.fromSeq = UInt64(clamping: gap.from)
            message.toSeq = UInt64(clamping: gap.to)
            self = .gap(message)
        case .generationStarted(let started):
            var message = Newsroom_V1_GenerationStarted()
            message.generation = started.generation
            message.answerTopic = started.answerTopic
            if let provider = started.provider { message.provider = provider }
            if let model = started.model { message.model = model }
            if let prompt = started.prompt { message.prompt = prompt }
            self = .generationStarted(message)
        case .generationEnded(let ended):
            var message = Newsroom_V1_GenerationEnded()
            message.generation = ended.generation
            message.answerTopic = ended.answerTopic
            message.finishReason = Newsroom_V1_FinishReason(ended.finishReason)
            if let usage = ended.usage { message.usage = Newsroom_V1_Usage(usage) }
            self = .generationEnded(message)
        }
    }
}

extension Google_Protobuf_Timestamp {
    /// The instant of a hub timestamp (millisecond precision).
    public init(_ timestamp: Timestamp) {
        let ms = timestamp.millisecondsSince1970
        // Floor division, so instants before 1970 keep non-negative nanos as the type requires.
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        self.init(seconds: seconds, nanos: Int32(ms - seconds * 1000) * 1_000_000)
    }
}

extension Timestamp {
    /// The hub timestamp of a protobuf instant, truncated to milliseconds.
    public init(_ timestamp: Google_Protobuf_Timestamp) {
        self.init(millisecondsSince1970: timestamp.seconds * 1000 + Int64(timestamp.nanos / 1_000_000))
    }
}

extension Newsroom_V1_Usage {
    public init(_ usage: Usage) {
        self.init()
        if let input = usage.inputTokens { self.inputTokens = UInt64(clamping: input) }
        if let output = usage.outputTokens { self.outputTokens = UInt64(clamping: output) }
    }
}

extension Usage {
    public init(_ usage: Newsroom_V1_Usage) {
        self.init(
            inputTokens: usage.hasInputTokens ? Int(clamping: usage.inputTokens) : nil,
            outputTokens: usage.hasOutputTokens ? Int(clamping: usage.outputTokens) : nil)
    }
}

extension Newsroom_V1_FinishReason {
    public init(_ reason: FinishReason) {
        switch reason {
        case .stop: self = .stop
        case .length: self = .length
        case .toolCalls: self = .toolCalls
        case .contentFilter: self = .contentFilter
        case .cancelled: self = .cancelled
        case .error: self = .error
        default: self = .unspecified
        }
    }
}

extension FinishReason {
    /// The hub's finish reason for a protobuf one; `nil` for `UNSPECIFIED` and unknown values.
    public init?(_ reason: Newsroom_V1_FinishReason) {
        switch reason {
        case .stop: self = .stop
        case .length: self = .length
        case .toolCalls: self = .toolCalls
        case .contentFilter: self = .contentFilter
        case .cancelled: self = .cancelled
        case .error: self = .error
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }
}

extension Newsroom_V1_TopicState {
    public init(_ state: TopicState) {
        switch state {
        case .waiting: self = .waiting
        case .streaming: self = .streaming
        case .ended: self = .ended
        default: self = .unspecified
        }
    }
}

extension TopicState {
    public init?(_ state: Newsroom_V1_TopicState) {
        switch state {
        case .waiting: self = .waiting
        case .streaming: self = .streaming
        case .ended: self = .ended
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }
}

extension Event {
    /// The hub event a protobuf event describes, as a client receives it (including heartbeats, gaps
    /// and notices). Lenient, like `EventDecoder.decodeBroadcast`: missing fields take their defaults.
    public init(_ message: Newsroom_V1_Event) {
        let payload: EventPayload
        switch message.payload {
        case .streamStart(let start)?:
            payload = .streamStart(
                StreamStart(
                    generation: start.hasGeneration ? start.generation : nil,
                    provider: start.hasProvider ? start.provider : nil, model: start.hasModel ? start.model : nil,
                    epoch: start.hasEpoch ? start.epoch : nil))
        case .textDelta(let delta)?:
            payload = .textDelta(TextDelta(text: delta.text, index: Int(delta.index)))
        case .reasoningDelta(let delta)?:
            payload = .reasoningDelta(ReasoningDelta(text: delta.text, index: Int(delta.index)))
        case .toolCallDelta(let delta)?:
            payload = .toolCallDelta(
                ToolCallDelta(
                    index: Int(delta.index), callID: delta.callID, name: delta.hasName ? delta.name : nil,
                    argumentsDelta: delta.argumentsDelta))
        case .toolCall(let call)?:
            payload = .toolCall(
                ToolCall(index: Int(call.index), callID: call.callID, name: call.name, arguments: call.arguments))
        case .streamComplete(let complete)?:
            payload = .streamComplete(
                StreamComplete(
                    finishReason: FinishReason(complete.finishReason) ?? .error,
                    providerFinishReason: complete.hasProviderFinishReason ? complete.providerFinishReason : nil,
                    usage: complete.hasUsage ? Usage(complete.usage) : nil))
        case .error(let error)?:
            payload = .error(
                StreamError(
                    code: error.code, message: error.message, retryable: error.retryable, terminal: error.terminal))
        case .heartbeat(let heartbeat)?:
            payload = .heartbeat(
                Heartbeat(
                    lastSeq: Int(clamping: heartbeat.lastSeq), state: TopicState(heartbeat.state) ?? .waiting,
                    epoch: heartbeat.hasEpoch ? heartbeat.epoch : nil))
        case .gap(let gap)?:
            payload = .gap(Gap(from: Int(clamping: gap.fromSeq), to: Int(clamping: gap.toSeq)))
        case .generationStarted(let started)?:
            payload = .generationStarted(
                GenerationStarted(
                    generation: started.generation, answerTopic: started.answerTopic,
                    provider: started.hasProvider ? started.provider : nil, model: started.hasModel ? started.model : nil,
                    prompt: started.hasPrompt ? started.prompt : nil))
        case .generationEnded(let ended)?:
            payload = .generationEnded(
                GenerationEnded(
                    generation: ended.generation, answerTopic: ended.answerTopic,
                    finishReason: FinishReason(ended.finishReason) ?? .error,
                    usage: ended.hasUsage ? Usage(ended.usage) : nil))
        case nil:
            payload = .error(
                StreamError(code: "unknown_event", message: "an event without a payload", retryable: false))
        }
        self.init(
            seq: message.seq == 0 ? nil : Int(clamping: message.seq), topic: message.topic,
            timestamp: Timestamp(message.ts), payload: payload)
    }
}
