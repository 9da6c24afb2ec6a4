import GRPCCore
import NewsroomProto
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import NewsroomCore
import NewsroomHTTP
import SwiftProtobuf
import Testing

/// `Publish` (a client stream) over real loopback sockets.
@Suite(.serialized, .timeLimit(.minutes(2))) struct PublishTests {
    typealias Client = Newsroom_V1_Newsroom.Client<HTTP2ClientTransport.Posix>

    func publish(_ client: Client, _ requests: [Newsroom_V1_PublishRequest]) async throws -> Newsroom_V1_PublishSummary
    {
        try await client.publish(requestProducer: { writer in
            try await writer.write(contentsOf: requests)
        })
    }

    @Test func aClientStreamPublishesEveryEventAndAnswersTheSeqs() async throws {
        try await withGRPCTestHub { test in
            var start = Newsroom_V1_Event()
            start.streamStart.provider = "demo"
            let events = [start, textEvent("Hello, "), textEvent("world."), completeEvent()]
            try await test.withClient { client in
                let viewer = Task {
                    try await client.subscribe(subscribeRequest("pub")) { response in
                        var received: [Newsroom_V1_Event] = []
                        for try await event in response.messages { received.append(event) }
                        return received
                    }
                }
                try await test.waitUntil("the viewer") { test.subscribers(of: "pub") == 1 }
                // The first message names the topic; the others may leave it empty.
                let requests = events.enumerated().map { publishRequest($0.offset == 0 ? "pub" : "", $0.element) }
                let summary = try await self.publish(client, requests)
                #expect(summary.topic == "pub")
                #expect(summary.firstSeq == 1 && summary.lastSeq == 4 && summary.count == 4)
                let received = try await viewer.value
                #expect(received.map(\.seq) == [1, 2, 3, 4])
                #expect(assembledText(received) == "Hello, world.")
            }
            #expect(test.hub.snapshot(ofTopic: "pub")?.state == .ended)
        }
    }

    @Test func eventsArePublishedAsTheyArriveNotAtTheEndOfTheCall() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let (proceed, go) = AsyncStream.makeStream(of: Void.self)
                async let summary = client.publish(requestProducer: { writer in
                    try await writer.write(publishRequest("live", textEvent("one")))
                    for await _ in proceed { break }
                    try await writer.write(publishRequest("live", completeEvent()))
                })
                try await test.waitUntil("the first event") { test.hub.snapshot(ofTopic: "live")?.lastSeq == 1 }
                go.yield()
                #expect(try await summary.count == 2)
            }
        }
    }

    @Test func publishingToAnEndedTopicIsFailedPrecondition() async throws {
        try await withGRPCTestHub { test in
            try test.hub.publish([text("x"), complete], to: "ended")
            try await test.withClient { client in
                let error = await #expect(throws: RPCError.self) {
                    try await self.publish(client, [publishRequest("ended", textEvent("late"))])
                }
                #expect(error?.code == .failedPrecondition)
                #expect(
                    error?.metadata[stringValues: newsroomCodeKey].first(where: { _ in true }) == "topic_ended"
                )
            }
        }
    }

    @Test func anEventAfterTheEndFailsAndTheTrailersSayWhatWasPublished() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let error = await #expect(throws: RPCError.self) {
                    try await self.publish(
                        client,
                        [
                            publishRequest("after-end", textEvent("a")), publishRequest("after-end", completeEvent()),
                            publishRequest("after-end", textEvent("b")),
                        ])
                }
                #expect(error?.code == .failedPrecondition)
                #expect(error?.message.hasPrefix("message 3:") == true)
                #expect(error?.metadata[stringValues: lastSeqKey].first(where: { _ in true }) == "2")
            }
            #expect(test.hub.snapshot(ofTopic: "after-end")?.lastSeq == 2)
        }
    }

    @Test func aSecondTopicInOneCallIsInvalidArgument() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let error = await #expect(throws: RPCError.self) {
                    try await self.publish(
                        client, [publishRequest("one", textEvent("a")), publishRequest("two", textEvent("b"))])
                }
                #expect(error?.code == .invalidArgument)
            }
            #expect(test.hub.snapshot(ofTopic: "one")?.lastSeq == 1)
            #expect(test.hub.snapshot(ofTopic: "two") == nil)
        }
    }

    @Test func anEmptyCallIsInvalidArgument() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let error = await #expect(throws: RPCError.self) { try await self.publish(client, []) }
                #expect(error?.code == .invalidArgument)
            }
        }
    }

    /// Bad events, each in its own call; none is stored and the hub keeps serving.
    static let badEvents: [(String, Newsroom_V1_PublishRequest)] = {
        var cases: [(String, Newsroom_V1_PublishRequest)] = []
        cases.append(("bad topic name", publishRequest("no spaces", textEvent("x"))))
        cases.append(("no topic", publishRequest("", textEvent("x"))))
        var noEvent = Newsroom_V1_PublishRequest()
        noEvent.topic = "bad"
        cases.append(("no event", noEvent))
        cases.append(("no payload", publishRequest("bad", Newsroom_V1_Event())))
        var seq = textEvent("x")
        seq.seq = 3
        cases.append(("seq set", publishRequest("bad", seq)))
        var ts = textEvent("x")
        ts.ts = Google_Protobuf_Timestamp(seconds: 1, nanos: 0)
        cases.append(("ts set", publishRequest("bad", ts)))
        var topic = textEvent("x")
        topic.topic = "bad"
        cases.append(("topic set in the event", publishRequest("bad", topic)))
        var heartbeat = Newsroom_V1_Event()
        heartbeat.heartbeat = Newsroom_V1_Heartbeat()
        cases.append(("heartbeat", publishRequest("bad", heartbeat)))
        var gap = Newsroom_V1_Event()
        gap.gap = Newsroom_V1_Gap()
        cases.append(("gap", publishRequest("bad", gap)))
        var toolDelta = Newsroom_V1_Event()
        toolDelta.toolCallDelta.argumentsDelta = "{"
        cases.append(("tool_call_delta without call_id", publishRequest("bad", toolDelta)))
        var tool = Newsroom_V1_Event()
        tool.toolCall.callID = "c1"
        cases.append(("tool_call without name", publishRequest("bad", tool)))
        cases.append(("stream_complete without finish_reason", publishRequest("bad", completeEvent(.unspecified))))
        cases.append(("unknown finish_reason", publishRequest("bad", completeEvent(.UNRECOGNIZED(77)))))
        var epoch = Newsroom_V1_Event()
        epoch.streamStart.epoch = "e1"
        cases.append(("stream_start with an epoch", publishRequest("bad", epoch)))
        var error = Newsroom_V1_Event()
        error.error.code = "Not Snake"
        cases.append(("error code not snake_case", publishRequest("bad", error)))
        var index = textEvent("x", index: 2_000_000)
        index.textDelta.index = 2_000_000
        cases.append(("index too large", publishRequest("bad", index)))
        var unknown = textEvent("x")
        // Field 99, varint 1: a field from a newer .proto.
        try! unknown.textDelta.merge(serializedBytes: [0xF8, 0x06, 0x01] as [UInt8])
        cases.append(("unknown field", publishRequest("bad", unknown)))
        return cases
    }()

    @Test(arguments: Self.badEvents)
    func aBadEventIsInvalidArgumentAndNothingIsStored(
        _ name: String, _ request: Newsroom_V1_PublishRequest
    ) async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let error = await #expect(throws: RPCError.self, "\(name)") {
                    try await self.publish(client, [request])
                }
                #expect(error?.code == .invalidArgument, "\(name)")
                #expect(error?.message.isEmpty == false)
                // The hub still serves.
                let summary = try await self.publish(client, [publishRequest("good", textEvent("ok"))])
                #expect(summary.count == 1)
            }
            #expect(test.hub.snapshot(ofTopic: "bad")?.lastSeq ?? 0 == 0)
        }
    }

    @Test func invalidUTF8IsInvalidArgument() async throws {
        try await withGRPCTestHub { test in
            // PublishRequest{topic: "bad", event: {text_delta: {text: <0xFF>}}}, serialized by hand: no
            // protobuf library writes invalid UTF-8 into a string field.
            let bytes: [UInt8] = [0x0A, 0x03, 0x62, 0x61, 0x64, 0x12, 0x05, 0x5A, 0x03, 0x0A, 0x01, 0xFF]
            try await test.withRawClient { client in
                let error = await #expect(throws: RPCError.self) {
                    try await client.clientStreaming(
                        request: StreamingClientRequest<[UInt8]>(producer: { try await $0.write(bytes) }),
                        descriptor: Newsroom_V1_Newsroom.Method.Publish.descriptor, serializer: RawBytesSerializer(),
                        deserializer: ProtobufDeserializer<Newsroom_V1_PublishSummary>(), options: .defaults
                    ) { try $0.message }
                }
                #expect(error?.code == .invalidArgument)
            }
            #expect(test.hub.snapshot(ofTopic: "bad") == nil)
        }
    }
}
