import NIOCore
import NewsroomCore
import NewsroomWire
import Testing

/// Engine.IO and Socket.IO packets, with the vectors of the protocols' test suites
/// (socketio/engine.io-protocol, socketio/socket.io-protocol, `test-suite/test-suite.js`).
@Suite struct SocketIOTests {
    // MARK: Engine.IO

    @Test func pollingBodiesSplitOnTheRecordSeparator() throws {
        let packets = try EngineIOPacket.decodePayload("4test1\u{1e}4test2\u{1e}3")
        #expect(packets == [.init(.message, "test1"), .init(.message, "test2"), .init(.pong)])
        #expect(try EngineIOPacket.decodePayload("bAQIDBA==") == [.init(.binaryMessage, "AQIDBA==")])
    }

    @Test(arguments: ["abc", "", "0{}", "4a\u{1e}", "9"])
    func malformedEngineIOPacketsAreRefused(_ text: String) {
        #expect(throws: EngineIOPacket.DecodingError.self) { try EngineIOPacket.decodePayload(text) }
    }

    @Test func openPacketHasExactlyTheFiveKeys() throws {
        let open = String(buffer: EngineIOPacket.open(sid: "abc", upgrades: ["websocket"], pingInterval: 300, pingTimeout: 200, maxPayload: 1_000_000))
        #expect(open == #"0{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#)
        #expect(String(buffer: EngineIOPacket.open(sid: "a", upgrades: [], pingInterval: 1, pingTimeout: 1, maxPayload: 1)).contains(#""upgrades":[]"#))
    }

    @Test func errorBodiesCarryTheReferenceMessages() {
        #expect(String(buffer: EngineIOPacket.ErrorCode.unknownSessionID.body) == #"{"code":1,"message":"Session ID unknown"}"#)
        #expect(String(buffer: EngineIOPacket.ErrorCode.badHandshakeMethod.body) == #"{"code":2,"message":"Bad handshake method"}"#)
    }

    // MARK: Socket.IO decoding

    @Test func connectPackets() throws {
        #expect(try SocketIOPacket.decode("0") == SocketIOPacket(kind: .connect))
        #expect(try SocketIOPacket.decode(#"0{"token":"123"}"#).data == .object(["token": .string("123")]))
        let custom = try SocketIOPacket.decode(#"0/admin,{"token":"abc"}"#)
        #expect(custom.namespace == "/admin" && custom.data == .object(["token": .string("abc")]))
        #expect(try SocketIOPacket.decode("0/custom").namespace == "/custom")
        #expect(try SocketIOPacket.decode("0/custom?x=1,").namespace == "/custom")
    }

    @Test func eventsAndAckIDs() throws {
        let event = try SocketIOPacket.decode(#"2456["message-with-ack",1,"2",{"3":[false]}]"#)
        #expect(event.kind == .event && event.ackID == 456 && event.namespace == "/")
        #expect(event.data?.arrayValue?.count == 4)
        let namespaced = try SocketIOPacket.decode(#"2/admin,13["bar"]"#)
        #expect(namespaced.namespace == "/admin" && namespaced.ackID == 13)
        #expect(try SocketIOPacket.decode("312[]").kind == .ack)
        #expect(try SocketIOPacket.decode("1").kind == .disconnect)
        #expect(try SocketIOPacket.decode(#"2[1,"numeric names are allowed"]"#).kind == .event)
    }

    @Test(arguments: [
        "abc", "9", #"2{}"#, #"2abc["x"]"#, "2[]", #"2["connect"]"#, #"2["disconnect"]"#, #"2[null]"#, "0[]",
        "1{}", "3{}", "4", #"0{"unterminated"#, #"51-["baz",{"_placeholder":true,"num":0}]"#,
    ])
    func invalidSocketIOPacketsAreRefused(_ text: String) {
        #expect(throws: SocketIOPacket.DecodingError.self) { try SocketIOPacket.decode(Substring(text)) }
    }

    // MARK: Socket.IO encoding

    @Test func serverPackets() {
        #expect(String(buffer: SocketIOPacket.connected(namespace: "/", sid: "s1", pid: nil)) == #"40{"sid":"s1"}"#)
        #expect(String(buffer: SocketIOPacket.connected(namespace: "/", sid: "s1", pid: "p1")) == #"40{"sid":"s1","pid":"p1"}"#)
        #expect(
            String(buffer: SocketIOPacket.connectError(namespace: "/random", message: "Invalid namespace", code: nil))
                == #"44/random,{"message":"Invalid namespace"}"#)
        #expect(
            String(buffer: SocketIOPacket.connectError(namespace: "/", message: "no", code: "unauthorized"))
                == #"44{"message":"no","data":{"code":"unauthorized"}}"#)
        #expect(String(buffer: SocketIOPacket.ack(namespace: "/", id: 456, value: ByteBuffer(string: "1"))) == "43456[1]")
        #expect(String(buffer: SocketIOPacket.ack(namespace: "/admin", id: 13, value: ByteBuffer(string: #""bar""#))) == #"43/admin,13["bar"]"#)
        #expect(String(buffer: SocketIOPacket.disconnect(namespace: "/")) == "41")
    }

    // MARK: Hub events

    let event = Event(
        seq: 7, topic: "chat:42", timestamp: Timestamp(millisecondsSince1970: 0), payload: .textDelta(TextDelta(text: "Hel")))

    @Test func eventsAreNamedAfterTheirTypeWithTheEventObject() {
        let packet = String(buffer: SocketIOEventEncoder(webSocket: false, offsets: false).encode(self.event, allocator: .init()))
        #expect(packet == #"42["text_delta",{"seq":7,"type":"text_delta","topic":"chat:42","ts":"1970-01-01T00:00:00.000Z","text":"Hel","index":0}]"#)
        let withOffset = String(buffer: SocketIOEventEncoder(webSocket: false, offsets: true).encode(self.event, allocator: .init()))
        #expect(withOffset.hasSuffix(#""index":0},"chat:42#7"]"#))
        let heartbeat = Event(seq: nil, topic: "t", timestamp: .now(), payload: .heartbeat(Heartbeat(lastSeq: 3, state: .waiting)))
        #expect(String(buffer: SocketIOEventEncoder(webSocket: false, offsets: true).encode(heartbeat, allocator: .init())).hasSuffix("}]"))
    }

    @Test func oneSharedPacketForThePollingAndWebSocketFormats() {
        var parts = EncodedParts(allocator: .init())
        let packet = SocketIOEventEncoder(webSocket: false, offsets: false).encode(self.event, parts: &parts)
        let frame = SocketIOEventEncoder(webSocket: true, offsets: false).encode(self.event, parts: &parts)
        #expect(frame == WebSocketFrameEncoder.textFrame(packet, allocator: .init()))
    }

    @Test func theSeqIsReadBackFromPacketsAndFrames() {
        for webSocket in [false, true] {
            for offsets in [false, true] {
                let encoder = SocketIOEventEncoder(webSocket: webSocket, offsets: offsets)
                #expect(SocketIOEventEncoder.seq(in: encoder.encode(self.event, allocator: .init())) == 7)
                // A frame whose length byte is `{` (123) still parses.
                let long = Event(
                    seq: 12_345, topic: "t", timestamp: Timestamp(millisecondsSince1970: 0),
                    payload: .textDelta(TextDelta(text: String(repeating: "x", count: 300))))
                #expect(SocketIOEventEncoder.seq(in: encoder.encode(long, allocator: .init())) == 12_345)
                let gap = Event(seq: nil, topic: "t", timestamp: .now(), payload: .gap(Gap(from: 1, to: 2)))
                #expect(SocketIOEventEncoder.seq(in: encoder.encode(gap, allocator: .init())) == nil)
            }
        }
    }

    @Test func offsetsNameTopicAndSeq() {
        #expect(SocketIOEventEncoder.offset("chat:42#7")! == ("chat:42", 7))
        #expect(SocketIOEventEncoder.offset("a#b#3")  == nil)  // '#' is not a topic character
        #expect(SocketIOEventEncoder.offset("t#-1") == nil)
        #expect(SocketIOEventEncoder.offset("MqLsLz0") == nil)
    }
}
