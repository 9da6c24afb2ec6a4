import NIOCore
import NewsroomCore

/// A complete server-to-client WebSocket text frame holding the event JSON (RFC 6455 section 5.2:
/// FIN set, opcode 0x1, no mask — a server never masks), built once per event and written below
/// NIO's frame encoder by every WebSocket subscriber.
public struct WebSocketFrameEncoder: FrameEncoder {
    /// The format's name (``NewsroomCore/WireFormat/name``).
    public static let name = "websocket"
    public var name: String { Self.name }
    public var transport: String { "ws" }

    public init() {}

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        Self.textFrame(EventJSON.shared(event, parts: &parts), allocator: parts.allocator)
    }

    /// Frames `payload` as one unmasked, final text frame.
    public static func textFrame(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = payload.readableBytes
        var frame = allocator.buffer(capacity: length + 10)
        frame.writeInteger(UInt8(0x81))  // FIN | text
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        frame.writeImmutableBuffer(payload)
        return frame
    }
}
