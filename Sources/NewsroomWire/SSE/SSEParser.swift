import NIOCore

/// One event as an SSE client sees it (the `MessageEvent` of the WHATWG spec).
public struct ServerSentEvent: Sendable, Hashable {
    /// The `event:` field, or `message` when none was sent.
    public var type: String
    /// The `data:` lines joined with LF.
    public var data: String
    /// The last event id in effect when the event was dispatched (sticky across events, per spec).
    public var lastEventID: String?
    /// Whether this event itself carried an `id:` field.
    public var hasID: Bool

    public init(type: String = "message", data: String, lastEventID: String? = nil, hasID: Bool = false) {
        self.type = type
        self.data = data
        self.lastEventID = lastEventID
        self.hasID = hasID
    }
}

/// An incremental parser for `text/event-stream`, following the WHATWG HTML "event stream
/// interpretation" rules:
/// - lines end with CRLF, LF or a lone CR; a CR at the end of one read may be the first half of a CRLF
///   split across reads, so the LF that follows is skipped;
/// - bytes are buffered until a line is complete and only then decoded as UTF-8 (with replacement), so a
///   read that ends inside a multi-byte character is handled;
/// - one leading UTF-8 BOM is dropped; lines starting with `:` are comments (counted in ``comments``);
/// - `field:value` with one optional space removed; `data` lines are joined with LF; `event`, `id`
///   (ignored if it contains NUL) and `retry` (digits only) are understood; other fields are ignored;
/// - a blank line dispatches; an event with no data is not dispatched; an unterminated event at the end
///   of the stream is discarded.
///
/// Written over `ByteBuffer` rather than taken from a library: `mattt/EventSource` needs
/// `URLSession.bytes` (not on Linux) and parses through an actor byte by byte, and swift-openapi-runtime's
/// decoder works on `AsyncSequence`s of `ArraySlice<UInt8>` — neither fits a NIO channel handler that
/// receives `ByteBuffer`s and must not suspend. This one scans for line ends with a single pass.
public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var skipLF = false
    private var bomState = 0  // bytes of a leading BOM matched so far; -1 once past the start
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType: [UInt8] = []
    private var lastEventID: String?
    private var eventHasID = false

    /// The reconnection time the stream asked for with `retry:`, in milliseconds.
    public private(set) var retry: Int?
    /// Comment lines seen (`:` keep-alives).
    public private(set) var comments = 0

    public init() {}

    /// Parses the bytes of `buffer` and returns the events they complete.
    public mutating func parse(_ buffer: ByteBuffer) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        self.parse(buffer) { events.append($0) }
        return events
    }

    /// Parses the bytes of `buffer`, calling `onEvent` for each completed event.
    public mutating func parse(_ buffer: ByteBuffer, onEvent: (ServerSentEvent) -> Void) {
        buffer.withUnsafeReadableBytes { bytes in
            self.parse(bytes, onEvent: onEvent)
        }
    }

    /// Parses raw bytes, calling `onEvent` for each completed event.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, onEvent: (ServerSentEvent) -> Void) {
        var index = 0
        let count = bytes.count
        if self.bomState >= 0 {
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            while index < count, self.bomState >= 0 {
                if bytes[index] == bom[self.bomState] {
                    self.bomState += 1
                    index += 1
                    if self.bomState == 3 { self.bomState = -1 }
                } else {
                    // Not a BOM: give back the bytes that looked like one.
                    self.line.append(contentsOf: bom[0..<self.bomState])
                    self.bomState = -1
                }
            }
        }
        var start = index
        while index < count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if byte == UInt8(ascii: "\n") && self.skipLF && index == start && self.line.isEmpty {
                    // The LF of a CRLF whose CR ended the previous line.
                    self.skipLF = false
                    index += 1
                    start = index
                    continue
                }
                if self.line.isEmpty {
                    // Fast path: the whole line is in this read; parse it in place, without copying.
                    self.processLine(UnsafeRawBufferPointer(rebasing: bytes[start..<index]), onEvent: onEvent)
                } else {
                    self.line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                    let line = self.line
                    line.withUnsafeBytes { self.processLine($0, onEvent: onEvent) }
                    self.line.removeAll(keepingCapacity: true)
                }
                self.skipLF = byte == UInt8(ascii: "\r")
                index += 1
                start = index
            } else {
                self.skipLF = false
                index += 1
            }
        }
        if start < count {
            self.line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<count]))
        }
    }

    /// Ends the stream: an event not terminated by a blank line is discarded, per spec.
    public mutating func finish() {
        self.line.removeAll()
        self.data.removeAll()
        self.hasData = false
        self.eventType.removeAll()
    }

    private mutating func processLine(_ line: UnsafeRawBufferPointer, onEvent: (ServerSentEvent) -> Void) {
        if line.isEmpty {
            self.dispatch(onEvent: onEvent)
            return
        }
        if line[0] == UInt8(ascii: ":") {
            self.comments += 1
            return
        }
        // Split at the first colon; the field name is compared as bytes (no String per line).
        var colon = 0
        while colon < line.count, line[colon] != UInt8(ascii: ":") { colon += 1 }
        var valueStart = Swift.min(colon + 1, line.count)
        if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = UnsafeRawBufferPointer(rebasing: line[valueStart..<line.count])
        let name = UnsafeRawBufferPointer(rebasing: line[0..<colon])
        if Self.equals(name, "data") {
            if self.hasData { self.data.append(UInt8(ascii: "\n")) }
            self.data.append(contentsOf: value)
            self.hasData = true
        } else if Self.equals(name, "event") {
            self.eventType.removeAll(keepingCapacity: true)
            self.eventType.append(contentsOf: value)
        } else if Self.equals(name, "id") {
            if !value.contains(0) {
                self.lastEventID = String(decoding: value, as: UTF8.self)
                self.eventHasID = true
            }
        } else if Self.equals(name, "retry") {
            if !value.isEmpty, value.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let retry = Int(String(decoding: value, as: UTF8.self))
            {
                self.retry = retry
            }
        }
        // Any other field is ignored, per spec.
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let pointer = name.utf8Start
        for index in 0..<bytes.count where bytes[index] != pointer[index] { return false }
        return true
    }

    private mutating func dispatch(onEvent: (ServerSentEvent) -> Void) {
        defer {
            self.data.removeAll(keepingCapacity: true)
            self.hasData = false
            self.eventType.removeAll(keepingCapacity: true)
            self.eventHasID = false
        }
        guard self.hasData else { return }
        let type = self.eventType.isEmpty ? "message" : String(decoding: self.eventType, as: UTF8.self)
        onEvent(
            ServerSentEvent(
                type: type, data: String(decoding: self.data, as: UTF8.self), lastEventID: self.lastEventID,
                hasID: self.eventHasID))
    }
}

/// An incremental splitter for newline-delimited JSON: returns each complete, non-blank line (without
/// its LF or CRLF), however the bytes are chunked.
public struct NDJSONParser: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Parses the bytes of `buffer` and returns the lines they complete.
    public mutating func parse(_ buffer: ByteBuffer) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        buffer.withUnsafeReadableBytes { bytes in
            var start = 0
            for index in 0..<bytes.count where bytes[index] == UInt8(ascii: "\n") {
                self.pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                self.emit(into: &lines)
                start = index + 1
            }
            self.pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]))
        }
        return lines
    }

    /// Ends the stream, returning a last line that had no newline.
    public mutating func finish() -> [[UInt8]] {
        var lines: [[UInt8]] = []
        self.emit(into: &lines)
        return lines
    }

    private mutating func emit(into lines: inout [[UInt8]]) {
        if self.pending.last == UInt8(ascii: "\r") { self.pending.removeLast() }
        if !self.pending.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) {
            lines.append(self.pending)
        }
        self.pending.removeAll(keepingCapacity: true)
    }
}
