import NIOCore
import NewsroomCore
import NewsroomProto
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The gRPC wire format: an event as one gRPC *Length-Prefixed-Message* (gRPC over HTTP/2: a compressed
/// flag of 0, a 4-byte big-endian length, then the serialized `newsroom.v1.Event`).
///
/// The hub encodes it once per accepted event and keeps the bytes with the event; every gRPC subscriber
/// writes those same bytes as the payload of its stream's DATA frames (HTTP/2 adds the frame headers per
/// stream), so no subscriber serializes or frames the event again. gRPC-Web over HTTP/2 uses the same
/// bytes (its data frames are gRPC's).
public struct GRPCFrameEncoder: FrameEncoder {
    /// The format's name (``NewsroomCore/WireFormat/name``).
    public static let name = "grpc"
    public var name: String { Self.name }
    public var transport: String { "grpc" }

    public init() {}

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        Self.lengthPrefixed(event, parts: &parts)
    }

    /// The length-prefixed message of `event`, made once per event for every gRPC format.
    static func lengthPrefixed(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        parts.part("grpc-message") { parts in
            let message = Newsroom_V1_Event(event)
            let bytes: [UInt8]
            do {
                bytes = try message.serializedBytes()
            } catch {
                // Only proto2 messages with unset required fields fail to serialize; this file is proto3.
                preconditionFailure("a proto3 message failed to serialize: \(error)")
            }
            return GRPCFraming.message(bytes, allocator: parts.allocator)
        }
    }
}

/// gRPC-Web in binary (`application/grpc-web+proto`) on HTTP/1.1: the length-prefixed message as one
/// HTTP/1.1 chunk, written below the HTTP encoder like the SSE chunks.
public struct GRPCWebChunkedEncoder: FrameEncoder {
    /// The format's name (``NewsroomCore/WireFormat/name``).
    public static let name = "grpc-web-chunked"
    public var name: String { Self.name }
    public var transport: String { "grpc-web" }

    public init() {}

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        SSEChunkedEncoder.chunk(GRPCFrameEncoder.lengthPrefixed(event, parts: &parts), allocator: parts.allocator)
    }
}

/// gRPC-Web in text (`application/grpc-web-text`) on HTTP/2: the length-prefixed message in base64. Each
/// message is encoded on its own, with its padding; gRPC-Web's spec lets a server flush base64 "chunks"
/// with padding at any point, and clients decode the stream 4 characters at a time.
public struct GRPCWebTextEncoder: FrameEncoder {
    /// The format's name (``NewsroomCore/WireFormat/name``).
    public static let name = "grpc-web-text"
    public var name: String { Self.name }
    public var transport: String { "grpc-web" }

    public init() {}

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        Self.text(event, parts: &parts)
    }

    static func text(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        parts.part("grpc-web-text") { parts in
            GRPCFraming.base64(GRPCFrameEncoder.lengthPrefixed(event, parts: &parts), allocator: parts.allocator)
        }
    }
}

/// gRPC-Web in text on HTTP/1.1: the base64 of the length-prefixed message as one HTTP/1.1 chunk.
public struct GRPCWebTextChunkedEncoder: FrameEncoder {
    /// The format's name (``NewsroomCore/WireFormat/name``).
    public static let name = "grpc-web-text-chunked"
    public var name: String { Self.name }
    public var transport: String { "grpc-web" }

    public init() {}

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        SSEChunkedEncoder.chunk(GRPCWebTextEncoder.text(event, parts: &parts), allocator: parts.allocator)
    }
}

/// gRPC's message framing (gRPC over HTTP/2, "Length-Prefixed-Message"; gRPC-Web, PROTOCOL-WEB.md).
public enum GRPCFraming {
    /// The flag of a gRPC-Web trailers frame (the MSB of the first byte).
    public static let trailersFlag: UInt8 = 0x80

    /// `bytes` as one uncompressed length-prefixed message.
    public static func message(_ bytes: some Collection<UInt8>, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.count + 5)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    /// `bytes` as one uncompressed length-prefixed message.
    public static func message(_ bytes: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.readableBytes + 5)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
        return buffer
    }

    /// A gRPC-Web trailers frame: flag 0x80, the length, then the trailers as an HTTP/1 header block
    /// (`name: value\r\n` each, lower-case names).
    public static func trailers(_ trailers: [(String, String)], allocator: ByteBufferAllocator) -> ByteBuffer {
        var block = allocator.buffer(capacity: 64)
        for (name, value) in trailers { block.writeString("\(name.lowercased()): \(value)\r\n") }
        var buffer = allocator.buffer(capacity: block.readableBytes + 5)
        buffer.writeInteger(Self.trailersFlag)
        buffer.writeInteger(UInt32(block.readableBytes))
        buffer.writeBuffer(&block)
        return buffer
    }

    /// The base64 text of `bytes` (gRPC-Web text framing).
    public static func base64(_ bytes: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let text = Data(bytes.readableBytesView).base64EncodedString()
        var buffer = allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        return buffer
    }

    /// The bytes of base64 `text` that decodes whole (a multiple of 4 characters; padding allowed inside
    /// the stream, as gRPC-Web text allows it between flushes), or `nil` when it is not base64.
    public static func decodeBase64(_ text: ByteBuffer) -> ByteBuffer? {
        // Each group of four characters decodes on its own: padded groups may appear mid-stream.
        var output = ByteBuffer()
        var view = text
        while view.readableBytes >= 4 {
            guard let group = view.readBytes(length: 4), let data = Data(base64Encoded: Data(group)) else { return nil }
            output.writeBytes(data)
        }
        return view.readableBytes == 0 ? output : nil
    }
}
