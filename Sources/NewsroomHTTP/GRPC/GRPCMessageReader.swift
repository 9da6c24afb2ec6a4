import NIOCore
import NewsroomWire

/// Reads gRPC length-prefixed messages from a request body that arrives in pieces (gRPC over HTTP/2,
/// "Length-Prefixed-Message"; for gRPC-Web text, the body is base64 and decoded first).
struct GRPCMessageReader {
    private var bytes = ByteBuffer()
    private var text = ByteBuffer()
    let maxMessageBytes: Int
    let base64: Bool

    init(maxMessageBytes: Int, base64: Bool) {
        self.maxMessageBytes = maxMessageBytes
        self.base64 = base64
    }

    private static let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]

    /// Adds a piece of the body.
    /// - Throws: `INVALID_ARGUMENT` for a gRPC-Web text body that is not base64.
    mutating func append(_ piece: ByteBuffer) throws(GRPCStatus) {
        guard self.base64 else {
            var piece = piece
            self.bytes.writeBuffer(&piece)
            return
        }
        // Line breaks and spaces are not base64; a client that wraps its text (or ends it with a newline)
        // still means the same bytes.
        self.text.writeBytes(piece.readableBytesView.lazy.filter { !Self.whitespace.contains($0) })
        let whole = self.text.readableBytes / 4 * 4
        guard whole > 0, let slice = self.text.readSlice(length: whole) else { return }
        guard var decoded = GRPCFraming.decodeBase64(slice) else {
            throw GRPCStatus(.invalidArgument, "the request body is not base64 (application/grpc-web-text)")
        }
        self.bytes.writeBuffer(&decoded)
        self.text.discardReadBytes()
    }

    /// The next whole message, if one has arrived.
    /// - Throws: `RESOURCE_EXHAUSTED` for a message over the limit, `UNIMPLEMENTED` for a compressed one.
    mutating func next() throws(GRPCStatus) -> ByteBuffer? {
        guard self.bytes.readableBytes >= 5,
            let flag = self.bytes.getInteger(at: self.bytes.readerIndex, as: UInt8.self),
            let length = self.bytes.getInteger(at: self.bytes.readerIndex + 1, as: UInt32.self)
        else { return nil }
        guard flag & 0x01 == 0 else {
            throw GRPCStatus(
                .unimplemented, "compressed messages are not accepted; send them uncompressed (grpc-encoding identity)",
                metadata: [("grpc-accept-encoding", "identity")])
        }
        guard Int(length) <= self.maxMessageBytes else {
            throw GRPCStatus(
                .resourceExhausted, "the message is \(length) bytes, over the limit of \(self.maxMessageBytes)",
                metadata: [(GRPCStatus.newsroomCodeKey, "message_too_large")])
        }
        guard self.bytes.readableBytes >= 5 + Int(length) else { return nil }
        self.bytes.moveReaderIndex(forwardBy: 5)
        let message = self.bytes.readSlice(length: Int(length))
        if self.bytes.readableBytes == 0 { self.bytes.clear() }
        return message
    }

    /// Whether bytes of an incomplete message (or undecoded text) remain.
    var hasLeftover: Bool { self.bytes.readableBytes > 0 || self.text.readableBytes > 0 }
}

/// A `grpc-timeout` header (gRPC over HTTP/2, "Timeout"): up to 8 digits and a unit (`H`, `M`, `S`, `m`,
/// `u`, `n`).
enum GRPCTimeout {
    static func parse(_ value: String) -> TimeAmount? {
        guard let unit = value.last, value.count >= 2, value.count <= 9,
            let amount = Int64(value.dropLast()), amount >= 0
        else { return nil }
        switch unit {
        case "H": return .hours(amount)
        case "M": return .minutes(amount)
        case "S": return .seconds(amount)
        case "m": return .milliseconds(amount)
        case "u": return .microseconds(amount)
        case "n": return .nanoseconds(amount)
        default: return nil
        }
    }
}
