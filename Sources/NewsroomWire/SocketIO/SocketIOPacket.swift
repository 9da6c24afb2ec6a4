import NIOCore
import NewsroomCore

/// Socket.IO protocol v5 packets, carried in Engine.IO `message` packets:
/// `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, e.g. `0{"token":"…"}` (connect with auth),
/// `2["subscribe",{"topic":"t"}]`, `212["publish",{…}]` (event with ack id 12), `312[{…}]` (its ack).
///
/// The decoder is as strict as the reference parser (`socket.io-parser`'s `isPayloadValid`): a packet
/// it refuses closes the whole connection, as the protocol's test suite expects.
public struct SocketIOPacket: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        case connect = 0
        case disconnect = 1
        case event = 2
        case ack = 3
        case connectError = 4
        case binaryEvent = 5
        case binaryAck = 6
    }

    public var kind: Kind
    /// The namespace, `/` when the packet names none.
    public var namespace: String
    public var ackID: Int?
    /// The JSON payload, if any.
    public var data: JSONValue?

    public init(kind: Kind, namespace: String = "/", ackID: Int? = nil, data: JSONValue? = nil) {
        self.kind = kind
        self.namespace = namespace
        self.ackID = ackID
        self.data = data
    }

    /// A packet the protocol does not allow.
    public struct DecodingError: Error, Hashable, Sendable {
        public var reason: String
    }

    /// Event names a peer may not emit (they are the libraries' own).
    public static let reservedEventNames: Set<String> = [
        "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    ]

    /// Reads the text of one Engine.IO message packet.
    public static func decode(_ text: Substring) throws(DecodingError) -> SocketIOPacket {
        var rest = text.utf8[...]
        guard let first = rest.first, first >= UInt8(ascii: "0"), let kind = Kind(rawValue: first - UInt8(ascii: "0")) else {
            throw DecodingError(reason: "unknown packet type")
        }
        rest = rest.dropFirst()
        if kind == .binaryEvent || kind == .binaryAck {
            throw DecodingError(reason: "binary packets are not supported; send JSON")
        }
        var packet = SocketIOPacket(kind: kind)
        if rest.first == UInt8(ascii: "/") {
            let end = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
            var namespace = String(decoding: rest[rest.startIndex..<end], as: UTF8.self)
            // The Python client may append the connection's query string to the namespace.
            if let query = namespace.firstIndex(of: "?") { namespace = String(namespace[..<query]) }
            packet.namespace = namespace
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
        }
        let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        if !digits.isEmpty {
            guard digits.count <= 15 else { throw DecodingError(reason: "ack id too long") }
            packet.ackID = Int(String(decoding: digits, as: UTF8.self))
            rest = rest.dropFirst(digits.count)
        }
        if !rest.isEmpty {
            do {
                packet.data = try JSONValue.parse(rest)
            } catch {
                throw DecodingError(reason: "payload is not JSON")
            }
        }
        guard packet.isValid else { throw DecodingError(reason: "payload not allowed for this packet type") }
        return packet
    }

    private var isValid: Bool {
        switch self.kind {
        case .connect:
            if case .object? = self.data { return true }
            return self.data == nil
        case .disconnect:
            return self.data == nil
        case .connectError:
            switch self.data {
            case .string?, .object?: return true
            default: return false
            }
        case .event:
            guard case .array(let items)? = self.data, let name = items.first else { return false }
            switch name {
            case .string(let name): return !Self.reservedEventNames.contains(name)
            case .int, .double: return true
            default: return false
            }
        case .ack:
            if case .array? = self.data { return true }
            return false
        case .binaryEvent, .binaryAck:
            return false
        }
    }

    // MARK: Encoding (server to client), as Engine.IO message packets (`4` + the Socket.IO packet)

    /// `40{"sid":…}` (+ `"pid"` when the session can be recovered): the namespace is connected.
    public static func connected(namespace: String, sid: String, pid: String?) -> ByteBuffer {
        var buffer = Self.header(.connect, namespace: namespace, ackID: nil)
        var json = JSONWriter(buffer: buffer)
        buffer = ByteBuffer()
        json.beginObject()
        json.field("sid", sid)
        if let pid { json.field("pid", pid) }
        json.endObject()
        return json.buffer
    }

    /// `44{"message":…,"data":{"code":…}}`: the namespace refused the connection.
    public static func connectError(namespace: String, message: String, code: String?) -> ByteBuffer {
        var json = JSONWriter(buffer: Self.header(.connectError, namespace: namespace, ackID: nil))
        json.beginObject()
        json.field("message", message)
        if let code {
            json.objectField("data")
            json.field("code", code)
            json.endObject()
        }
        json.endObject()
        return json.buffer
    }

    /// `43<id>[<value>]`: the answer to an event sent with an ack id.
    public static func ack(namespace: String, id: Int, value: ByteBuffer) -> ByteBuffer {
        var buffer = Self.header(.ack, namespace: namespace, ackID: id)
        buffer.writeInteger(UInt8(ascii: "["))
        buffer.writeImmutableBuffer(value)
        buffer.writeInteger(UInt8(ascii: "]"))
        return buffer
    }

    /// `42["<name>",<value>]`: an event with one argument.
    public static func event(namespace: String, name: String, value: ByteBuffer) -> ByteBuffer {
        var buffer = Self.header(.event, namespace: namespace, ackID: nil)
        buffer.writeInteger(UInt8(ascii: "["))
        JSONWriter.writeString(name, to: &buffer)
        buffer.writeInteger(UInt8(ascii: ","))
        buffer.writeImmutableBuffer(value)
        buffer.writeInteger(UInt8(ascii: "]"))
        return buffer
    }

    /// `41`: the server disconnects the namespace.
    public static func disconnect(namespace: String) -> ByteBuffer {
        Self.header(.disconnect, namespace: namespace, ackID: nil)
    }

    private static func header(_ kind: Kind, namespace: String, ackID: Int?) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(64)
        buffer.writeInteger(UInt8(ascii: "4"))
        buffer.writeInteger(UInt8(ascii: "0") + kind.rawValue)
        if namespace != "/" {
            buffer.writeString(namespace)
            buffer.writeInteger(UInt8(ascii: ","))
        }
        if let ackID { buffer.writeString(String(ackID)) }
        return buffer
    }
}
