import NIOCore
import NIOWebSocket
import NewsroomWire

/// The WebSocket of an Engine.IO session: a session of its own (`transport=websocket` without `sid`:
/// the open packet is the first message), or the upgrade of a long-polling session (`sid` given: the
/// `2probe` / `3probe` / `5` exchange, after which the session continues here).
///
/// One Engine.IO packet per text message. Event packets of subscriptions arrive pre-framed
/// (``NewsroomWire/SocketIOEventEncoder``, WebSocket framing) and are written below NIO's frame
/// encoder, as plain WebSocket subscribers' are; replies go through the encoder.
final class EngineIOWebSocketHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    enum Mode {
        /// A new session on this socket.
        case open
        /// The upgrade of the long-polling session with this id.
        case upgrade(sid: String)
    }

    private enum Role {
        case probing
        case transport
        case closed
    }

    private let server: EngineIOServer
    private let mode: Mode
    private let handshake: SocketIOHandshake
    let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    private var belowEncoders: ChannelHandlerContext?
    private var session: EngineIOSession?
    private var role = Role.probing
    /// The connection's writability, kept from the channel's events.
    private(set) var isWritable = true

    init(server: EngineIOServer, mode: Mode, handshake: SocketIOHandshake, eventLoop: any EventLoop) {
        self.server = server
        self.mode = mode
        self.handshake = handshake
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.belowEncoders = try? context.pipeline.syncOperations.context(handlerType: ConnectionIOHandler.self)
        self.isWritable = context.channel.isWritable
        switch self.mode {
        case .open:
            guard let session = self.server.openSession(on: context.eventLoop, transport: .webSocket(self), handshake: self.handshake)
            else {
                return self.closeSocket(code: .unknown(1013), reason: "too many Socket.IO sessions")
            }
            self.session = session
            self.role = .transport
            self.send(session.openPacket(upgrades: []))
        case .upgrade(let sid):
            guard let session = self.server.session(sid) else {
                return self.closeSocket(code: .policyViolation, reason: "Session ID unknown")
            }
            self.session = session
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.socketGone()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.socketGone()
    }

    private func socketGone() {
        guard self.role != .closed else { return }
        self.role = .closed
        if let session = self.session {
            session.onLoop { $0.webSocketClosed(self) }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.isWritable = context.channel.isWritable
        if self.role == .transport, let session = self.session {
            session.onLoop { $0.socket.writabilityChanged() }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge:
            self.closeSocket(code: .messageTooLarge, reason: "message over maxPayload (\(self.server.settings.maxPayload) bytes)")
        case is NIOWebSocketError:
            self.role = .closed  // the protocol error handler sent the close frame
            self.session?.onLoop { $0.close(reason: "protocol_error", unexpected: false) }
        default:
            self.closeSocket(code: .protocolError, reason: "protocol error")
        }
    }

    // MARK: Frames in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        guard self.role != .closed, let session = self.session else { return }
        // The aggregator bounds fragmented messages; an unfragmented frame is bounded here.
        guard frame.length <= self.server.settings.maxPayload else {
            return self.closeSocket(code: .messageTooLarge, reason: "message over maxPayload (\(self.server.settings.maxPayload) bytes)")
        }
        switch frame.opcode {
        case .text:
            let payload = frame.unmaskedData
            guard let text = String(validating: payload.readableBytesView, as: UTF8.self) else {
                return self.closeSocket(code: .dataInconsistentWithMessage, reason: "text frames must be UTF-8")
            }
            self.receive(text, session: session)
        case .binary:
            // The hub takes JSON only (binary Socket.IO events are not supported).
            session.onLoop { $0.close(reason: "protocol_error", unexpected: false) }
        case .ping:
            var payload = frame.unmaskedData
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: payload.readSlice(length: min(payload.readableBytes, 125)) ?? ByteBuffer())
            context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            self.closeSocket(code: .normalClosure, reason: "")
        default:
            break
        }
    }

    private func receive(_ text: String, session: EngineIOSession) {
        switch self.role {
        case .probing:
            switch text {
            case "2probe":
                session.onLoop { session in
                    let accepted = session.probeStarted(self)
                    self.eventLoop.execute {
                        if accepted { self.send(ByteBuffer(string: "3probe")) } else { self.closeProbe() }
                    }
                }
            case "5":
                self.role = .transport
                session.onLoop { $0.upgraded(self) }
            default:
                self.closeProbe()
            }
        case .transport:
            let packet: EngineIOPacket
            do {
                packet = try EngineIOPacket.decode(Substring(text))
            } catch {
                return session.onLoop { $0.close(reason: "protocol_error", unexpected: false) }
            }
            session.onLoop { $0.receive(packet) }
        case .closed:
            break
        }
    }

    // MARK: Frames out (on this socket's loop)

    /// The session now lives on this socket's loop.
    func sessionMoved() {
        self.eventLoop.assertInEventLoop()
    }

    /// Sends one packet as a text frame.
    func send(_ packet: ByteBuffer, flush: Bool = true) {
        guard let context = self.context, self.role != .closed else { return }
        let frame = self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: packet))
        if flush { context.writeAndFlush(frame, promise: nil) } else { context.write(frame, promise: nil) }
    }

    /// Writes a pre-framed text frame (an event's shared bytes) without flushing.
    func writeFramed(_ frame: ByteBuffer) {
        guard let belowEncoders = self.belowEncoders, self.role != .closed else { return }
        belowEncoders.write(NIOAny(IOData.byteBuffer(frame)), promise: nil)
    }

    func flush() {
        self.belowEncoders?.flush()
    }

    /// Ends the session's socket (the session closed): `1` first when the client should not reconnect.
    func close(sendClosePacket: Bool) {
        if sendClosePacket { self.send(EngineIOSession.closePacket) }
        self.closeSocket(code: .normalClosure, reason: "")
    }

    /// Closes a probe that will not become the transport (callable from any loop).
    func closeProbe() {
        self.eventLoop.execute {
            guard self.role == .probing else { return }
            self.closeSocket(code: .normalClosure, reason: "upgrade refused")
        }
    }

    private func closeSocket(code: WebSocketErrorCode, reason: String) {
        guard let context = self.context, self.role != .closed else { return }
        let wasTransport = self.role == .transport
        self.role = .closed
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(reason)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
            .whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        if wasTransport, let session = self.session {
            session.onLoop { $0.webSocketClosed(self) }
        }
    }
}
