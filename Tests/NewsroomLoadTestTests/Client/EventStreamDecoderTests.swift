import Testing

@testable import NewsroomLoadTest

/// Records what the decoder reports.
final class RecordingDelegate: EventStreamDelegate {
    var statuses: [Int] = []
    var ids: [String] = []
    var types: [String] = []
    var data: [String] = []
    var ended = 0

    func streamHead(status: Int) { self.statuses.append(status) }
    func streamEventType(_ value: UnsafeRawBufferPointer) { self.types.append(String(decoding: value, as: UTF8.self)) }
    func streamID(_ value: UnsafeRawBufferPointer) { self.ids.append(String(decoding: value, as: UTF8.self)) }
    func streamData(_ value: UnsafeRawBufferPointer) { self.data.append(String(decoding: value, as: UTF8.self)) }
    func streamEnd() { self.ended += 1 }
    var messages: [String] = []
    var pings = 0
    func streamMessage(_ payload: UnsafeRawBufferPointer) { self.messages.append(String(decoding: payload, as: UTF8.self)) }
    func streamPing(_ payload: UnsafeRawBufferPointer) { self.pings += 1 }
}

@Suite struct EventStreamDecoderTests {
    static func chunk(_ text: String) -> String {
        String(text.utf8.count, radix: 16) + "\r\n" + text + "\r\n"
    }

    static let chunkedResponse =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk("retry: 1000\n\n")
        + chunk("id: 1\nevent: text_delta\ndata: {\"seq\":1,\"text\":\"t=5;s=1;xx\"}\n\n")
        + chunk("event: heartbeat\ndata: {\"type\":\"heartbeat\"}\n\n")
        + chunk("id: 2\r\nevent: text_delta\r\ndata: {\"seq\":2}\r\n\r\n")
        + "0\r\n\r\n"

    static func decode(_ response: String, splitEvery step: Int?) -> RecordingDelegate {
        let delegate = RecordingDelegate()
        var decoder = EventStreamDecoder()
        let bytes = Array(response.utf8)
        let size = step ?? bytes.count
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + size)
            bytes[index..<end].withUnsafeBytes { decoder.feed($0, to: delegate) }
            index = end
        }
        return delegate
    }

    @Test(arguments: [nil, 1, 2, 3, 7, 64])
    func chunkedStreamInAnySplit(step: Int?) {
        let delegate = Self.decode(Self.chunkedResponse, splitEvery: step)
        #expect(delegate.statuses == [200])
        #expect(delegate.ids == ["1", "2"])
        #expect(delegate.types == ["text_delta", "heartbeat", "text_delta"])
        #expect(delegate.data == [#"{"seq":1,"text":"t=5;s=1;xx"}"#, #"{"type":"heartbeat"}"#, #"{"seq":2}"#])
        #expect(delegate.ended == 1)
    }

    @Test func unframedBodyAndComments() {
        let response = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: hi\n\nid: 17:0\ndata: t=1;s=1;\n\n"
        let delegate = Self.decode(response, splitEvery: 5)
        #expect(delegate.ids == ["17:0"])
        #expect(delegate.data == ["t=1;s=1;"])
        #expect(delegate.ended == 0)
    }

    @Test func errorStatusIsReportedAndTheBodyIgnored() {
        let response = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\ndata: x\n\n"
        let delegate = Self.decode(response, splitEvery: nil)
        #expect(delegate.statuses == [503])
        #expect(delegate.data.isEmpty)
    }

    @Test(arguments: [nil, 1, 3, 50])
    func webSocketFramesInAnySplit(step: Int?) {
        func frame(_ opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
            var bytes: [UInt8] = [0x80 | opcode]
            if payload.count < 126 {
                bytes.append(UInt8(payload.count))
            } else {
                bytes += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            }
            return bytes + payload
        }
        let long = #"{"seq":2,"text":""# + String(repeating: "x", count: 300) + #""}"#
        var response = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".utf8)
        response += frame(1, Array(#"{"seq":1}"#.utf8)) + frame(9, [1, 2]) + frame(1, Array(long.utf8)) + frame(8, [3, 232])
        let delegate = RecordingDelegate()
        var decoder = EventStreamDecoder(webSocket: true)
        let size = step ?? response.count
        var index = 0
        while index < response.count {
            let end = min(response.count, index + size)
            response[index..<end].withUnsafeBytes { decoder.feed($0, to: delegate) }
            index = end
        }
        #expect(delegate.statuses == [101])
        #expect(delegate.messages == [#"{"seq":1}"#, long])
        #expect(delegate.pings == 1)
        #expect(delegate.ended == 1)
    }

    @Test func chunkedDetection() {
        #expect(EventStreamDecoder.isChunked(Array("HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: Chunked\r\n\r\n".utf8)))
        #expect(!EventStreamDecoder.isChunked(Array("HTTP/1.1 200 OK\r\nx-note: chunked\r\n\r\n".utf8)))
        #expect(EventStreamDecoder.status(of: Array("HTTP/1.1 204 No Content\r\n\r\n".utf8)) == 204)
    }

    @Test func hubTimestampsParse() {
        let json = Array(#"{"seq":2,"ts":"2026-11-25T13:38:28.140Z"}"#.utf8)
        let nanos = json.withUnsafeBytes { LoadClient.timestamp(in: $0) }
        // 2026-11-25T13:38:28.140Z
        #expect(nanos == 1_795_613_908_140_000_000)
    }
}
