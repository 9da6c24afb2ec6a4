import NIOCore
import NewsroomWire
import Testing

/// The WHATWG "event stream interpretation" rules, checked against ``SSEParser`` under every chunking.
@Suite("SSE parser")
struct SSEParserTests {
    /// Parses `text` whole, byte by byte and in random chunks; all three must agree, and that is returned.
    func parse(
        _ bytes: [UInt8], finish: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    )
        -> [ServerSentEvent]
    {
        func run(_ chunks: [ByteBuffer]) -> [ServerSentEvent] {
            var parser = SSEParser()
            var events: [ServerSentEvent] = []
            for chunk in chunks { events += parser.parse(chunk) }
            if finish { parser.finish() }
            return events
        }
        let whole = run(Chunking.whole(bytes))
        #expect(run(Chunking.byteByByte(bytes)) == whole, "byte by byte differs", sourceLocation: sourceLocation)
        let seed = UInt64.random(in: 0...UInt64.max)
        for round in 0..<10 {
            #expect(
                run(Chunking.random(bytes, seed: seed &+ UInt64(round), maxChunk: 5)) == whole,
                "random chunks (seed \(seed &+ UInt64(round))) differ", sourceLocation: sourceLocation)
        }
        return whole
    }

    func parse(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [ServerSentEvent] {
        self.parse(Array(text.utf8), sourceLocation: sourceLocation)
    }

    @Test("LF, CRLF and lone CR line ends")
    func lineEnds() {
        for newline in ["\n", "\r\n", "\r"] {
            let text = "event: a\(newline)data: one\(newline)\(newline)data: two\(newline)\(newline)"
            let events = self.parse(text)
            #expect(events.map(\.data) == ["one", "two"], "newline \(newline.debugDescription)")
            #expect(events.map(\.type) == ["a", "message"])
        }
        // Mixed in one stream.
        #expect(self.parse("data: a\r\n\ndata: b\r\r").map(\.data) == ["a", "b"])
    }

    @Test("a CR at the end of a read, then its LF in the next read, is one line end")
    func crAtChunkEnd() {
        var parser = SSEParser()
        var events = parser.parse(ByteBuffer(string: "data: x\r"))
        events += parser.parse(ByteBuffer(string: "\n\r"))
        events += parser.parse(ByteBuffer(string: "\ndata: y\r"))
        events += parser.parse(ByteBuffer(string: "\r"))
        #expect(events.map(\.data) == ["x", "y"])
        // A CR then a non-LF byte: the CR alone ended the line.
        var second = SSEParser()
        var more = second.parse(ByteBuffer(string: "data: p\r"))
        more += second.parse(ByteBuffer(string: "data: q\r\r"))
        #expect(more.map(\.data) == ["p\nq"])
    }

    @Test("multi-line data is joined with LF")
    func multiLineData() {
        let events = self.parse("data: {\ndata:   \"a\": 1\ndata\ndata: }\n\n")
        #expect(events.map(\.data) == ["{\n  \"a\": 1\n\n}"])
    }

    @Test("exactly one space after the colon is removed; no space is fine (axum/TGI)")
    func spaceAfterColon() {
        #expect(self.parse("data:x\n\ndata: x\n\ndata:  x\n\n").map(\.data) == ["x", "x", " x"])
    }

    @Test("one leading BOM is stripped; a second one is data")
    func bom() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        #expect(self.parse(bom + Array("data: a\n\n".utf8)).map(\.data) == ["a"])
        // A BOM twice: the second makes the first line's field name "\u{FEFF}data", which is ignored.
        #expect(self.parse(bom + bom + Array("data: a\n\ndata: b\n\n".utf8)).map(\.data) == ["b"])
        // Bytes that only start like a BOM are kept.
        #expect(self.parse([0xEF] + Array("data: a\n\ndata: b\n\n".utf8)).map(\.data) == ["b"])
    }

    @Test("comments are ignored and counted")
    func comments() {
        var parser = SSEParser()
        let events = parser.parse(ByteBuffer(string: ":\n\n: OPENROUTER PROCESSING\n\ndata: a\n: inside\n\n"))
        #expect(events.map(\.data) == ["a"])
        #expect(parser.comments == 3)
    }

    @Test("a multi-byte UTF-8 character split across reads is decoded once complete")
    func splitUTF8() {
        let text = "data: héllo — ☀️ 👋🏽 “ok”\n\n"
        let bytes = Array(text.utf8)
        #expect(self.parse(bytes).map(\.data) == ["héllo — ☀️ 👋🏽 “ok”"])
        // Every possible split point.
        for cut in 1..<bytes.count {
            var parser = SSEParser()
            let events =
                parser.parse(ByteBuffer(bytes: bytes[..<cut])) + parser.parse(ByteBuffer(bytes: bytes[cut...]))
            #expect(events.map(\.data) == ["héllo — ☀️ 👋🏽 “ok”"], "split at \(cut)")
        }
    }

    @Test("id is sticky, id with NUL is ignored, retry takes digits only")
    func idAndRetry() {
        var parser = SSEParser()
        let events = parser.parse(
            ByteBuffer(
                string:
                    "id: 1\ndata: a\n\ndata: b\n\nid: 2\u{0}x\ndata: c\n\nretry: 2500\n\nretry: 12x\n\nid\ndata: d\n\n")
        )
        #expect(events.map(\.data) == ["a", "b", "c", "d"])
        #expect(events.map(\.lastEventID) == ["1", "1", "1", ""])
        #expect(events.map(\.hasID) == [true, false, false, true])
        #expect(parser.retry == 2500)
    }

    @Test("unknown fields and a field without a colon are ignored")
    func unknownFields() {
        let events = self.parse("foo: bar\ndata: a\nbaz\nevent\n\n")
        #expect(events.map(\.data) == ["a"])
        #expect(events.map(\.type) == ["message"])
    }

    @Test("an event without data is not dispatched; empty data is")
    func emptyEvents() {
        #expect(self.parse("event: x\n\n\n\n").isEmpty)
        #expect(self.parse("data\n\n").map(\.data) == [""])
    }

    @Test("an event not ended by a blank line at EOF is discarded")
    func eofWithoutBlankLine() {
        #expect(self.parse("data: a\n\ndata: b\n").map(\.data) == ["a"])
        #expect(self.parse("data: a\n\ndata: b").map(\.data) == ["a"])
        // finish() really drops it: nothing leaks into a later parse.
        var parser = SSEParser()
        _ = parser.parse(ByteBuffer(string: "data: b\n"))
        parser.finish()
        #expect(parser.parse(ByteBuffer(string: "\n")).isEmpty)
    }

    @Test("NDJSON lines survive any chunking, CRLF and a last line without LF")
    func ndjson() {
        let bytes = Array("{\"a\":1}\r\n\n{\"b\":\"é\"}\n{\"c\":3}".utf8)
        func run(_ chunks: [ByteBuffer]) -> [String] {
            var parser = NDJSONParser()
            var lines: [[UInt8]] = []
            for chunk in chunks { lines += parser.parse(chunk) }
            lines += parser.finish()
            return lines.map { String(decoding: $0, as: UTF8.self) }
        }
        let expected = ["{\"a\":1}", "{\"b\":\"é\"}", "{\"c\":3}"]
        #expect(run(Chunking.whole(bytes)) == expected)
        #expect(run(Chunking.byteByByte(bytes)) == expected)
        #expect(run(Chunking.random(bytes, seed: 7, maxChunk: 4)) == expected)
    }
}
