import NIOCore

/// Engine.IO protocol v4 packets (the transport layer under Socket.IO): a type digit followed by the
/// packet's text, one packet per WebSocket message or several in an HTTP long-polling body joined by
/// the record separator `0x1e`.
///
/// Written here rather than taken from a library: no Swift server implementation of Engine.IO exists in
/// the Swift server ecosystem (the Socket.IO Swift package is a client for Apple platforms, on
/// Foundation's URLSession), and the protocol's framing is a few lines.
public struct EngineIOPacket: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        case open = 0x30  // "0"
        case close = 0x31
        case ping = 0x32
        case pong = 0x33
        case message = 0x34
        case upgrade = 0x35
        case noop = 0x36
        /// A binary message (`b` + base64 in a polling body; a binary frame on a WebSocket).
        case binaryMessage = 0x62  // "b"
    }

    public var kind: Kind
    /// The text after the type digit (for ``Kind/binaryMessage``, the base64 text).
    public var text: Substring

    public init(_ kind: Kind, _ text: Substring = "") {
        self.kind = kind
        self.text = text
    }

    /// A packet that is not Engine.IO (empty, or an unknown type).
    public struct DecodingError: Error, Hashable, Sendable {}

    /// Reads one packet (a WebSocket text message, or one record of a polling body).
    public static func decode(_ text: Substring) throws(DecodingError) -> EngineIOPacket {
        guard let first = text.utf8.first, let kind = Kind(rawValue: first), kind != .open else {
            throw DecodingError()
        }
        return EngineIOPacket(kind, text.dropFirst())
    }

    /// Reads a polling body: one or more packets joined by `0x1e`.
    public static func decodePayload(_ text: String) throws(DecodingError) -> [EngineIOPacket] {
        var packets: [EngineIOPacket] = []
        for record in text.split(separator: "\u{1e}", omittingEmptySubsequences: false) {
            packets.append(try Self.decode(record))
        }
        return packets
    }

    /// The record separator between packets of a polling body.
    public static let separator = UInt8(0x1e)

    /// The open packet of a new session: `0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}`
    /// (exactly these five keys, as the protocol's test suite checks).
    public static func open(
        sid: String, upgrades: [String], pingInterval: Int, pingTimeout: Int, maxPayload: Int
    ) -> ByteBuffer {
        var json = JSONWriter(buffer: ByteBuffer(string: "0"))
        json.beginObject()
        json.field("sid", sid)
        json.arrayField("upgrades")
        for upgrade in upgrades { json.element(upgrade) }
        json.endArray()
        json.field("pingInterval", pingInterval)
        json.field("pingTimeout", pingTimeout)
        json.field("maxPayload", maxPayload)
        json.endObject()
        return json.buffer
    }

    /// The error codes of Engine.IO's HTTP error answers (`{"code":1,"message":"Session ID unknown"}`).
    public enum ErrorCode: Int, Sendable {
        case unknownTransport = 0
        case unknownSessionID = 1
        case badHandshakeMethod = 2
        case badRequest = 3
        case forbidden = 4
        case unsupportedProtocolVersion = 5

        /// The message the reference server sends with the code.
        public var message: String {
            switch self {
            case .unknownTransport: "Transport unknown"
            case .unknownSessionID: "Session ID unknown"
            case .badHandshakeMethod: "Bad handshake method"
            case .badRequest: "Bad request"
            case .forbidden: "Forbidden"
            case .unsupportedProtocolVersion: "Unsupported protocol version"
            }
        }

        /// The JSON body of the error answer.
        public var body: ByteBuffer {
            var json = JSONWriter(buffer: ByteBuffer())
            json.beginObject()
            json.field("code", self.rawValue)
            json.field("message", self.message)
            json.endObject()
            return json.buffer
        }
    }
}
