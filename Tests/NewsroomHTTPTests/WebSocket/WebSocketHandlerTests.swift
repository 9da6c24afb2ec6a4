import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomWire
import Testing

@testable import NewsroomHTTP

/// The WebSocket handler on a `NIOAsyncTestingChannel`: commands in, replies and shared event frames
/// out, close codes.
@Suite struct WebSocketHandlerTests {
    struct Fixture {
        let channel: NIOAsyncTestingChannel
        let control: ControlService
        var hub: Hub { self.control.hub }
    }

    func withFixture(
        mode: WebSocketHandler.Mode = .multiplexed, principal: Principal = .anonymous,
        configure: (inout ControlService.Configuration) -> Void = { _ in },
        _ body: (Fixture) async throws -> Void
    ) async throws {
        let channel = NIOAsyncTestingChannel()
        let hub = Hub(
            encoders: HTTPServer.encoders, eventLoopGroup: channel.testingEventLoop)
        let control = ControlService(hub: hub, configuration: .defaults(configure: configure))
        let dependencies = HTTPDependencies(
            control: control, configuration: .defaults, logger: Logger(label: "test"), metricsText: nil)
        try await channel.testingEventLoop.executeInContext {
            let io = ConnectionIOHandler()
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(io)
            try sync.addHandler(NIOWebSocket.WebSocketFrameEncoder())
            try sync.addHandler(
                WebSocketHandler(
                    dependencies: dependencies, mode: mode, traceHeaders: [], authentication: .success(principal),
                    keepalive: dependencies.keepalive(for: channel.testingEventLoop), statistics: io.statistics))
        }
        try await body(Fixture(channel: channel, control: control))
        await hub.shutdown()
        _ = try? await channel.finish()
    }

    /// Sends a client text frame.
    func send(_ json: String, to channel: NIOAsyncTestingChannel) async throws {
        try await self.receive(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: json)), on: channel)
    }

    /// Hands a frame to the handler as the frame decoder would (above the byte-level first handler).
    func receive(_ frame: WebSocketFrame, on channel: NIOAsyncTestingChannel) async throws {
        try await channel.testingEventLoop.executeInContext {
            let context = try channel.pipeline.syncOperations.context(handlerType: NIOWebSocket.WebSocketFrameEncoder.self)
            context.fireChannelRead(NIOAny(frame))
        }
    }

    /// The next server frame: its opcode and payload. NIO's frame encoder writes a frame's header and
    /// payload separately, the shared event frames are one write: bytes are gathered until a frame is whole.
    func nextFrame(_ channel: NIOAsyncTestingChannel) async throws -> (opcode: UInt8, payload: ByteBuffer) {
        var bytes = ByteBuffer()
        while true {
            switch try await channel.waitForOutboundWrite(as: IOData.self) {
            case .byteBuffer(var buffer): bytes.writeBuffer(&buffer)
            case .fileRegion: throw TestError.unexpected
            }
            var view = bytes
            guard let first = view.readInteger(as: UInt8.self), let second = view.readInteger(as: UInt8.self) else {
                continue
            }
            var length = Int(second & 0x7f)
            if length == 126 { guard let long = view.readInteger(as: UInt16.self) else { continue }; length = Int(long) }
            if length == 127 { guard let long = view.readInteger(as: UInt64.self) else { continue }; length = Int(long) }
            guard let payload = view.readSlice(length: length) else { continue }
            #expect(view.readableBytes == 0, "one frame per read")
            return (first & 0x0f, payload)
        }
    }

    func nextJSON(_ channel: NIOAsyncTestingChannel) async throws -> String {
        let frame = try await self.nextFrame(channel)
        #expect(frame.opcode == 0x1)
        return String(buffer: frame.payload)
    }

    enum TestError: Error { case unexpected }

    @Test func subscribeThenReceiveTheSharedEventFrames() async throws {
        try await self.withFixture { fixture in
            try await self.send(#"{"op":"subscribe","topic":"t","id":1}"#, to: fixture.channel)
            #expect(try await self.nextJSON(fixture.channel) == #"{"op":"ok","id":1,"topic":"t"}"#)
            try fixture.hub.publish(.textDelta(TextDelta(text: "hi")), to: "t")
            let event = try await self.nextJSON(fixture.channel)
            #expect(event.hasPrefix(#"{"seq":1,"type":"text_delta","topic":"t","#))
            #expect(event.hasSuffix(#""text":"hi","index":0}"#))
        }
    }

    @Test func aForbiddenSubscribeIsRefusedWithTheControlServicesError() async throws {
        let viewer = Principal(subject: "v", capabilities: Capabilities(subscribe: ["open"]), expiresAt: nil)
        try await self.withFixture(principal: viewer) { fixture in
            try await self.send(#"{"op":"subscribe","topic":"secret","id":"a"}"#, to: fixture.channel)
            #expect(
                try await self.nextJSON(fixture.channel)
                    == #"{"op":"error","id":"a","code":"forbidden","message":"the token does not allow subscribe on 'secret'"}"#)
            #expect(fixture.hub.snapshot(ofTopic: "secret") == nil)
        }
    }

    @Test func theSubscriptionLimitComesFromTheControlService() async throws {
        try await self.withFixture(configure: { $0.maxSubscriptionsPerConnection = 1 }) { fixture in
            try await self.send(#"{"op":"subscribe","topic":"a","id":1}"#, to: fixture.channel)
            _ = try await self.nextJSON(fixture.channel)
            try await self.send(#"{"op":"subscribe","topic":"b","id":2}"#, to: fixture.channel)
            let refusal = try await self.nextJSON(fixture.channel)
            #expect(refusal.contains(#""code":"subscription_limit""#))
        }
    }

    @Test func publishesFromOneSocketKeepTheirOrder() async throws {
        try await self.withFixture { fixture in
            for index in 0..<20 {
                try await self.send(
                    #"{"op":"publish","topic":"p","id":\#(index),"event":{"type":"text_delta","text":"\#(index) "}}"#,
                    to: fixture.channel)
            }
            var replies: [String] = []
            for _ in 0..<20 { replies.append(try await self.nextJSON(fixture.channel)) }
            #expect(replies.allSatisfy { $0.hasPrefix(#"{"op":"ok""#) })
            let seqs = replies.map { reply in reply.split(separator: "\"first_seq\":")[1].prefix { $0.isNumber } }
            #expect(seqs.map { Int($0)! } == Array(1...20))
        }
    }

    @Test func aBinaryFrameClosesWith1003() async throws {
        try await self.withFixture { fixture in
            try await self.receive(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [1, 2])), on: fixture.channel)
            let close = try await self.nextFrame(fixture.channel)
            #expect(close.opcode == 0x8)
            var payload = close.payload
            #expect(payload.readInteger(as: UInt16.self) == 1003)
        }
    }

    @Test func aSingleTopicSocketWithoutTheRightClosesWith4003() async throws {
        let viewer = Principal(subject: "v", capabilities: Capabilities(subscribe: ["open"]), expiresAt: nil)
        try await self.withFixture(mode: .single(SubscriptionRequest(topic: "secret")), principal: viewer) { fixture in
            let close = try await self.nextFrame(fixture.channel)
            #expect(close.opcode == 0x8)
            var payload = close.payload
            #expect(payload.readInteger(as: UInt16.self) == 4003)
        }
    }
}
