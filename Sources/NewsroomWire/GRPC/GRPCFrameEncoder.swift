import NIOCore
import NewsroomCore
import NewsroomProto
import SwiftProtobuf

/// The gRPC wire format: an event as the serialized bytes of a `newsroom.v1.Event` message.
///
/// The hub calls it once per accepted event and keeps the bytes with the event; every gRPC subscriber
/// then sends those same bytes (``EventFrame``), so no subscriber serializes the event again. The
/// bytes are the bare message: gRPC's length-prefixed framing (gRPC over HTTP/2, "Length-Prefixed-Message")
/// and the HTTP/2 DATA frames are added by the transport, per stream.
///
/// Register it in the hub's encoder list; the gRPC service finds it by ``name``.
public struct GRPCFrameEncoder: FrameEncoder {
    /// The format's name (``NewsroomCore/WireFormat/name``), which the service looks it up by.
    public static let name = "grpc"
    public var name: String { Self.name }
    public var transport: String { "grpc" }

    public init() {}

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        let allocator = parts.allocator
        let message = Newsroom_V1_Event(event)
        let bytes: [UInt8]
        do {
            bytes = try message.serializedBytes()
        } catch {
            // Only proto2 messages with unset required fields fail to serialize; this file is proto3.
            preconditionFailure("a proto3 message failed to serialize: \(error)")
        }
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }
}
