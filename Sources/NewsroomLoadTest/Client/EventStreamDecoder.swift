#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What an ``EventStreamDecoder`` reports, called inline from the read that completed each piece.
protocol EventStreamDelegate: AnyObject {
    /// The response head arrived with this status code.
    func streamHead(status: Int)
    /// An `event:` field (the value, without the field name and the optional space).
    func streamEventType(_ value: UnsafeRawBufferPointer)
    /// An `id:` field.
    func streamID(_ value: UnsafeRawBufferPointer)
    /// A `data:` field.
    func streamData(_ value: UnsafeRawBufferPointer)
    /// The response body ended (the last chunk of a chunked body), or a WebSocket close frame arrived.
    func streamEnd()
    /// A WebSocket text message (one unfragmented frame: the hub sends one frame per event).
    func streamMessage(_ payload: UnsafeRawBufferPointer)
    /// A WebSocket ping, to be answered with a pong carrying the same payload.
    func streamPing(_ payload: UnsafeRawBufferPointer)
}

/// A lean decoder for an HTTP/1.1 `text/event-stream` response: the status line, the chunked transfer
/// coding (RFC 9112 section 7.1) or an unframed body, and the SSE lines (WHATWG HTML, "Parsing an event
/// stream": `field: value`, lines ending in LF or CRLF, `:` comments).
///
/// Built for the load tester's receive path rather than for general use (NewsroomWire's `SSEParser` is
/// that): it allocates no `String`, keeps no event in memory, and hands the `id`, `event` and `data` values
/// to its delegate as raw bytes for the duration of the call. A line split across reads is carried in one
/// per-connection array; everything else is scanned in place with `memchr`. Header fields other than the
/// status and `Transfer-Encoding: chunked` are ignored; a lone CR as a line end (allowed by SSE, sent by
/// neither the hub nor nchan) is not supported.
struct EventStreamDecoder {
    private enum State {
        /// Reading the response head up to the blank line.
        case head
        /// Reading a chunk-size line (hex digits, maybe `;extensions`, then CRLF).
        case chunkSize
        /// Inside a chunk, `chunkRemaining` bytes to go.
        case chunkData
        /// After a chunk's data, skipping its CRLF.
        case chunkEnd
        /// An unframed body: everything is event stream until the connection closes.
        case identity
        /// After a `101 Switching Protocols`: WebSocket frames (RFC 6455 section 5.2).
        case frames
        /// The body ended or the response was not 200; everything else is ignored.
        case finished
    }

    private var state = State.head
    private var head: [UInt8] = []
    private var chunkRemaining = 0
    private var chunkSize = 0
    private var inChunkExtension = false
    private var line: [UInt8] = []
    private let webSocket: Bool

    /// - Parameter webSocket: The request was a WebSocket upgrade: a `101` answer starts the frames.
    init(webSocket: Bool = false) {
        self.webSocket = webSocket
    }

    /// Feeds bytes read from the connection.
    mutating func feed<Delegate: EventStreamDelegate>(_ bytes: UnsafeRawBufferPointer, to delegate: Delegate) {
        var index = 0
        let count = bytes.count
        while index < count {
            switch self.state {
            case .head:
                index = self.readHead(bytes, from: index, delegate: delegate)
            case .chunkSize:
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\n") {
                    self.inChunkExtension = false
                    if self.chunkSize == 0 {
                        self.state = .finished
                        delegate.streamEnd()
                        return
                    }
                    self.chunkRemaining = self.chunkSize
                    self.chunkSize = 0
                    self.state = .chunkData
                } else if !self.inChunkExtension {
                    if let digit = Self.hexValue(byte) {
                        self.chunkSize = self.chunkSize &* 16 &+ digit
                    } else if byte == UInt8(ascii: ";") {
                        self.inChunkExtension = true
                    }
                }
            case .chunkData:
                let take = min(self.chunkRemaining, count - index)
                self.feedLines(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]), to: delegate)
                index += take
                self.chunkRemaining -= take
                if self.chunkRemaining == 0 { self.state = .chunkEnd }
            case .chunkEnd:
                if bytes[index] == UInt8(ascii: "\n") { self.state = .chunkSize }
                index += 1
            case .identity:
                self.feedLines(UnsafeRawBufferPointer(rebasing: bytes[index..<count]), to: delegate)
                index = count
            case .frames:
                self.feedFrames(UnsafeRawBufferPointer(rebasing: bytes[index..<count]), to: delegate)
                index = count
            case .finished:
                return
            }
        }
    }

    private mutating func readHead<Delegate: EventStreamDelegate>(
        _ bytes: UnsafeRawBufferPointer, from start: Int, delegate: Delegate
    ) -> Int {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            self.head.append(byte)
            let n = self.head.count
            guard byte == UInt8(ascii: "\n"), n >= 4, self.head[n - 2] == UInt8(ascii: "\r"),
                self.head[n - 3] == UInt8(ascii: "\n")
            else {
                if n > 16_384 {  // a head this large is not an event stream
                    self.state = .finished
                    delegate.streamHead(status: 0)
                    return bytes.count
                }
                continue
            }
            let status = Self.status(of: self.head)
            let chunked = Self.isChunked(self.head)
            self.head = []
            if self.webSocket {
                self.state = status == 101 ? .frames : .finished
            } else if status == 200 {
                self.state = chunked ? .chunkSize : .identity
            } else {
                self.state = .finished
            }
            delegate.streamHead(status: status)
            return self.state == .finished ? bytes.count : index
        }
        return index
    }

    /// Splits `bytes` into lines, carrying an unterminated tail over to the next call.
    private mutating func feedLines<Delegate: EventStreamDelegate>(
        _ bytes: UnsafeRawBufferPointer, to delegate: Delegate
    ) {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        let count = bytes.count
        while start < count {
            guard let found = memchr(base + start, Int32(UInt8(ascii: "\n")), count - start) else {
                self.line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<count]))
                return
            }
            let end = base.distance(to: UnsafeRawPointer(found))
            if self.line.isEmpty {
                Self.dispatch(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), to: delegate)
            } else {
                self.line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                self.line.withUnsafeBytes { Self.dispatch($0, to: delegate) }
                self.line.removeAll(keepingCapacity: self.line.capacity <= 1024)
            }
            start = end + 1
        }
    }

    /// Parses WebSocket frames, carrying an incomplete frame over to the next call.
    private mutating func feedFrames<Delegate: EventStreamDelegate>(
        _ bytes: UnsafeRawBufferPointer, to delegate: Delegate
    ) {
        if self.line.isEmpty {
            let consumed = Self.parseFrames(bytes, to: delegate)
            if consumed < bytes.count {
                self.line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[consumed..<bytes.count]))
            }
        } else {
            self.line.append(contentsOf: bytes)
            let consumed = self.line.withUnsafeBytes { Self.parseFrames($0, to: delegate) }
            self.line.removeFirst(consumed)
        }
    }

    /// Parses the complete frames at the start of `bytes`; returns the bytes consumed.
    ///
    /// Frames from a server are not masked (RFC 6455 section 5.1); text (1) and continuation (0) frames
    /// are reported as messages, ping (9) as a ping, close (8) as the end; others are skipped.
    static func parseFrames<Delegate: EventStreamDelegate>(
        _ bytes: UnsafeRawBufferPointer, to delegate: Delegate
    ) -> Int {
        var index = 0
        let count = bytes.count
        while count - index >= 2 {
            let first = bytes[index]
            let second = bytes[index + 1]
            var length = Int(second & 0x7F)
            var header = 2
            if length == 126 {
                guard count - index >= 4 else { return index }
                length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
                header = 4
            } else if length == 127 {
                guard count - index >= 10 else { return index }
                length = 0
                for i in 2..<10 { length = length << 8 | Int(bytes[index + i]) }
                header = 10
            }
            if second & 0x80 != 0 { header += 4 }  // a masked server frame: skip the key (not expected)
            guard length >= 0, count - index >= header + length else { return index }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[(index + header)..<(index + header + length)])
            switch first & 0x0F {
            case 0, 1: delegate.streamMessage(payload)
            case 8:
                delegate.streamEnd()
                return count
            case 9: delegate.streamPing(payload)
            default: break
            }
            index += header + length
        }
        return index
    }

    /// One complete line (without its LF).
    @inline(__always)
    private static func dispatch<Delegate: EventStreamDelegate>(
        _ line: UnsafeRawBufferPointer, to delegate: Delegate
    ) {
        var count = line.count
        if count > 0, line[count - 1] == UInt8(ascii: "\r") { count -= 1 }
        guard count >= 3 else { return }
        let first = line[0]
        if first == UInt8(ascii: "d"), count >= 5, line[1] == UInt8(ascii: "a"), line[2] == UInt8(ascii: "t"),
            line[3] == UInt8(ascii: "a"), line[4] == UInt8(ascii: ":")
        {
            delegate.streamData(Self.value(line, count: count, after: 5))
        } else if first == UInt8(ascii: "i"), line[1] == UInt8(ascii: "d"), line[2] == UInt8(ascii: ":") {
            delegate.streamID(Self.value(line, count: count, after: 3))
        } else if first == UInt8(ascii: "e"), count >= 6, line[1] == UInt8(ascii: "v"),
            line[5] == UInt8(ascii: ":")
        {
            delegate.streamEventType(Self.value(line, count: count, after: 6))
        }
    }

    @inline(__always)
    private static func value(_ line: UnsafeRawBufferPointer, count: Int, after colon: Int) -> UnsafeRawBufferPointer {
        var start = colon
        if start < count, line[start] == UInt8(ascii: " ") { start += 1 }
        return UnsafeRawBufferPointer(rebasing: line[start..<count])
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// The status code of `HTTP/1.x NNN …`, or 0.
    static func status(of head: [UInt8]) -> Int {
        guard head.count >= 12, head[8] == UInt8(ascii: " ") else { return 0 }
        var code = 0
        for byte in head[9..<12] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return 0 }
            code = code * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return code
    }

    /// Whether the head has `Transfer-Encoding: chunked` (field names and the coding are case-insensitive).
    static func isChunked(_ head: [UInt8]) -> Bool {
        let lower = head.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        let field = Array("\ntransfer-encoding:".utf8)
        guard let start = Self.find(field, in: lower, from: 0) else { return false }
        let valueEnd = lower[(start + 1)...].firstIndex(of: UInt8(ascii: "\n")) ?? lower.count
        return Self.find(Array("chunked".utf8), in: Array(lower[start..<valueEnd]), from: 0) != nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
