import NIOCore

/// Encodes ``RedisCommand``s as RESP arrays of blob strings, the only form Redis accepts from clients
/// ("Sending commands to a Redis server", RESP2 and RESP3 alike).
///
/// `["SET", "k", 1]` is written as `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n`.
public struct RESPCommandEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = RedisCommand

    public init() {}

    public func encode(data command: RedisCommand, out: inout ByteBuffer) throws {
        Self.encode(command, into: &out)
    }

    /// Appends `command` to `buffer`.
    public static func encode(_ command: RedisCommand, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        Self.writeDecimal(command.arguments.count, into: &buffer)
        buffer.writeInteger(Self.crlf)
        for argument in command.arguments {
            switch argument.storage {
            case .string(let value):
                Self.writeBlobHeader(length: value.utf8.count, into: &buffer)
                buffer.writeString(value)
            case .bytes(let value):
                Self.writeBlobHeader(length: value.readableBytes, into: &buffer)
                buffer.writeImmutableBuffer(value)
            case .integer(let value):
                let text = String(value)
                Self.writeBlobHeader(length: text.utf8.count, into: &buffer)
                buffer.writeString(text)
            case .double(let value):
                let text = String(value)
                Self.writeBlobHeader(length: text.utf8.count, into: &buffer)
                buffer.writeString(text)
            }
            buffer.writeInteger(Self.crlf)
        }
    }

    private static let crlf: UInt16 = 0x0D0A

    private static func writeBlobHeader(length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "$"))
        Self.writeDecimal(length, into: &buffer)
        buffer.writeInteger(Self.crlf)
    }

    private static func writeDecimal(_ value: Int, into buffer: inout ByteBuffer) {
        if value >= 0, value < 10 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(value))
        } else {
            buffer.writeString(String(value))
        }
    }
}
