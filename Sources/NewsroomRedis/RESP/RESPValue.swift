import NIOCore

/// One value of the Redis serialization protocol, RESP3 (a superset of RESP2).
///
/// Every reply and every push message the server sends decodes to one `RESPValue`. The RESP2 null bulk
/// string (`$-1`) and null array (`*-1`) both decode to ``null``, as RESP3's `_` does. Attributes (`|`) are
/// read and dropped by ``RESPDecoder``, so they never appear here.
///
/// Spec: <https://github.com/redis/redis-specifications/blob/master/protocol/RESP3.md>.
public enum RESPValue: Sendable, Hashable {
    /// `+OK` — a short, binary-unsafe status string.
    case simpleString(ByteBuffer)
    /// `$5\r\nhello` — a binary-safe string (a "bulk string" in RESP2).
    case blobString(ByteBuffer)
    /// `=15\r\ntxt:Some string` — a string with a three-letter format (`txt`, `mkd`).
    case verbatimString(format: String, ByteBuffer)
    /// `-ERR message` — an error reply; the first word is its code (`ERR`, `NOSCRIPT`, `MOVED`, …).
    case simpleError(ByteBuffer)
    /// `!21\r\nSYNTAX invalid syntax` — a binary-safe error reply.
    case blobError(ByteBuffer)
    /// `:1000` — a signed 64-bit integer.
    case integer(Int64)
    /// `,3.14`, `,inf`, `,-inf`, `,nan`.
    case double(Double)
    /// `#t` / `#f`.
    case boolean(Bool)
    /// `_`, or RESP2's `$-1` and `*-1`.
    case null
    /// `(3492890328409238509324850943850943825024385` — an integer of any size, as its decimal digits.
    case bigNumber(String)
    /// `*2\r\n…` — an ordered collection.
    case array([RESPValue])
    /// `%2\r\n…` — key/value pairs. Redis never repeats a key; if a server did, the last value wins.
    case map([RESPValue: RESPValue])
    /// `~2\r\n…` — an unordered collection, kept in the order it arrived.
    case set([RESPValue])
    /// `>3\r\n…` — an out-of-band message (Pub/Sub, client-side caching); never the reply to a command,
    /// except the (un)subscribe confirmations in RESP3.
    case push([RESPValue])
}

extension RESPValue {
    /// The value as text: simple, blob and verbatim strings, big numbers, integers and doubles. `nil` for
    /// other kinds.
    public var string: String? {
        switch self {
        case .simpleString(let buffer), .blobString(let buffer), .verbatimString(_, let buffer):
            return String(buffer: buffer)
        case .bigNumber(let digits):
            return digits
        case .integer(let value):
            return String(value)
        case .double(let value):
            return String(value)
        default:
            return nil
        }
    }

    /// The bytes of a simple, blob or verbatim string; `nil` for other kinds.
    public var bytes: ByteBuffer? {
        switch self {
        case .simpleString(let buffer), .blobString(let buffer), .verbatimString(_, let buffer):
            return buffer
        default:
            return nil
        }
    }

    /// The value as an integer: integers, and strings that hold a decimal integer (RESP2 servers and some
    /// commands send numbers as strings). `nil` otherwise.
    public var int: Int? {
        switch self {
        case .integer(let value):
            return Int(exactly: value)
        case .simpleString, .blobString, .bigNumber:
            return self.string.flatMap { Int($0) }
        default:
            return nil
        }
    }

    /// The elements of an array, set or push; `nil` for other kinds.
    public var array: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values), .push(let values):
            return values
        default:
            return nil
        }
    }

    /// Whether this is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The message of an error reply (`NOSCRIPT No matching script…`); `nil` if this is not an error.
    public var errorMessage: String? {
        switch self {
        case .simpleError(let buffer), .blobError(let buffer):
            return String(buffer: buffer)
        default:
            return nil
        }
    }
}

extension RESPValue: ExpressibleByStringLiteral {
    /// A ``blobString`` holding the UTF-8 of `value`.
    public init(stringLiteral value: String) {
        self = .blobString(ByteBuffer(string: value))
    }
}

extension RESPValue: ExpressibleByIntegerLiteral {
    /// An ``integer``.
    public init(integerLiteral value: Int64) {
        self = .integer(value)
    }
}

extension RESPValue: ExpressibleByArrayLiteral {
    /// An ``array``.
    public init(arrayLiteral elements: RESPValue...) {
        self = .array(elements)
    }
}

extension RESPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .simpleString(let buffer): return "+\(String(buffer: buffer))"
        case .blobString(let buffer): return "\"\(String(buffer: buffer))\""
        case .verbatimString(let format, let buffer): return "\(format):\(String(buffer: buffer))"
        case .simpleError(let buffer), .blobError(let buffer): return "-\(String(buffer: buffer))"
        case .integer(let value): return "(integer) \(value)"
        case .double(let value): return "(double) \(value)"
        case .boolean(let value): return "(boolean) \(value)"
        case .null: return "(null)"
        case .bigNumber(let digits): return "(big number) \(digits)"
        case .array(let values): return "[\(values.map(\.description).joined(separator: ", "))]"
        case .set(let values): return "~[\(values.map(\.description).joined(separator: ", "))]"
        case .push(let values): return ">[\(values.map(\.description).joined(separator: ", "))]"
        case .map(let pairs):
            return "{\(pairs.map { "\($0.key.description): \($0.value.description)" }.joined(separator: ", "))}"
        }
    }
}
