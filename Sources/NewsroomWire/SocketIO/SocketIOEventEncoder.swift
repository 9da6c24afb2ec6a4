import NIOCore
import NewsroomCore

/// Hub events as Socket.IO events named after their type, with the event's JSON object as the one
/// argument: `42["text_delta",{"seq":7,"type":"text_delta","topic":"chat:42",…}]`, so that
/// `socket.on("text_delta", …)` receives the same object SSE and WebSocket viewers get.
///
/// With connection state recovery on, an event with a `seq` carries a last string argument, its offset
/// `"<topic>#<seq>"` (what a Socket.IO client sends back as `offset` when it reconnects):
/// `42["text_delta",{…},"chat:42#7"]`.
///
/// Four formats share one packet per event: the bare Engine.IO packet (long-polling, where a poll answer
/// joins packets) and the same packet as a complete WebSocket text frame, each with and without offsets.
public struct SocketIOEventEncoder: FrameEncoder {
    public let name: String
    public var transport: String { "socketio" }
    /// Whether the packet is framed as a WebSocket text frame (else: the bare Engine.IO packet).
    public let webSocket: Bool
    /// Whether events carry their recovery offset.
    public let offsets: Bool

    public init(webSocket: Bool, offsets: Bool) {
        self.webSocket = webSocket
        self.offsets = offsets
        self.name = Self.name(webSocket: webSocket, offsets: offsets)
    }

    /// The format's name (``NewsroomCore/WireFormat/name``).
    public static func name(webSocket: Bool, offsets: Bool) -> String {
        "socketio" + (offsets ? "-offsets" : "") + (webSocket ? "-ws" : "")
    }

    /// The four formats.
    public static let all: [SocketIOEventEncoder] = [
        .init(webSocket: false, offsets: false), .init(webSocket: true, offsets: false),
        .init(webSocket: false, offsets: true), .init(webSocket: true, offsets: true),
    ]

    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        let offsets = self.offsets
        let packet = parts.part(offsets ? "socketio-offsets" : "socketio") { parts in
            Self.packet(event, json: EventJSON.shared(event, parts: &parts), offsets: offsets, allocator: parts.allocator)
        }
        return self.webSocket ? WebSocketFrameEncoder.textFrame(packet, allocator: parts.allocator) : packet
    }

    static func packet(_ event: Event, json: ByteBuffer, offsets: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        let name = event.type.rawValue
        var buffer = allocator.buffer(capacity: json.readableBytes + name.utf8.count + event.topic.utf8.count + 32)
        buffer.writeStaticString("42[\"")
        buffer.writeString(name)  // event type names need no escaping
        buffer.writeStaticString("\",")
        buffer.writeImmutableBuffer(json)
        if offsets, let seq = event.seq {
            buffer.writeStaticString(",\"")
            buffer.writeString(event.topic)  // topic names are [A-Za-z0-9._:-]: no escaping
            buffer.writeInteger(UInt8(ascii: "#"))
            buffer.writeString(String(seq))
            buffer.writeInteger(UInt8(ascii: "\""))
        }
        buffer.writeInteger(UInt8(ascii: "]"))
        return buffer
    }

    /// The `seq` of the event in a packet or frame of these formats, read from the event object's first
    /// key (`{"seq":`), or `nil` for an event without one (heartbeats, notices). Costs a scan of the
    /// first few dozen bytes; used to know where each subscription stands on a session.
    public static func seq(in frame: ByteBuffer) -> Int? {
        frame.withUnsafeReadableBytes { bytes -> Int? in
            // A WebSocket frame's header first (0x81, then a 1, 3 or 9 byte length).
            var start = 0
            if bytes.first == 0x81, bytes.count > 2 {
                start = bytes[1] < 126 ? 2 : (bytes[1] == 126 ? 4 : 10)
            }
            // Skip `42["<name>",`: the event object starts at the first `{`.
            guard let open = bytes[start..<min(bytes.count, start + 96)].firstIndex(of: UInt8(ascii: "{")) else { return nil }
            var index = open
            for byte in Self.seqKey {
                guard index < bytes.count, bytes[index] == byte else { return nil }
                index += 1
            }
            var value = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"), digits < 19 {
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
                digits += 1
            }
            return digits > 0 ? value : nil
        }
    }

    private static let seqKey: [UInt8] = Array("{\"seq\":".utf8)

    /// Reads an offset a client sent back (`"chat:42#7"`) as its topic and seq.
    public static func offset(_ text: String) -> (topic: String, seq: Int)? {
        guard let hash = text.lastIndex(of: "#"), let seq = Int(text[text.index(after: hash)...]), seq >= 0 else {
            return nil
        }
        let topic = String(text[..<hash])
        return TopicName.isValid(topic) ? (topic, seq) : nil
    }
}
