import NIOCore
import NewsroomCore
import NewsroomWire

/// JSON bodies of the control API.
enum APIJSON {
    static func topic(_ snapshot: Topic.Snapshot, into json: inout JSONWriter) {
        json.beginObject()
        json.field("name", snapshot.name)
        json.field("state", snapshot.state.rawValue)
        json.field("last_seq", snapshot.lastSeq)
        json.field("first_seq", snapshot.firstSeq)
        json.field("subscribers", snapshot.subscribers)
        json.field("history_events", snapshot.historyEvents)
        json.field("history_bytes", snapshot.historyBytes)
        json.field("created_at", snapshot.createdAt.description)
        json.endObject()
    }

    static func topic(_ snapshot: Topic.Snapshot, allocator: ByteBufferAllocator) -> ByteBuffer {
        var json = JSONWriter(buffer: allocator.buffer(capacity: 192))
        Self.topic(snapshot, into: &json)
        return json.buffer
    }

    static func topics(_ snapshots: [Topic.Snapshot], allocator: ByteBufferAllocator) -> ByteBuffer {
        var json = JSONWriter(buffer: allocator.buffer(capacity: 64 + 160 * snapshots.count))
        json.beginObject()
        json.arrayField("topics")
        for snapshot in snapshots { Self.topic(snapshot, into: &json) }
        json.endArray()
        json.endObject()
        return json.buffer
    }

    static func receipt(_ receipt: Topic.PublishReceipt, allocator: ByteBufferAllocator) -> ByteBuffer {
        var json = JSONWriter(buffer: allocator.buffer(capacity: 96))
        json.beginObject()
        json.field("topic", receipt.topic)
        json.field("first_seq", receipt.firstSeq)
        json.field("last_seq", receipt.lastSeq)
        json.endObject()
        return json.buffer
    }

    static func generation(_ info: GenerationInfo, into json: inout JSONWriter) {
        json.beginObject()
        json.field("generation", info.id)
        json.field("topic", info.topic)
        json.field("provider", info.provider)
        json.field("model", info.model)
        json.field("state", info.state.rawValue)
        json.field("finish_reason", info.finishReason?.rawValue)
        json.objectField("timings")
        json.field("queued", info.queuedAt.description)
        json.field("first_token", info.firstTokenAt?.description)
        json.field("completed", info.completedAt?.description)
        json.endObject()
        json.usage(info.usage)
        json.endObject()
    }

    static func generation(_ info: GenerationInfo, allocator: ByteBufferAllocator) -> ByteBuffer {
        var json = JSONWriter(buffer: allocator.buffer(capacity: 320))
        Self.generation(info, into: &json)
        return json.buffer
    }

    static func status(_ status: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var json = JSONWriter(buffer: allocator.buffer(capacity: 32))
        json.beginObject()
        json.field("status", status)
        json.endObject()
        return json.buffer
    }
}
