import NIOCore
import NewsroomCore
import NewsroomWire
import Testing

@Suite struct FrameEncoderTests {
    let event = Event(
        seq: 7, topic: "t", timestamp: Timestamp(millisecondsSince1970: 0), payload: .textDelta(TextDelta(text: "a\nb")))

    @Test func sseBlockHasIdEventAndOneDataLine() {
        let block = String(buffer: SSEEncoder().encode(self.event, allocator: .init()))
        #expect(block.hasPrefix("id: 7\nevent: text_delta\ndata: {\"seq\":7,"))
        #expect(block.hasSuffix("}\n\n"))
        #expect(block.split(separator: "\n", omittingEmptySubsequences: false).count == 5)
    }

    @Test func eventsWithoutSeqHaveNoIdLine() {
        let heartbeat = Event(
            seq: nil, topic: "t", timestamp: .now(), payload: .heartbeat(Heartbeat(lastSeq: 3, state: .waiting)))
        #expect(String(buffer: SSEEncoder().encode(heartbeat, allocator: .init())).hasPrefix("event: heartbeat\ndata: "))
    }

    @Test func chunkedFormIsTheBlockInOneHTTPChunk() {
        let block = SSEEncoder().encode(self.event, allocator: .init())
        let chunk = String(buffer: SSEChunkedEncoder().encode(self.event, allocator: .init()))
        #expect(chunk == String(block.readableBytes, radix: 16) + "\r\n" + String(buffer: block) + "\r\n")
    }

    @Test func sseParserReadsWhatTheEncoderWrites() {
        var parser = SSEParser()
        let events = parser.parse(SSEEncoder().encode(self.event, allocator: .init()))
        #expect(events.count == 1)
        #expect(events.first?.type == "text_delta")
        #expect(events.first?.lastEventID == "7")
        #expect(events.first?.data == EventJSON.string(self.event))
    }

    @Test(arguments: [0, 125, 126, 65_535, 65_536])
    func webSocketFramesAreFinalUnmaskedTextWithTheRightLength(_ length: Int) {
        let payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: length)
        var frame = WebSocketFrameEncoder.textFrame(payload, allocator: .init())
        #expect(frame.readInteger(as: UInt8.self) == 0x81)
        let second = frame.readInteger(as: UInt8.self)!
        #expect(second & 0x80 == 0)  // not masked
        let decoded: Int
        switch second {
        case 126: decoded = Int(frame.readInteger(as: UInt16.self)!)
        case 127: decoded = Int(frame.readInteger(as: UInt64.self)!)
        default: decoded = Int(second)
        }
        #expect(decoded == length)
        #expect(frame.readableBytes == length)
    }
}
