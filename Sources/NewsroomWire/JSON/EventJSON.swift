import NIOCore
import NewsroomCore

/// The broadcast format's JSON: one object per event, keys in a fixed order.
///
/// `{"seq":7,"type":"text_delta","topic":"chat:42","ts":"2026-11-25T13:38:28.123Z","text":"Hel","index":0}`.
/// Events without a `seq` (heartbeats, gaps, per-subscriber notices) have no `seq` key.
public enum EventJSON {
    /// Writes `event` as JSON to `buffer`.
    public static func write(_ event: Event, to buffer: inout ByteBuffer) {
        var json = JSONWriter(buffer: buffer)
        buffer = ByteBuffer()  // hand the storage to the writer without a copy
        json.beginObject()
        if let seq = event.seq { json.field("seq", seq) }
        json.field("type", event.type.rawValue)
        json.field("topic", event.topic)
        json.field("ts", event.timestamp.description)
        Self.writeFields(event.payload, to: &json)
        json.endObject()
        buffer = json.buffer
    }

    /// Writes a payload as a publishable event object: `type` and the type's fields, no envelope
    /// (what `POST /v1/topics/{topic}/events` takes).
    public static func writePublishable(_ payload: EventPayload, to buffer: inout ByteBuffer) {
        var json = JSONWriter(buffer: buffer)
        buffer = ByteBuffer()
        json.beginObject()
        json.field("type", payload.type.rawValue)
        Self.writeFields(payload, to: &json)
        json.endObject()
        buffer = json.buffer
    }

    private static func writeFields(_ payload: EventPayload, to json: inout JSONWriter) {
        switch payload {
        case .streamStart(let start):
            json.field("generation", start.generation)
            json.field("provider", start.provider)
            json.field("model", start.model)
            if let epoch = start.epoch { json.field("epoch", epoch) }
        case .textDelta(let delta):
            json.field("text", delta.text)
            json.field("index", delta.index)
        case .reasoningDelta(let delta):
            json.field("text", delta.text)
            json.field("index", delta.index)
        case .toolCallDelta(let delta):
            json.field("index", delta.index)
            json.field("call_id", delta.callID)
            if let name = delta.name { json.field("name", name) }
            json.field("arguments_delta", delta.argumentsDelta)
        case .toolCall(let call):
            json.field("index", call.index)
            json.field("call_id", call.callID)
            json.field("name", call.name)
            json.field("arguments", call.arguments)
        case .streamComplete(let complete):
            json.field("finish_reason", complete.finishReason.rawValue)
            json.field("provider_finish_reason", complete.providerFinishReason)
            json.usage(complete.usage)
        case .error(let error):
            json.field("code", error.code)
            json.field("message", error.message)
            json.field("retryable", error.retryable)
            if error.terminal { json.field("terminal", true) }
        case .heartbeat(let heartbeat):
            json.field("last_seq", heartbeat.lastSeq)
            json.field("state", heartbeat.state.rawValue)
            if let epoch = heartbeat.epoch { json.field("epoch", epoch) }
        case .gap(let gap):
            json.field("from", gap.from)
            json.field("to", gap.to)
        case .generationStarted(let started):
            json.field("generation", started.generation)
            json.field("answer_topic", started.answerTopic)
            json.field("provider", started.provider)
            json.field("model", started.model)
            if let prompt = started.prompt { json.field("prompt", prompt) }
        case .generationEnded(let ended):
            json.field("generation", ended.generation)
            json.field("answer_topic", ended.answerTopic)
            json.field("finish_reason", ended.finishReason.rawValue)
            json.usage(ended.usage)
        }
    }

    /// The JSON of `event` in a new buffer.
    public static func encode(_ event: Event, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 128)
        Self.write(event, to: &buffer)
        return buffer
    }

    /// The JSON of `event`, serialized once per event for every wire format that carries it.
    public static func shared(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        parts.part("json") { Self.encode(event, allocator: $0.allocator) }
    }

    /// The JSON of `event` as a `String`.
    public static func string(_ event: Event) -> String {
        String(buffer: Self.encode(event))
    }
}
