import NIOCore

/// Decodes a stream of RESP3 (or RESP2) bytes into ``RESPValue``s, one per top-level reply or push.
///
/// The decoder is incremental: it consumes a header or a complete scalar as soon as its bytes are there,
/// and keeps the aggregates it is filling on a stack, so a large array arriving in many TCP segments is
/// parsed once, not re-parsed on every segment. Any split of the input, down to one byte at a time,
/// yields the same values.
///
/// Supported, per the RESP3 specification
/// (<https://github.com/redis/redis-specifications/blob/master/protocol/RESP3.md>): simple strings `+`,
/// simple errors `-`, integers `:`, blob strings `$` (and RESP2's `$-1` null), blob errors `!`, verbatim
/// strings `=`, doubles `,`, booleans `#`, null `_`, big numbers `(`, arrays `*` (and `*-1`), maps `%`,
/// sets `~`, pushes `>`, attributes `|` (read and dropped), and the streamed forms: `$?` with `;` chunks,
/// and `*?`/`%?`/`~?` ended by `.`.
///
/// - Throws: ``RedisError/Code/protocolError`` for bytes that are not RESP or exceed ``Limits``; the
///   connection is then unusable and is closed.
public struct RESPDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    /// Bounds on what one reply may claim, so a broken or hostile peer cannot make the client allocate
    /// without bound or recurse too deep.
    public struct Limits: Sendable, Hashable {
        /// The longest blob string, blob error or verbatim string. Default 512 MiB, Redis's
        /// `proto-max-bulk-len`.
        public var maximumBlobLength: Int = 512 << 20
        /// The longest line (simple string, simple error, number). Default 64 KiB.
        public var maximumLineLength: Int = 64 << 10
        /// How deeply aggregates may nest. Default 64.
        public var maximumDepth: Int = 64

        public init() {}

        /// The defaults.
        public static var defaults: Limits { Limits() }
    }

    private enum AggregateKind {
        case array, map, set, push, attribute
    }

    /// An aggregate being filled.
    private struct Frame {
        var kind: AggregateKind
        /// Elements still expected (for a map or attribute, twice the pairs); `nil` for a streamed aggregate,
        /// which ends at `.`.
        var remaining: Int?
        var elements: [RESPValue]
    }

    private let limits: Limits
    private var stack: [Frame] = []
    /// The chunks of a streamed string (`$?`) read so far.
    private var streamedString: ByteBuffer?

    public init(limits: Limits = .defaults) {
        self.limits = limits
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try self.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A reply cut short by EOF is dropped: the connection is gone and its commands fail with it.
        try self.decode(context: context, buffer: &buffer)
    }

    /// Reads the next complete top-level value, consuming its bytes; `nil` when more bytes are needed.
    ///
    /// Exposed for tests and for decoding outside a channel.
    public mutating func next(from buffer: inout ByteBuffer) throws -> RESPValue? {
        while true {
            guard let token = try self.readToken(from: &buffer) else { return nil }
            if let value = try self.apply(token) {
                return value
            }
        }
    }

    // MARK: - Tokens

    private enum Token {
        /// A complete scalar value.
        case value(RESPValue)
        /// The header of an aggregate; `count` is `nil` for a streamed one.
        case aggregate(AggregateKind, count: Int?)
        /// `$?`: a streamed string starts.
        case streamedStringStart
        /// `;N` and its payload; an empty chunk (`;0`) ends the string.
        case streamedStringChunk(ByteBuffer)
        /// `.`: a streamed aggregate ends.
        case end
    }

    /// Reads one token if all its bytes are there; otherwise consumes nothing and returns `nil`.
    private func readToken(from buffer: inout ByteBuffer) throws -> Token? {
        let start = buffer.readerIndex
        guard let type = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        guard let lineEnd = try self.findLineEnd(in: buffer, from: start + 1) else { return nil }
        // `line` is the bytes between the type byte and CRLF; `afterLine` is where the next byte starts.
        let line = buffer.getSlice(at: start + 1, length: lineEnd - start - 1)!
        let afterLine = lineEnd + 2

        func consumeLine(_ token: Token) -> Token {
            buffer.moveReaderIndex(to: afterLine)
            return token
        }

        switch type {
        case UInt8(ascii: "+"):
            return consumeLine(.value(.simpleString(line)))
        case UInt8(ascii: "-"):
            return consumeLine(.value(.simpleError(line)))
        case UInt8(ascii: ":"):
            return consumeLine(.value(.integer(try Self.parseInteger(line))))
        case UInt8(ascii: ","):
            return consumeLine(.value(.double(try Self.parseDouble(line))))
        case UInt8(ascii: "#"):
            switch line.readableBytesView.first {
            case UInt8(ascii: "t") where line.readableBytes == 1: return consumeLine(.value(.boolean(true)))
            case UInt8(ascii: "f") where line.readableBytes == 1: return consumeLine(.value(.boolean(false)))
            default: throw RedisError.protocolError("invalid RESP boolean")
            }
        case UInt8(ascii: "_"):
            guard line.readableBytes == 0 else { throw RedisError.protocolError("invalid RESP null") }
            return consumeLine(.value(.null))
        case UInt8(ascii: "("):
            let digits = String(buffer: line)
            guard Self.isBigNumber(digits) else { throw RedisError.protocolError("invalid RESP big number") }
            return consumeLine(.value(.bigNumber(digits)))
        case UInt8(ascii: "."):
            guard line.readableBytes == 0 else { throw RedisError.protocolError("invalid RESP end marker") }
            return consumeLine(.end)

        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="), UInt8(ascii: ";"):
            if type == UInt8(ascii: "$"), line.readableBytesView.elementsEqual([UInt8(ascii: "?")]) {
                return consumeLine(.streamedStringStart)
            }
            let claimed = try Self.parseInteger(line)
            if claimed == -1, type == UInt8(ascii: "$") {
                return consumeLine(.value(.null))  // RESP2 null bulk string
            }
            guard claimed >= 0, claimed <= self.limits.maximumBlobLength else {
                throw RedisError.protocolError("RESP blob length out of range")
            }
            let length = Int(claimed)
            if length == 0, type == UInt8(ascii: ";") {
                return consumeLine(.streamedStringChunk(ByteBuffer()))  // `;0` ends the string, no payload
            }
            // The payload and its trailing CRLF must both be there.
            guard buffer.writerIndex - afterLine >= length + 2 else { return nil }
            guard buffer.getInteger(at: afterLine + length, as: UInt16.self) == Self.crlf else {
                throw RedisError.protocolError("RESP blob not followed by CRLF")
            }
            let payload = buffer.getSlice(at: afterLine, length: length)!
            buffer.moveReaderIndex(to: afterLine + length + 2)
            switch type {
            case UInt8(ascii: "$"):
                return .value(.blobString(payload))
            case UInt8(ascii: "!"):
                return .value(.blobError(payload))
            case UInt8(ascii: ";"):
                return .streamedStringChunk(payload)
            default:  // "=": three-letter format, ":", then the text
                guard length >= 4, payload.getInteger(at: payload.readerIndex + 3, as: UInt8.self) == 58 else {
                    throw RedisError.protocolError("invalid RESP verbatim string")
                }
                let format = payload.getString(at: payload.readerIndex, length: 3)!
                return .value(.verbatimString(format: format, payload.getSlice(at: payload.readerIndex + 4, length: length - 4)!))
            }

        case UInt8(ascii: "*"), UInt8(ascii: "%"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "|"):
            let kind: AggregateKind
            switch type {
            case UInt8(ascii: "*"): kind = .array
            case UInt8(ascii: "%"): kind = .map
            case UInt8(ascii: "~"): kind = .set
            case UInt8(ascii: ">"): kind = .push
            default: kind = .attribute
            }
            if line.readableBytesView.elementsEqual([UInt8(ascii: "?")]) {
                guard kind != .push, kind != .attribute else {
                    throw RedisError.protocolError("RESP push and attribute cannot be streamed")
                }
                return consumeLine(.aggregate(kind, count: nil))
            }
            let count = try Self.parseInteger(line)
            if count == -1, kind == .array {
                return consumeLine(.value(.null))  // RESP2 null array
            }
            guard count >= 0, count <= Int32.max else {
                throw RedisError.protocolError("RESP aggregate length out of range")
            }
            return consumeLine(.aggregate(kind, count: Int(count)))

        default:
            throw RedisError.protocolError("unknown RESP type byte \(type)")
        }
    }

    private static let crlf: UInt16 = 0x0D0A

    /// The index of the CR of the first CRLF at or after `from`; `nil` if there is none yet.
    private func findLineEnd(in buffer: ByteBuffer, from: Int) throws -> Int? {
        let view = buffer.readableBytesView
        let searchStart = view.startIndex + (from - buffer.readerIndex)
        guard searchStart <= view.endIndex else { return nil }
        guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
            if view.endIndex - searchStart > self.limits.maximumLineLength {
                throw RedisError.protocolError("RESP line too long")
            }
            return nil
        }
        guard newline > searchStart, view[newline - 1] == UInt8(ascii: "\r") else {
            throw RedisError.protocolError("RESP line not ended by CRLF")
        }
        if newline - 1 - searchStart > self.limits.maximumLineLength {
            throw RedisError.protocolError("RESP line too long")
        }
        return buffer.readerIndex + (newline - 1 - view.startIndex)
    }

    private static func parseInteger(_ line: ByteBuffer) throws -> Int64 {
        let bytes = line.readableBytesView
        var index = bytes.startIndex
        var negative = false
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        guard index < bytes.endIndex else { throw RedisError.protocolError("invalid RESP integer") }
        var value: Int64 = 0
        while index < bytes.endIndex {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw RedisError.protocolError("invalid RESP integer")
            }
            let digit = Int64(byte - UInt8(ascii: "0"))
            // Accumulate negatively so Int64.min parses.
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.subtractingReportingOverflow(digit)
            guard !o1, !o2 else { throw RedisError.protocolError("RESP integer overflows 64 bits") }
            value = next
            index += 1
        }
        if negative { return value }
        guard value != .min else { throw RedisError.protocolError("RESP integer overflows 64 bits") }
        return -value
    }

    private static func parseDouble(_ line: ByteBuffer) throws -> Double {
        let text = String(buffer: line)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default:
            guard let value = Double(text) else { throw RedisError.protocolError("invalid RESP double") }
            return value
        }
    }

    private static func isBigNumber(_ digits: String) -> Bool {
        var utf8 = Substring(digits).utf8
        if utf8.first == UInt8(ascii: "-") || utf8.first == UInt8(ascii: "+") { utf8 = utf8.dropFirst() }
        return !utf8.isEmpty && utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    // MARK: - Assembling aggregates

    /// Adds a token to the aggregate being filled; returns a top-level value once one is complete.
    private mutating func apply(_ token: Token) throws -> RESPValue? {
        switch token {
        case .value(let value):
            guard self.streamedString == nil else {
                throw RedisError.protocolError("RESP value inside a streamed string")
            }
            return try self.complete(value)

        case .aggregate(let kind, let count):
            guard self.streamedString == nil else {
                throw RedisError.protocolError("RESP aggregate inside a streamed string")
            }
            let elements = count.map { (kind == .map || kind == .attribute) ? $0 * 2 : $0 }
            if elements == 0 {
                return try self.finish(Frame(kind: kind, remaining: 0, elements: []))
            }
            guard self.stack.count < self.limits.maximumDepth else {
                throw RedisError.protocolError("RESP aggregates nested too deeply")
            }
            var frame = Frame(kind: kind, remaining: elements, elements: [])
            // Never trust a claimed count for allocation.
            frame.elements.reserveCapacity(min(elements ?? 16, 1024))
            self.stack.append(frame)
            return nil

        case .streamedStringStart:
            guard self.streamedString == nil else {
                throw RedisError.protocolError("RESP streamed string inside a streamed string")
            }
            self.streamedString = ByteBuffer()
            return nil

        case .streamedStringChunk(var chunk):
            guard var string = self.streamedString else {
                throw RedisError.protocolError("RESP string chunk outside a streamed string")
            }
            if chunk.readableBytes == 0 {
                self.streamedString = nil
                return try self.complete(.blobString(string))
            }
            guard string.readableBytes + chunk.readableBytes <= self.limits.maximumBlobLength else {
                throw RedisError.protocolError("RESP blob length out of range")
            }
            self.streamedString = nil  // keep the buffer uniquely referenced while appending
            string.writeBuffer(&chunk)
            self.streamedString = string
            return nil

        case .end:
            guard self.streamedString == nil, let top = self.stack.last, top.remaining == nil else {
                throw RedisError.protocolError("RESP end marker outside a streamed aggregate")
            }
            if top.kind == .map, top.elements.count % 2 != 0 {
                throw RedisError.protocolError("RESP streamed map ended after a key")
            }
            return try self.finish(self.stack.removeLast())
        }
    }

    /// Adds a complete value to the innermost open aggregate, closing every aggregate it completes.
    private mutating func complete(_ value: RESPValue) throws -> RESPValue? {
        guard !self.stack.isEmpty else { return value }
        let top = self.stack.count - 1
        self.stack[top].elements.append(value)
        if let remaining = self.stack[top].remaining {
            self.stack[top].remaining = remaining - 1
            if remaining == 1 {
                return try self.finish(self.stack.removeLast())
            }
        }
        return nil
    }

    /// Turns a filled frame into its value and adds it to the enclosing aggregate.
    private mutating func finish(_ frame: Frame) throws -> RESPValue? {
        let value: RESPValue
        switch frame.kind {
        case .array: value = .array(frame.elements)
        case .set: value = .set(frame.elements)
        case .push: value = .push(frame.elements)
        case .map:
            var map: [RESPValue: RESPValue] = [:]
            map.reserveCapacity(frame.elements.count / 2)
            var index = 0
            while index + 1 < frame.elements.count {
                map[frame.elements[index]] = frame.elements[index + 1]
                index += 2
            }
            value = .map(map)
        case .attribute:
            // Attributes describe the value that follows; this client has no use for them (RESP3 §Attribute
            // type: "a client … should be able to skip them").
            return nil
        }
        return try self.complete(value)
    }
}
