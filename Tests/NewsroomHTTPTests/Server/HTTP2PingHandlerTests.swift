import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import NewsroomHTTP

/// HTTP/2 keepalive: a PING per tick, the hub's ACKs reset the count, two unanswered PINGs close.
@Suite struct HTTP2PingHandlerTests {
    func makeChannel() throws -> (EmbeddedChannel, HTTP2PingHandler) {
        let channel = EmbeddedChannel()
        let handler = HTTP2PingHandler(
            keepalive: ConnectionKeepalive(eventLoop: channel.embeddedEventLoop, interval: .seconds(15)))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, handler)
    }

    func sentPing(_ channel: EmbeddedChannel) throws -> HTTP2PingData? {
        guard let frame = try channel.readOutbound(as: HTTP2Frame.self) else { return nil }
        guard case .ping(let data, ack: false) = frame.payload, frame.streamID == .rootStream else { return nil }
        return data
    }

    @Test func eachTickSendsAPingAndAnAckKeepsTheConnection() throws {
        let (channel, handler) = try self.makeChannel()
        for _ in 0..<5 {
            handler.keepaliveTick()
            let data = try #require(try self.sentPing(channel))
            #expect(data == HTTP2PingHandler.data)
            try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(data, ack: true)))
            // Stream-0 frames go on down the pipeline.
            #expect(try channel.readInbound(as: HTTP2Frame.self) != nil)
        }
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test func twoUnansweredPingsCloseTheConnection() throws {
        let (channel, handler) = try self.makeChannel()
        handler.keepaliveTick()
        handler.keepaliveTick()
        #expect(try self.sentPing(channel) != nil)
        #expect(try self.sentPing(channel) != nil)
        // The ACK of another PING (other data) does not count as an answer.
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 7), ack: true)))
        _ = try channel.readInbound(as: HTTP2Frame.self)
        #expect(channel.isActive)
        handler.keepaliveTick()
        #expect(!channel.isActive)
        #expect(try self.sentPing(channel) == nil)
    }
}
