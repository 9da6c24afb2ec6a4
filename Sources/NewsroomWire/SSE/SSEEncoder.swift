import NIOCore
import NewsroomCore

/// Server-Sent Events framing of the broadcast format (WHATWG HTML, "Server-sent events").
///
/// Each event is one block: `id: <seq>` (only for events with a seq, so heartbeats and notices never
/// move a client's `Last-Event-ID`), `event: <type>`, `data: <the event JSON>`, and a blank line. The
/// JSON never contains a raw CR or LF (``JSONWriter`` escapes them), so one `data:` line always holds
/// the whole event and model output cannot inject fields.
public struct SSEEncoder: FrameEncoder {
    /// The format's name (``NewsroomCore/WireFormat/name``).
    public static let name = "sse"
    public var name: String { Self.name }
    public var transport: String { "sse" }

    public init() {}

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        Self.block(event, parts: &parts)
    }

    /// The SSE block of `event`, made once per event (the HTTP/1.1 chunk wraps the same block).
    static func block(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        parts.part("sse-block") { parts in
            let json = EventJSON.shared(event, parts: &parts)
            var buffer = parts.allocator.buffer(capacity: json.readableBytes + 48)
            Self.writeBlock(event, json: json, to: &buffer)
            return buffer
        }
    }

    /// Appends the SSE block of `event` (its JSON serialized here).
    public static func writeBlock(_ event: Event, to buffer: inout ByteBuffer) {
        Self.writeBlock(event, json: EventJSON.encode(event), to: &buffer)
    }

    /// Appends the SSE block of `event` whose JSON is `json`.
    static func writeBlock(_ event: Event, json: ByteBuffer, to buffer: inout ByteBuffer) {
        if let seq = event.seq {
            buffer.writeStaticString("id: ")
            buffer.writeString(String(seq))
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        buffer.writeStaticString("event: ")
        buffer.writeString(event.type.rawValue)
        buffer.writeStaticString("\ndata: ")
        buffer.writeImmutableBuffer(json)
        buffer.writeStaticString("\n\n")
    }

    /// The `retry:` field that opens a stream: the reconnection delay a browser's `EventSource` uses.
    public static func retry(milliseconds: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 16)
        buffer.writeString("retry: \(milliseconds)\n\n")
        return buffer
    }
}

/// The SSE block of an event wrapped as one HTTP/1.1 chunk (`<hex length>\r\n<block>\r\n`, RFC 9112
/// section 7.1), so an HTTP/1.1 connection writes the shared bytes below the HTTP encoder without
/// framing them again per subscriber.
public struct SSEChunkedEncoder: FrameEncoder {
    /// The format's name (``NewsroomCore/WireFormat/name``).
    public static let name = "sse-chunked"
    public var name: String { Self.name }
    public var transport: String { "sse" }

    public init() {}

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        Self.chunk(SSEEncoder.block(event, parts: &parts), allocator: parts.allocator)
    }

    /// Wraps `payload` as one chunk of a chunked body.
    public static func chunk(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = String(payload.readableBytes, radix: 16)
        var buffer = allocator.buffer(capacity: payload.readableBytes + length.utf8.count + 4)
        buffer.writeString(length)
        buffer.writeStaticString("\r\n")
        buffer.writeImmutableBuffer(payload)
        buffer.writeStaticString("\r\n")
        return buffer
    }
}
