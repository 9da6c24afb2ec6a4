import NIOCore
import NIOHPACK
import NIOHTTP2
import NewsroomProto
import SwiftProtobuf

/// A gRPC viewer's call: one HTTP/2 connection (SwiftNIO HTTP/2 with its inline stream multiplexer) and
/// one `newsroom.v1.Newsroom/Subscribe` stream on it, handled by channel handlers on the viewer's event
/// loop like the SSE and WebSocket viewers (no task per connection).
///
/// The call is written by hand at the HTTP/2 frame level rather than through grpc-swift's client, so that
/// 10,000 viewers cost a channel and two handlers each, not a client with its own tasks; the gRPC wire
/// format it needs is small: request headers, one length-prefixed request message, length-prefixed
/// response messages, and `grpc-status` in the trailers. Each message is decoded with SwiftProtobuf.
struct GRPCViewerCall: Sendable {
    /// The `:authority` pseudo-header.
    var authority: String
    /// The serialized `SubscribeRequest` (without the 5-byte message prefix).
    var message: ByteBuffer

    /// The serialized `SubscribeRequest` for `topic` and `policy` (`after` is added on a resume).
    static func subscribeRequest(topic: String, policy: String?) -> ByteBuffer {
        var request = Newsroom_V1_SubscribeRequest()
        request.topic = topic
        switch policy {
        case "coalesce": request.policy = .coalesce
        case "drop_oldest": request.policy = .dropOldest
        case "disconnect": request.policy = .disconnect
        default: break
        }
        let bytes: [UInt8] = (try? request.serializedBytes()) ?? []
        return ByteBuffer(bytes: bytes)
    }

    /// Sets up a new connection's pipeline: HTTP/2 as a client and the handler that opens the call once
    /// the connection is active.
    static func configure(_ channel: any Channel, client: LoadClient, call: GRPCViewerCall) throws {
        let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
        ) { stream in
            // The server never opens streams (no push); refuse any it tries.
            stream.close()
        }
        try channel.pipeline.syncOperations.addHandler(
            GRPCViewerConnectionHandler(client: client, call: call, multiplexer: multiplexer))
    }
}

/// The connection's end of a gRPC viewer: opens the `Subscribe` stream when the connection is active and
/// reports the connection's end to the viewer.
final class GRPCViewerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    private let client: LoadClient
    private let call: GRPCViewerCall
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    private let attempt: Int

    init(client: LoadClient, call: GRPCViewerCall, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        self.client = client
        self.call = call
        self.multiplexer = multiplexer
        self.attempt = client.attempt
    }

    func channelActive(context: ChannelHandlerContext) {
        self.client.channel = context.channel
        let bound = NIOLoopBound(self.client, eventLoop: context.eventLoop)
        let call = self.call
        self.multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                // A stream inherits its connection's autoRead, which is off for slow viewers; their pace is
                // set on the connection, so the stream takes whatever the connection has read.
                try stream.syncOptions?.setOption(.autoRead, value: true)
                try stream.pipeline.syncOperations.addHandler(GRPCViewerStreamHandler(client: bound.value, call: call))
            }
        }.whenFailure { error in
            bound.value.lastError = LoopContext.reason(for: error)
            bound.value.channel?.close(promise: nil)
        }
        if self.client.isSlow { context.read() }  // autoRead is off for slow viewers: read the settings
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.client.connectionClosed(attempt: self.attempt)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.client.lastError = LoopContext.reason(for: error)
        context.close(promise: nil)
    }
}

/// The `Subscribe` stream: sends the request, then reads length-prefixed `Event` messages and hands each
/// to the viewer; the trailers' `grpc-status` ends the call (OK: the topic ended).
final class GRPCViewerStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let client: LoadClient
    private let call: GRPCViewerCall
    private var buffer = ByteBuffer()
    private var sawHead = false

    init(client: LoadClient, call: GRPCViewerCall) {
        self.client = client
        self.call = call
    }

    func channelActive(context: ChannelHandlerContext) {
        let headers = HPACKHeaders([
            (":method", "POST"), (":scheme", "http"), (":path", "/newsroom.v1.Newsroom/Subscribe"),
            (":authority", self.call.authority), ("content-type", "application/grpc"), ("te", "trailers"),
        ])
        context.write(self.wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        var message = context.channel.allocator.buffer(capacity: 5 + self.call.message.readableBytes)
        message.writeInteger(UInt8(0))  // not compressed
        message.writeInteger(UInt32(self.call.message.readableBytes))
        message.writeImmutableBuffer(self.call.message)
        context.writeAndFlush(self.wrapOutboundOut(.data(.init(data: .byteBuffer(message), endStream: true))), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let client = self.client
        client.now = WallClock.nanoseconds()
        switch self.unwrapInboundIn(data) {
        case .headers(let frame):
            self.receiveHeaders(frame.headers)
        case .data(let frame):
            guard case .byteBuffer(var bytes) = frame.data else { break }
            client.loop.report.bytes &+= bytes.readableBytes
            self.buffer.writeBuffer(&bytes)
            self.readMessages()
        default:
            break
        }
        if client.wantsClose {
            client.wantsClose = false
            client.channel?.close(promise: nil)
        }
    }

    private func receiveHeaders(_ headers: HPACKHeaders) {
        if !self.sawHead, let status = headers.first(name: ":status") {
            self.sawHead = true
            // A trailers-only answer (an error at once) carries grpc-status in its only headers.
            if status == "200", headers.first(name: "grpc-status") == nil {
                self.client.streamHead(status: 200)
                return
            }
            if status != "200" {
                self.client.streamHead(status: Int(status) ?? 0)
                return
            }
        }
        guard let grpcStatus = headers.first(name: "grpc-status") else { return }
        if grpcStatus == "0" {
            self.client.streamEnd()
        } else {
            if !self.client.everEstablished || self.client.state != .established {
                self.client.lastError = "grpc_status_\(grpcStatus)"
            }
            self.client.wantsClose = true
        }
    }

    /// Reads every complete message (gRPC's 5-byte prefix: compressed flag, big-endian length).
    private func readMessages() {
        while self.buffer.readableBytes >= 5,
            let length = self.buffer.getInteger(at: self.buffer.readerIndex + 1, as: UInt32.self),
            self.buffer.readableBytes >= 5 + Int(length)
        {
            self.buffer.moveReaderIndex(forwardBy: 5)
            let bytes = self.buffer.readBytes(length: Int(length)) ?? []
            guard let event = try? Newsroom_V1_Event(serializedBytes: bytes) else {
                self.client.lastError = "bad_message"
                self.client.wantsClose = true
                return
            }
            self.deliver(event)
        }
        self.buffer.discardReadBytes()
    }

    private func deliver(_ event: Newsroom_V1_Event) {
        let timestamp = event.hasTs ? event.ts.seconds * 1_000_000_000 + Int64(event.ts.nanos) : 0
        let seq = Int(clamping: event.seq)
        switch event.payload {
        case .textDelta(let delta):
            var text = delta.text
            text.withUTF8 { utf8 in
                self.client.grpcEvent(seq: seq, timestamp: timestamp, text: UnsafeRawBufferPointer(utf8), errorCode: nil)
            }
        case .error(let error):
            self.client.grpcEvent(seq: seq, timestamp: timestamp, text: nil, errorCode: error.code)
        default:
            self.client.grpcEvent(seq: seq, timestamp: timestamp, text: nil, errorCode: nil)
        }
    }
}
