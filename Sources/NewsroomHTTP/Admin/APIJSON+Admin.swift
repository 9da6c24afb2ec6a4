import NIOCore
import NewsroomControl
import NewsroomCore
import NewsroomWire

extension APIJSON {
    /// `GET /v1/admin`: the operator's console's view of the hub.
    ///
    /// `{"time", "topics": [topic + "subscribers_by_transport": [{"transport","subscribers"}]],
    /// "generations": [generation], "errors": [{"time","topic","code","message","source","seq"}],
    /// "metrics": {figures} | null}`.
    static func admin(
        _ snapshot: ControlService.AdminSnapshot, metrics: MetricsSummary?, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var json = JSONWriter(
            buffer: allocator.buffer(
                capacity: 512 + 320 * snapshot.topics.count + 360 * snapshot.generations.count + 200 * snapshot.errors.count))
        json.beginObject()
        json.field("time", snapshot.time.description)
        json.arrayField("topics")
        for entry in snapshot.topics {
            let topic = entry.topic
            json.beginObject()
            json.field("name", topic.name)
            json.field("state", topic.state.rawValue)
            json.field("last_seq", topic.lastSeq)
            json.field("subscribers", topic.subscribers)
            json.arrayField("subscribers_by_transport")
            for (transport, subscribers) in entry.subscribersByTransport {
                json.beginObject()
                json.field("transport", transport)
                json.field("subscribers", subscribers)
                json.endObject()
            }
            json.endArray()
            json.field("history_events", topic.historyEvents)
            json.field("history_bytes", topic.historyBytes)
            json.field("created_at", topic.createdAt.description)
            json.endObject()
        }
        json.endArray()
        json.arrayField("generations")
        for info in snapshot.generations { Self.generation(info, into: &json) }
        json.endArray()
        json.arrayField("errors")
        for error in snapshot.errors {
            json.beginObject()
            json.field("time", error.time.description)
            json.field("topic", error.topic)
            json.field("code", error.code)
            json.field("message", error.message)
            json.field("source", error.source.rawValue)
            json.field("seq", error.seq)
            json.endObject()
        }
        json.endArray()
        if let metrics {
            json.objectField("metrics")
            metrics.write(into: &json)
            json.endObject()
        } else {
            json.null("metrics")
        }
        json.endObject()
        return json.buffer
    }
}
