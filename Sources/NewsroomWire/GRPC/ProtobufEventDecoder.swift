import NewsroomCore
import NewsroomProto
import SwiftProtobuf

/// Validates events that publishers send over gRPC, with the rules of `EventDecoder` (the JSON one).
///
/// Protobuf cannot tell an empty string from a missing one, so a required string that identifies
/// something (`call_id`, a tool's `name`, an error's `code`) must not be empty; free text (`text`,
/// `arguments_delta`, `arguments`, `message`) may be. As with JSON, `seq`, `ts` and `topic` are set by
/// the hub (and a `stream_start`'s `epoch` by the broker) and must not be sent, `heartbeat` and `gap` cannot
/// be published, and fields this hub does
/// not know (protobuf unknown fields, from a newer `.proto`) are rejected rather than dropped silently.
public enum ProtobufEventDecoder {
    /// Decodes one published event.
    /// - Throws: `EventDecoder.Failure` naming the field; the message is safe to show to the client.
    public static func decodePublished(_ message: Newsroom_V1_Event) throws(EventDecoder.Failure) -> EventPayload {
        if message.seq != 0 { throw EventDecoder.Failure("'seq' is set by the hub and must not be sent") }
        if message.hasTs { throw EventDecoder.Failure("'ts' is set by the hub and must not be sent") }
        if !message.topic.isEmpty {
            throw EventDecoder.Failure("'topic' is set by the hub and must not be sent (name it in the request)")
        }
        try Self.rejectUnknownFields(message.unknownFields, in: "event")
        guard let payload = message.payload else {
            throw EventDecoder.Failure(
                "missing event payload (one of stream_start, text_delta, reasoning_delta, tool_call_delta, tool_call, "
                    + "stream_complete, error)")
        }
        switch payload {
        case .streamStart(let start):
            try Self.rejectUnknownFields(start.unknownFields, in: "stream_start")
            if start.hasEpoch { throw EventDecoder.Failure("'epoch' is set by the broker and must not be sent") }
            return .streamStart(
                StreamStart(
                    generation: start.hasGeneration ? start.generation : nil,
                    provider: start.hasProvider ? start.provider : nil, model: start.hasModel ? start.model : nil))
        case .textDelta(let delta):
            try Self.rejectUnknownFields(delta.unknownFields, in: "text_delta")
            return .textDelta(TextDelta(text: delta.text, index: try Self.index(delta.index)))
        case .reasoningDelta(let delta):
            try Self.rejectUnknownFields(delta.unknownFields, in: "reasoning_delta")
            return .reasoningDelta(ReasoningDelta(text: delta.text, index: try Self.index(delta.index)))
        case .toolCallDelta(let delta):
            try Self.rejectUnknownFields(delta.unknownFields, in: "tool_call_delta")
            return .toolCallDelta(
                ToolCallDelta(
                    index: try Self.index(delta.index), callID: try Self.required(delta.callID, "call_id"),
                    name: delta.hasName ? delta.name : nil, argumentsDelta: delta.argumentsDelta))
        case .toolCall(let call):
            try Self.rejectUnknownFields(call.unknownFields, in: "tool_call")
            return .toolCall(
                ToolCall(
                    index: try Self.index(call.index), callID: try Self.required(call.callID, "call_id"),
                    name: try Self.required(call.name, "name"), arguments: call.arguments))
        case .streamComplete(let complete):
            try Self.rejectUnknownFields(complete.unknownFields, in: "stream_complete")
            guard let reason = FinishReason(complete.finishReason) else {
                throw EventDecoder.Failure(
                    complete.finishReason == .unspecified
                        ? "missing field 'finish_reason'" : "unknown 'finish_reason' \(complete.finishReason.rawValue)")
            }
            var usage: Usage?
            if complete.hasUsage {
                try Self.rejectUnknownFields(complete.usage.unknownFields, in: "usage")
                guard complete.usage.inputTokens <= Int.max, complete.usage.outputTokens <= Int.max else {
                    throw EventDecoder.Failure("'usage' counts must fit a signed 64-bit integer")
                }
                usage = Usage(complete.usage)
            }
            return .streamComplete(
                StreamComplete(
                    finishReason: reason,
                    providerFinishReason: complete.hasProviderFinishReason ? complete.providerFinishReason : nil,
                    usage: usage))
        case .error(let error):
            try Self.rejectUnknownFields(error.unknownFields, in: "error")
            let code = error.code
            guard !code.isEmpty, code.utf8.count <= 64,
                code.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F })
            else {
                throw EventDecoder.Failure("'code' must be snake_case (a-z, 0-9, _), at most 64 characters")
            }
            return .error(
                StreamError(code: code, message: error.message, retryable: error.retryable, terminal: error.terminal))
        case .heartbeat:
            throw EventDecoder.Failure("'heartbeat' events are made by the hub and cannot be published")
        case .gap:
            throw EventDecoder.Failure("'gap' events are made by the hub and cannot be published")
        case .generationStarted(let started):
            try Self.rejectUnknownFields(started.unknownFields, in: "generation_started")
            return .generationStarted(
                GenerationStarted(
                    generation: try Self.required(started.generation, "generation"),
                    answerTopic: try Self.required(started.answerTopic, "answer_topic"),
                    provider: started.hasProvider ? started.provider : nil, model: started.hasModel ? started.model : nil,
                    prompt: started.hasPrompt ? started.prompt : nil))
        case .generationEnded(let ended):
            try Self.rejectUnknownFields(ended.unknownFields, in: "generation_ended")
            guard let reason = FinishReason(ended.finishReason) else {
                throw EventDecoder.Failure("missing or unknown field 'finish_reason'")
            }
            return .generationEnded(
                GenerationEnded(
                    generation: try Self.required(ended.generation, "generation"),
                    answerTopic: try Self.required(ended.answerTopic, "answer_topic"), finishReason: reason,
                    usage: ended.hasUsage ? Usage(ended.usage) : nil))
        }
    }

    private static func index(_ value: UInt32) throws(EventDecoder.Failure) -> Int {
        guard value <= 1_000_000 else { throw EventDecoder.Failure("'index' must be at most 1000000") }
        return Int(value)
    }

    private static func required(_ value: String, _ field: String) throws(EventDecoder.Failure) -> String {
        guard !value.isEmpty else { throw EventDecoder.Failure("missing field '\(field)'") }
        return value
    }

    private static func rejectUnknownFields(_ fields: UnknownStorage, in message: String) throws(EventDecoder.Failure) {
        guard fields.data.isEmpty else {
            throw EventDecoder.Failure("unknown fields in '\(message)' (is the client's .proto newer than the hub's?)")
        }
    }
}
