import NIOCore
import NIOEmbedded
import NewsroomCore
import NewsroomWire
import Testing

@testable import NewsroomHTTP

/// The SSE sink and stream handler on an `EmbeddedChannel`: the exact bytes of an HTTP/1.1 SSE response
/// written below the encoders, and writability driving a slow subscriber's queue.
@Suite struct StreamingResponseSinkTests {
    struct Fixture {
        let channel: EmbeddedChannel
        let hub: Hub
        let sink: StreamingResponseSink
        let io: ConnectionIOHandler
        var loop: EmbeddedEventLoop { self.channel.embeddedEventLoop }
    }

    func fixture(configure: (inout Hub.Configuration) -> Void = { _ in }) throws -> Fixture {
        let channel = EmbeddedChannel()
        let io = ConnectionIOHandler()
        try channel.pipeline.syncOperations.addHandler(io)
        let context = try channel.pipeline.syncOperations.context(handlerType: ConnectionIOHandler.self)
        let hub = Hub(
            configuration: .defaults(configure: configure),
            encoders: HTTPServer.encoders, eventLoopGroup: channel.embeddedEventLoop)
        let sink = StreamingResponseSink(
            output: .chunked(belowEncoders: context), channel: channel, topic: "t", hub: hub, flavor: .sse(retryMilliseconds: 1500),
            extraHeaders: [("vary", "Origin")], statistics: io.statistics)
        return Fixture(channel: channel, hub: hub, sink: sink, io: io)
    }

    /// Everything written so far, as one string.
    func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = part else {
                Issue.record("a file region was written")
                continue
            }
            text += String(buffer: buffer)
        }
        return text
    }

    func text(_ string: String) -> EventPayload { .textDelta(TextDelta(text: string)) }

    @Test func theResponseIsWrittenAsPreFramedBytes() throws {
        let fixture = try self.fixture()
        try fixture.hub.publish([.streamStart(StreamStart(provider: "p", model: "m")), self.text("Hi")], to: "t")
        let format = try #require(fixture.hub.format(named: SSEChunkedEncoder.name))
        let subscriber = try fixture.hub.subscribe(to: "t", after: 1, policy: nil, format: format, sink: fixture.sink)
        let replay = try self.written(fixture.channel)
        #expect(replay.hasPrefix("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"))
        #expect(replay.contains("vary: Origin\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"))
        #expect(replay.contains("\r\n\r\nd\r\nretry: 1500\n\n\r\n"))  // the retry field is the first chunk
        #expect(replay.contains("id: 2\nevent: text_delta\n"))
        #expect(!replay.contains("id: 1\n"))  // resumed after 1

        // A live event is exactly the chunk the hub encoded once for every subscriber.
        try fixture.hub.publish(self.text("!"), to: "t")
        fixture.loop.run()
        let live = try self.written(fixture.channel)
        let shared = try #require(fixture.hub.snapshot(ofTopic: "t"))
        #expect(shared.lastSeq == 3)
        #expect(live.hasSuffix("\n\n\r\n") && live.contains("id: 3\nevent: text_delta\ndata: {\"seq\":3,"))
        // One chunk: `<hex length>\r\n<block>\r\n`.
        let lengthLine = String(decoding: live.utf8.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let chunkLength = try #require(Int(lengthLine, radix: 16))
        #expect(chunkLength == live.utf8.count - lengthLine.utf8.count - 4)
        // The end: the final chunk, then the connection closes.
        try fixture.hub.publish(.streamComplete(StreamComplete(finishReason: .stop)), to: "t")
        fixture.loop.run()
        let end = try self.written(fixture.channel)
        // Every byte written below the encoders is in the connection's statistics once the stream ends.
        #expect(fixture.io.statistics.bytesWritten == (replay + live + end).utf8.count)
        #expect(end.contains("event: stream_complete"))
        #expect(end.hasSuffix("\r\n0\r\n\r\n"))
        #expect(subscriber.isClosed)
        #expect(!fixture.channel.isActive)
    }

    @Test func aRefusedSubscriptionWritesNothing() throws {
        let fixture = try self.fixture { $0.maxSubscribersPerTopic = 0 }
        let format = try #require(fixture.hub.format(named: SSEChunkedEncoder.name))
        #expect(throws: HubError.self) {
            try fixture.hub.subscribe(to: "t", after: nil, policy: nil, format: format, sink: fixture.sink)
        }
        #expect(try self.written(fixture.channel).isEmpty)  // the request handler can still answer 503
        #expect(!fixture.sink.headWritten)
    }

    @Test func aSlowConsumerGetsARetryableNoticeThatDoesNotEndTheTopic() throws {
        let fixture = try self.fixture {
            $0.maxQueuedEvents = 2
        }
        let format = try #require(fixture.hub.format(named: SSEChunkedEncoder.name))
        let subscriber = try fixture.hub.subscribe(to: "t", after: nil, policy: .disconnect, format: format, sink: fixture.sink)
        try fixture.channel.pipeline.syncOperations.addHandler(StreamingResponseHandler(subscriber: subscriber, sink: fixture.sink))
        _ = try self.written(fixture.channel)
        fixture.channel.isWritable = false
        fixture.channel.pipeline.fireChannelWritabilityChanged()
        for index in 0..<3 { try fixture.hub.publish(self.text("\(index)"), to: "t") }
        fixture.loop.run()
        let ending = try self.written(fixture.channel)
        #expect(subscriber.isClosed)
        let notice = try #require(ending.split(separator: "\n").first { $0.hasPrefix("data: ") && $0.contains("slow_consumer") })
        #expect(notice.contains("\"retryable\":true"))
        #expect(!notice.contains("terminal"))
        #expect(!notice.contains("\"seq\""))
        #expect(fixture.io.statistics.closeReason == "slow_consumer")
    }

    @Test func writabilityDrainsTheQueueThroughTheStreamHandler() throws {
        let fixture = try self.fixture()
        let format = try #require(fixture.hub.format(named: SSEChunkedEncoder.name))
        let subscriber = try fixture.hub.subscribe(to: "t", after: nil, policy: .coalesce, format: format, sink: fixture.sink)
        try fixture.channel.pipeline.syncOperations.addHandler(StreamingResponseHandler(subscriber: subscriber, sink: fixture.sink))
        fixture.sink.flush()
        _ = try self.written(fixture.channel)
        fixture.channel.isWritable = false
        fixture.channel.pipeline.fireChannelWritabilityChanged()
        for piece in ["a", "b", "c"] { try fixture.hub.publish(self.text(piece), to: "t") }
        fixture.loop.run()
        #expect(try self.written(fixture.channel).isEmpty)
        #expect(subscriber.backlog.events == 1)  // three deltas coalesced into one
        fixture.channel.isWritable = true
        fixture.channel.pipeline.fireChannelWritabilityChanged()
        let drained = try self.written(fixture.channel)
        #expect(drained.contains("\"text\":\"abc\""))
        #expect(drained.contains("id: 3\n"))  // the merged event carries the last merged seq
        #expect(subscriber.backlog.events == 0)
    }

    @Test func theClientGoingAwayRemovesTheSubscriberAtOnce() throws {
        let fixture = try self.fixture()
        let format = try #require(fixture.hub.format(named: SSEChunkedEncoder.name))
        let subscriber = try fixture.hub.subscribe(to: "t", after: nil, policy: nil, format: format, sink: fixture.sink)
        try fixture.channel.pipeline.syncOperations.addHandler(StreamingResponseHandler(subscriber: subscriber, sink: fixture.sink))
        #expect(fixture.hub.snapshot(ofTopic: "t")?.subscribers == 1)
        fixture.channel.pipeline.fireChannelInactive()
        #expect(subscriber.isClosed)
        #expect(fixture.hub.snapshot(ofTopic: "t")?.subscribers == 0)
    }
}
