import NIOCore
import NIOEmbedded
import NewsroomRedis
import Testing

/// Feeds RESP transcripts to ``RESPDecoder`` whole, byte by byte and in random chunks, after the fashion of
/// NIOTestUtils' `ByteToMessageDecoderVerifier` (not a dependency here).
@Suite struct RESPDecoderTests {
    static let transcript: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString(ByteBuffer(string: "OK"))),
        ("-ERR unknown command\r\n", .simpleError(ByteBuffer(string: "ERR unknown command"))),
        (":1000\r\n", 1000),
        (":-42\r\n", -42),
        (":-9223372036854775808\r\n", .integer(.min)),
        ("$5\r\nhello\r\n", "hello"),
        ("$0\r\n\r\n", ""),
        ("$12\r\nbin\r\nary\0\r\nx\r\n", .blobString(ByteBuffer(bytes: Array("bin\r\nary\0\r\nx".utf8)))),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("_\r\n", .null),
        (",3.25\r\n", .double(3.25)),
        (",inf\r\n", .double(.infinity)),
        (",-inf\r\n", .double(-.infinity)),
        (",1e10\r\n", .double(1e10)),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
        ("!21\r\nSYNTAX invalid syntax\r\n", .blobError(ByteBuffer(string: "SYNTAX invalid syntax"))),
        ("=15\r\ntxt:Some string\r\n", .verbatimString(format: "txt", ByteBuffer(string: "Some string"))),
        ("*0\r\n", []),
        ("*3\r\n:1\r\n$1\r\na\r\n*2\r\n#t\r\n_\r\n", [1, "a", [.boolean(true), .null]]),
        ("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            .map([.simpleString(ByteBuffer(string: "first")): 1, .simpleString(ByteBuffer(string: "second")): 2])),
        ("~2\r\n$1\r\nx\r\n$1\r\ny\r\n", .set(["x", "y"])),
        (">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n", .push(["message", "news", "hello"])),
        // An attribute before a value is read and dropped.
        ("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n:3\r\n", [2, 3]),
        // …and inside an aggregate.
        ("*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n", [1, 2]),
        // Streamed string and streamed aggregates.
        ("$?\r\n;4\r\nHell\r\n;6\r\no worl\r\n;1\r\nd\r\n;0\r\n", "Hello world"),
        ("*?\r\n:1\r\n:2\r\n.\r\n", [1, 2]),
        ("%?\r\n+a\r\n:1\r\n.\r\n", .map([.simpleString(ByteBuffer(string: "a")): 1])),
        // A RESP3 HELLO-like nested reply.
        ("%1\r\n$7\r\nmodules\r\n*1\r\n%1\r\n$4\r\nname\r\n$6\r\nsearch\r\n", .map(["modules": [.map(["name": "search"])]])),
    ]

    static var wholeInput: ByteBuffer {
        ByteBuffer(string: Self.transcript.map(\.0).joined())
    }

    static var expected: [RESPValue] { Self.transcript.map(\.1) }

    @Test func decodesWholeInput() throws {
        let values = try Self.decode(chunks: [Self.wholeInput])
        try #require(values.count == Self.expected.count)
        for (index, value) in values.enumerated() {
            #expect(value == Self.expected[index], "entry \(index): \(Self.transcript[index].0.debugDescription)")
        }
    }

    @Test func decodesByteByByte() throws {
        let input = Self.wholeInput
        let chunks = (0..<input.readableBytes).map { input.getSlice(at: $0, length: 1)! }
        #expect(try Self.decode(chunks: chunks) == Self.expected)
    }

    @Test(arguments: [1, 2, 3, 42, 1234]) func decodesRandomChunks(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let input = Self.wholeInput
        var chunks: [ByteBuffer] = []
        var offset = 0
        while offset < input.readableBytes {
            let length = min(Int(random.next() % 17) + 1, input.readableBytes - offset)
            chunks.append(input.getSlice(at: offset, length: length)!)
            offset += length
        }
        #expect(try Self.decode(chunks: chunks) == Self.expected)
    }

    @Test func nanDecodes() throws {
        let values = try Self.decode(chunks: [ByteBuffer(string: ",nan\r\n")])
        guard case .double(let value) = values.first else {
            Issue.record("expected a double")
            return
        }
        #expect(value.isNaN)
    }

    @Test func largeArrayInManySegments() throws {
        var input = ByteBuffer(string: "*10000\r\n")
        for index in 0..<10_000 { input.writeString("$\(String(index).utf8.count)\r\n\(index)\r\n") }
        var chunks: [ByteBuffer] = []
        while input.readableBytes > 0 { chunks.append(input.readSlice(length: min(1500, input.readableBytes))!) }
        let values = try Self.decode(chunks: chunks)
        #expect(values == [.array((0..<10_000).map { .blobString(ByteBuffer(string: String($0))) })])
    }

    @Test(arguments: [
        "?what\r\n",  // unknown type
        ":12a\r\n",  // not an integer
        ":99999999999999999999\r\n",  // overflow
        "$3\r\nabcd\r\n",  // blob longer than claimed
        "$-2\r\n",  // negative length
        "#x\r\n",  // bad boolean
        "+OK\n",  // LF without CR
        "_x\r\n",  // bad null
        ".\r\n",  // end marker outside a streamed aggregate
        ";3\r\nabc\r\n",  // chunk outside a streamed string
        "=2\r\nab\r\n",  // verbatim without a format
    ])
    func rejectsMalformedInput(_ input: String) {
        #expect(throws: RedisError.self) {
            _ = try Self.decode(chunks: [ByteBuffer(string: input)])
        }
    }

    @Test func rejectsTooDeepNesting() {
        var limits = RESPDecoder.Limits()
        limits.maximumDepth = 4
        #expect(throws: RedisError.self) {
            _ = try Self.decode(chunks: [ByteBuffer(string: String(repeating: "*1\r\n", count: 5) + ":1\r\n")], limits: limits)
        }
        #expect(
            (try? Self.decode(chunks: [ByteBuffer(string: String(repeating: "*1\r\n", count: 4) + ":1\r\n")], limits: limits))
                == [[[[[1]]]]]
        )
    }

    @Test func rejectsOversizedBlobBeforeItArrives() {
        var limits = RESPDecoder.Limits()
        limits.maximumBlobLength = 10
        #expect(throws: RedisError.self) {
            _ = try Self.decode(chunks: [ByteBuffer(string: "$11\r\n")], limits: limits)
        }
    }

    @Test func incompleteInputYieldsNothingYet() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "*2\r\n$5\r\nhel")
        #expect(try decoder.next(from: &buffer) == nil)
        buffer.writeString("lo\r\n:")
        #expect(try decoder.next(from: &buffer) == nil)
        buffer.writeString("7\r\n+next")
        #expect(try decoder.next(from: &buffer) == ["hello", 7])
        #expect(try decoder.next(from: &buffer) == nil)
        #expect(buffer.readableBytes == 5)  // "+next" waits for its CRLF
    }

    /// Runs the decoder in an `EmbeddedChannel`, writing `chunks` one by one.
    static func decode(chunks: [ByteBuffer], limits: RESPDecoder.Limits = .defaults) throws -> [RESPValue] {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
        var values: [RESPValue] = []
        defer { _ = try? channel.finish() }
        for chunk in chunks {
            try channel.writeInbound(chunk)
            while let value = try channel.readInbound(as: RESPValue.self) {
                values.append(value)
            }
        }
        return values
    }
}

/// A small deterministic generator, so a failing chunking can be replayed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
