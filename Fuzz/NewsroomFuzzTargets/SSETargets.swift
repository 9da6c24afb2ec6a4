import NIOCore
import NewsroomCore
import NewsroomWire

// MARK: - SSE

/// Whether two optional strings are both `nil` or have the same UTF-8 bytes.
func sameBytes(_ a: String?, _ b: String?) -> Bool {
    switch (a, b) {
    case (nil, nil): true
    case (let a?, let b?): a.utf8.elementsEqual(b.utf8)
    default: false
    }
}

/// What an SSE stream yields: its events, the last `retry:` and the comment count.
struct SSEOutcome {
    var events: [ServerSentEvent] = []
    var retry: Int?
    var comments = 0

    /// Equal byte for byte (`String`'s `==` would also accept canonically equivalent text).
    func same(as other: SSEOutcome) -> Bool {
        guard self.retry == other.retry, self.comments == other.comments,
            self.events.count == other.events.count
        else { return false }
        return zip(self.events, other.events).allSatisfy { a, b in
            a.type.utf8.elementsEqual(b.type.utf8) && a.data.utf8.elementsEqual(b.data.utf8)
                && a.hasID == b.hasID && sameBytes(a.lastEventID, b.lastEventID)
        }
    }

    var summary: String {
        let events = self.events.prefix(8).map { event in
            "{type=\(describe(event.type.utf8, limit: 40)) data=\(describe(event.data.utf8, limit: 60)) "
                + "id=\(event.lastEventID.map { describe($0.utf8, limit: 40) } ?? "nil") hasID=\(event.hasID)}"
        }
        return "\(self.events.count) events \(events.joined(separator: " ")) retry=\(self.retry.map(String.init) ?? "nil") "
            + "comments=\(self.comments)"
    }
}

/// A deliberately plain reading of the WHATWG "event stream interpretation" over the whole input at
/// once — no incremental state, no fast paths — to compare ``SSEParser`` against.
enum ReferenceSSE {
    static func parse(_ input: UnsafeRawBufferPointer) -> SSEOutcome {
        var bytes = Array(input)
        // "UTF-8 decode" drops one leading BOM.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }

        // Lines end with CRLF, LF or CR; an unterminated last line is never processed.
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A || byte == 0x0D {
                lines.append(bytes[start..<index])
                if byte == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                index += 1
                start = index
            } else {
                index += 1
            }
        }

        var outcome = SSEOutcome()
        var dataBuffer: [UInt8] = []
        var eventTypeBuffer: [UInt8] = []
        var lastEventIDBuffer: [UInt8]?
        var eventHadID = false
        for line in lines {
            if line.isEmpty {
                // Dispatch.
                defer {
                    dataBuffer = []
                    eventTypeBuffer = []
                    eventHadID = false
                }
                if dataBuffer.isEmpty { continue }
                dataBuffer.removeLast()  // the LF after the last data line
                outcome.events.append(
                    ServerSentEvent(
                        type: eventTypeBuffer.isEmpty ? "message" : String(decoding: eventTypeBuffer, as: UTF8.self),
                        data: String(decoding: dataBuffer, as: UTF8.self),
                        lastEventID: lastEventIDBuffer.map { String(decoding: $0, as: UTF8.self) },
                        hasID: eventHadID))
                continue
            }
            if line.first == UInt8(ascii: ":") {
                outcome.comments += 1
                continue
            }
            let name: ArraySlice<UInt8>
            var value: ArraySlice<UInt8>
            if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                name = line[line.startIndex..<colon]
                value = line[(colon + 1)...]
                if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            } else {
                name = line
                value = []
            }
            switch String(decoding: name, as: UTF8.self) {
            case "data":
                dataBuffer += value
                dataBuffer.append(0x0A)
            case "event":
                eventTypeBuffer = Array(value)
            case "id":
                if !value.contains(0) {
                    lastEventIDBuffer = Array(value)
                    eventHadID = true
                }
            case "retry":
                // Digits only; the parser (like browsers) ignores an empty value and one too big for Int.
                if !value.isEmpty, value.allSatisfy({ (0x30...0x39).contains($0) }),
                    let retry = Int(String(decoding: value, as: UTF8.self))
                {
                    outcome.retry = retry
                }
            default:
                break
            }
        }
        return outcome
    }
}

/// Runs ``SSEParser`` over `buffers` (one `parse` call per buffer), then `finish()`.
private func runSSE(_ buffers: [ByteBuffer]) -> SSEOutcome {
    var parser = SSEParser()
    var outcome = SSEOutcome()
    for buffer in buffers {
        outcome.events += parser.parse(buffer)
    }
    parser.finish()
    outcome.retry = parser.retry
    outcome.comments = parser.comments
    return outcome
}

/// Fuzzes ``SSEParser``: the events (and `retry`, comment count) must be the same for the whole input,
/// for two chunkings derived from the input, for one byte per read, through the raw-pointer entry point,
/// and as given by ``ReferenceSSE``.
public func fuzzSSEParser(_ data: UnsafeRawBufferPointer) {
    let data = capped(data)
    let expected = ReferenceSSE.parse(data)

    var variants: [(String, SSEOutcome)] = [
        ("whole", runSSE([ByteBuffer(bytes: data)])),
        ("chunked", runSSE(Chunking.derived(data))),
        ("chunked-2", runSSE(Chunking.derived(data, salt: 0x5EED))),
    ]
    if let bytewise = Chunking.bytewise(data) {
        variants.append(("bytewise", runSSE(bytewise)))
    }
    do {
        var parser = SSEParser()
        var outcome = SSEOutcome()
        let half = data.count / 2
        parser.parse(UnsafeRawBufferPointer(rebasing: data[0..<half])) { outcome.events.append($0) }
        parser.parse(UnsafeRawBufferPointer(rebasing: data[half...])) { outcome.events.append($0) }
        parser.finish()
        outcome.retry = parser.retry
        outcome.comments = parser.comments
        variants.append(("raw-halves", outcome))
    }
    for (name, outcome) in variants {
        check(
            outcome.same(as: expected),
            "SSEParser (\(name)) gave \(outcome.summary); expected \(expected.summary); input \(describe(data))")
    }
}

// MARK: - NDJSON

/// The NDJSON lines of the input by the plain rule: split at LF, drop one trailing CR, skip lines that
/// are empty or only spaces and tabs; a last line without LF counts.
enum ReferenceNDJSON {
    static func lines(_ input: UnsafeRawBufferPointer) -> [[UInt8]] {
        Array(input).split(separator: 0x0A, omittingEmptySubsequences: false).compactMap { line in
            var line = line
            if line.last == 0x0D { line = line.dropLast() }
            return line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) ? nil : Array(line)
        }
    }
}

private func runNDJSON(_ buffers: [ByteBuffer]) -> [[UInt8]] {
    var parser = NDJSONParser()
    var lines: [[UInt8]] = []
    for buffer in buffers {
        lines += parser.parse(buffer)
    }
    lines += parser.finish()
    return lines
}

/// Fuzzes ``NDJSONParser``: the lines must be the same for the whole input, derived chunkings and one
/// byte per read, and equal to ``ReferenceNDJSON``'s; `EventDecoder.decodeBody(ndjson: true)`, which
/// splits publish bodies on its own, must accept exactly when every line decodes as an event, and give
/// the same events.
public func fuzzNDJSONParser(_ data: UnsafeRawBufferPointer) {
    let data = capped(data)
    let expected = ReferenceNDJSON.lines(data)

    var variants: [(String, [[UInt8]])] = [
        ("whole", runNDJSON([ByteBuffer(bytes: data)])),
        ("chunked", runNDJSON(Chunking.derived(data))),
        ("chunked-2", runNDJSON(Chunking.derived(data, salt: 0x5EED))),
    ]
    if let bytewise = Chunking.bytewise(data) {
        variants.append(("bytewise", runNDJSON(bytewise)))
    }
    for (name, lines) in variants {
        check(
            lines == expected,
            "NDJSONParser (\(name)) gave \(lines.count) lines \(lines.prefix(4).map { describe($0, limit: 60) }); "
                + "expected \(expected.count) \(expected.prefix(4).map { describe($0, limit: 60) }); input \(describe(data))"
        )
    }

    // The publish path splits NDJSON bodies itself; it must agree with the parser.
    var perLine: [EventPayload] = []
    var firstBadLine: Int?
    for (number, line) in expected.enumerated() {
        do {
            perLine.append(try EventDecoder.decode(line))
        } catch {
            firstBadLine = number
            break
        }
    }
    let body: Result<[EventPayload], EventDecoder.Failure> = Result { () throws(EventDecoder.Failure) in
        try EventDecoder.decodeBody(ByteBuffer(bytes: data), ndjson: true)
    }
    switch body {
    case .success(let payloads):
        check(
            firstBadLine == nil && !expected.isEmpty && payloads == perLine,
            "decodeBody(ndjson:) accepted \(payloads.count) events; line by line: \(perLine.count) events, "
                + "first bad line \(firstBadLine.map(String.init) ?? "none") of \(expected.count); input \(describe(data))")
    case .failure(let failure):
        check(
            firstBadLine != nil || expected.isEmpty,
            "decodeBody(ndjson:) rejected a body whose \(expected.count) lines all decode: \(failure.message); "
                + "input \(describe(data))")
        checkMessage(failure.message, "decodeBody(ndjson:)", data)
    }
}

/// Error messages go back to clients: they must be short, whatever the input.
func checkMessage(_ message: String, _ context: String, _ data: UnsafeRawBufferPointer) {
    check(!message.isEmpty, "\(context): empty error message; input \(describe(data))")
    check(
        message.utf8.count <= 512,
        "\(context): error message of \(message.utf8.count) bytes: \(describe(message.utf8)); input \(describe(data))")
}
