import DequeModule
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewsroomCore
import NewsroomWire
import Synchronization

/// One Engine.IO session: a Socket.IO client's connection, over HTTP long-polling, over a WebSocket,
/// or long-polling first and then upgraded to a WebSocket.
///
/// A session lives on one event loop and is only touched there (``onLoop(_:)`` gets there from
/// anywhere). Long-polling requests may arrive on any connection, hence any loop; their answers are
/// completed from here. When a session upgrades to a WebSocket that arrived on another loop, the
/// session moves to that loop: its subscriptions are re-made there, each resuming after the last event
/// it wrote (see ``SocketIOSocket/moveSubscriptions()``), so that every later write goes straight to
/// the socket with no hop.
///
/// The hub pings (`2`) every `pingInterval`; a client that does not answer (`3`) within `pingTimeout`
/// is gone. Timers are per session (two per ping interval): Engine.IO's rhythm is per client.
///
/// - Note: `@unchecked Sendable` because its state is confined to ``eventLoop``.
final class EngineIOSession: @unchecked Sendable {
    enum InitialTransport {
        case polling
        case webSocket(EngineIOWebSocketHandler)
    }

    enum Transport {
        case polling
        case webSocket(EngineIOWebSocketHandler)
    }

    let sid: String
    unowned let server: EngineIOServer
    let handshake: SocketIOHandshake
    private let loop: NIOLockedValueBox<any EventLoop>
    /// Incremented when the session moves (an upgrade): sinks made before refuse to write (read with a
    /// relaxed load on every write, where a lock would cost).
    let generation = Atomic<Int>(0)
    private(set) var transport: Transport
    /// A WebSocket probing an upgrade (`2probe` answered, `5` not yet received).
    private var probe: EngineIOWebSocketHandler?
    /// Packets waiting for a poll (long-polling only).
    private var outbound = Deque<ByteBuffer>()
    private var outboundBytes = 0
    /// Whether the subscribers were told the session is not writable (long-polling).
    private var blocked = false
    private var pendingPoll: EventLoopPromise<HTTPResponse>?
    private var pingTimer: Scheduled<Void>?
    private var connectTimer: Scheduled<Void>?
    private var upgradeTimer: Scheduled<Void>?
    private(set) var isClosed = false
    private(set) var socket: SocketIOSocket!

    init(sid: String, server: EngineIOServer, loop: any EventLoop, transport: InitialTransport, handshake: SocketIOHandshake) {
        self.sid = sid
        self.server = server
        self.loop = NIOLockedValueBox(loop)
        self.handshake = handshake
        switch transport {
        case .polling: self.transport = .polling
        case .webSocket(let handler): self.transport = .webSocket(handler)
        }
        self.socket = SocketIOSocket(session: self)
    }

    /// The loop the session lives on (it changes once at most, when an upgrade moves it).
    var eventLoop: any EventLoop { self.loop.withLockedValue { $0 } }

    /// Runs `body` on the session's loop (now if already there).
    func onLoop(_ body: @escaping @Sendable (EngineIOSession) -> Void) {
        let loop = self.eventLoop
        if loop.inEventLoop { return body(self) }
        loop.execute { self.onLoop(body) }
    }

    var isWebSocket: Bool {
        if case .webSocket = self.transport { return true }
        return false
    }

    /// The open packet (`0{…}`), and the start of the session's timers.
    func openPacket(upgrades: [String]) -> ByteBuffer {
        let settings = self.server.settings
        self.schedulePing()
        self.startConnectTimer()
        return EngineIOPacket.open(
            sid: self.sid, upgrades: upgrades, pingInterval: Int(settings.pingInterval.nanoseconds / 1_000_000),
            pingTimeout: Int(settings.pingTimeout.nanoseconds / 1_000_000), maxPayload: settings.maxPayload)
    }

    // MARK: Long-polling

    /// A `GET`: answered with the waiting packets, or held until there are some (a ping comes at the
    /// latest after `pingInterval`).
    func poll(_ promise: EventLoopPromise<HTTPResponse>) {
        guard !self.isClosed else { return promise.succeed(EngineIOServer.error(.unknownSessionID)) }
        guard case .polling = self.transport else { return promise.succeed(EngineIOServer.error(.badRequest)) }
        if let pending = self.pendingPoll {
            // Two polls at once: the protocol closes the session (the first poll gets `1`).
            self.pendingPoll = nil
            pending.succeed(EngineIOServer.packets([Self.closePacket]))
            self.close(reason: "protocol_error", unexpected: false)
            return promise.succeed(EngineIOServer.error(.badRequest))
        }
        if self.probe != nil { return promise.succeed(EngineIOServer.packets([Self.noopPacket])) }
        self.pendingPoll = promise
        self.answerPoll()
    }

    /// A `POST` of packets: `ok`, or 400 for a body that is not Engine.IO (the session closes).
    func post(_ text: String) -> HTTPResponse {
        guard !self.isClosed else { return EngineIOServer.error(.unknownSessionID) }
        guard case .polling = self.transport else { return EngineIOServer.error(.badRequest) }
        let packets: [EngineIOPacket]
        do {
            packets = try EngineIOPacket.decodePayload(text)
        } catch {
            self.close(reason: "protocol_error", unexpected: false)
            return EngineIOServer.error(.badRequest)
        }
        for packet in packets where !self.isClosed { self.receive(packet) }
        return EngineIOServer.ok
    }

    /// The poll's HTTP connection closed before it was answered: keep the packets for the next one.
    func pollAbandoned(_ answer: EventLoopFuture<HTTPResponse>) {
        if self.pendingPoll?.futureResult === answer { self.pendingPoll = nil }
    }

    private func answerPoll() {
        guard let promise = self.pendingPoll, !self.outbound.isEmpty else { return }
        self.pendingPoll = nil
        let count = min(self.outbound.count, self.server.settings.maxPacketsPerPoll)
        let packets = self.outbound.prefix(count)
        promise.succeed(EngineIOServer.packets(packets))
        self.outbound.removeFirst(count)
        self.outboundBytes -= packets.reduce(0) { $0 + $1.readableBytes }
        if self.blocked, self.outboundBytes <= self.server.lowWaterMark {
            self.blocked = false
            self.socket.writabilityChanged()
        }
    }

    // MARK: Packets in

    /// One packet from the client (a polling record or a WebSocket message).
    func receive(_ packet: EngineIOPacket) {
        switch packet.kind {
        case .pong:
            self.schedulePing()
        case .message:
            self.socket.receive(packet.text)
        case .close:
            if let pending = self.pendingPoll {
                self.pendingPoll = nil
                pending.succeed(EngineIOServer.packets([Self.noopPacket]))
            }
            self.close(reason: "client", unexpected: false)
        case .noop, .upgrade:
            break
        case .ping, .open, .binaryMessage:
            // A v4 client never pings (the server does), and the hub takes no binary messages.
            self.close(reason: "protocol_error", unexpected: false)
        }
    }

    // MARK: Packets out

    /// Sends a control packet (a Socket.IO reply, a ping) at once.
    func send(_ packet: ByteBuffer) {
        guard !self.isClosed else { return }
        switch self.transport {
        case .polling:
            self.enqueue(packet)
            self.answerPoll()
        case .webSocket(let handler):
            handler.send(packet)
        }
    }

    /// Writes an event's packet (already framed for the transport) without flushing.
    func writeEvent(_ frame: ByteBuffer) {
        switch self.transport {
        case .polling: self.enqueue(frame)
        case .webSocket(let handler): handler.writeFramed(frame)
        }
    }

    func flushEvents() {
        switch self.transport {
        case .polling: self.answerPoll()
        case .webSocket(let handler): handler.flush()
        }
    }

    /// Whether the subscribers may write (the polling queue or the socket is below its high-water mark).
    var isWritable: Bool {
        switch self.transport {
        case .polling: !self.blocked
        case .webSocket(let handler): handler.isWritable
        }
    }

    private func enqueue(_ packet: ByteBuffer) {
        self.outbound.append(packet)
        self.outboundBytes += packet.readableBytes
        if self.outboundBytes > self.server.highWaterMark { self.blocked = true }
    }

    // MARK: Heartbeat

    private func schedulePing() {
        self.pingTimer?.cancel()
        let loopBound = NIOLoopBound(self, eventLoop: self.eventLoop)
        let settings = self.server.settings
        self.pingTimer = self.eventLoop.scheduleTask(in: settings.pingInterval) {
            let session = loopBound.value
            guard !session.isClosed else { return }
            session.send(Self.pingPacket)
            session.pingTimer = session.eventLoop.scheduleTask(in: settings.pingTimeout) {
                loopBound.value.close(reason: "ping_timeout", unexpected: true)
            }
        }
    }

    // MARK: Upgrade

    /// A WebSocket sent `2probe` for this session: it answers `3probe`; a waiting poll gets `noop` so
    /// the client can pause polling.
    func probeStarted(_ handler: EngineIOWebSocketHandler) -> Bool {
        guard !self.isClosed, case .polling = self.transport, self.probe == nil else { return false }
        self.probe = handler
        if let pending = self.pendingPoll {
            self.pendingPoll = nil
            pending.succeed(EngineIOServer.packets([Self.noopPacket]))
        }
        let loopBound = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.upgradeTimer = self.eventLoop.scheduleTask(in: self.server.settings.upgradeTimeout) {
            let session = loopBound.value
            if let probe = session.probe {
                session.probe = nil
                probe.closeProbe()
            }
        }
        return true
    }

    /// The probe sent `5`: the session continues on the WebSocket (and on its loop).
    func upgraded(_ handler: EngineIOWebSocketHandler) {
        guard !self.isClosed, self.probe === handler else { return handler.closeProbe() }
        self.probe = nil
        self.upgradeTimer?.cancel()
        self.pingTimer?.cancel()
        self.connectTimer?.cancel()
        if let pending = self.pendingPoll {
            self.pendingPoll = nil
            pending.succeed(EngineIOServer.packets([Self.noopPacket]))
        }
        let waiting = self.outbound
        self.outbound.removeAll()
        self.outboundBytes = 0
        self.blocked = false
        self.transport = .webSocket(handler)
        self.generation.add(1, ordering: .relaxed)
        self.server.metrics.upgraded()
        let subscriptions = self.socket.moveSubscriptions()
        let target = handler.eventLoop
        self.loop.withLockedValue { $0 = target }
        target.execute {
            handler.sessionMoved()
            for packet in waiting { handler.send(packet, flush: false) }
            handler.flush()
            self.schedulePing()
            if !self.socket.isConnected { self.startConnectTimer() }
            self.socket.resubscribe(subscriptions)
        }
    }

    private func startConnectTimer() {
        let loopBound = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.connectTimer = self.eventLoop.scheduleTask(in: self.server.settings.connectTimeout) {
            let session = loopBound.value
            if !session.socket.isConnected { session.close(reason: "connect_timeout", unexpected: false) }
        }
    }

    /// A WebSocket of this session closed.
    func webSocketClosed(_ handler: EngineIOWebSocketHandler) {
        if self.probe === handler {
            self.probe = nil
            self.upgradeTimer?.cancel()
            return
        }
        if case .webSocket(let current) = self.transport, current === handler {
            self.close(reason: "transport_closed", unexpected: true)
        }
    }

    // MARK: Closing

    /// Ends the session. `unexpected`: the client did not say goodbye (a ping timeout, a lost
    /// connection), so its Socket.IO state is kept for recovery when that is on.
    func close(reason: String, unexpected: Bool, notifyClient: Bool = false) {
        guard !self.isClosed else { return }
        self.isClosed = true
        self.pingTimer?.cancel()
        self.connectTimer?.cancel()
        self.upgradeTimer?.cancel()
        self.server.sessionClosed(self)
        self.server.metrics.closed(webSocket: self.isWebSocket, reason: reason)
        self.socket.sessionEnded(unexpected: unexpected)
        self.outbound.removeAll()
        self.outboundBytes = 0
        switch self.transport {
        case .polling:
            if let pending = self.pendingPoll {
                self.pendingPoll = nil
                pending.succeed(notifyClient ? EngineIOServer.packets([Self.closePacket]) : EngineIOServer.error(.unknownSessionID))
            }
        case .webSocket(let handler):
            handler.close(sendClosePacket: notifyClient)
        }
        self.probe?.closeProbe()
        self.probe = nil
        self.server.logger.debug(
            "socket.io session closed", metadata: ["newsroom.reason": "\(reason)", "newsroom.client": "\(self.handshake.client)"])
    }

    static let pingPacket = ByteBuffer(string: "2")
    static let noopPacket = ByteBuffer(string: "6")
    static let closePacket = ByteBuffer(string: "1")
}
