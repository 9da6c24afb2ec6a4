import DequeModule
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NewsroomControl
import NewsroomCore
import NewsroomWire
import Synchronization

/// The Socket.IO endpoint of the listener: Engine.IO v4 sessions (long-polling and WebSocket) by id,
/// and the sessions kept for connection state recovery.
///
/// HTTP requests and WebSocket upgrades for the endpoint's path come here from the connection handlers;
/// each session then lives on one event loop (``EngineIOSession``), and Socket.IO runs on top of it
/// (``SocketIOSocket``), calling the same ``ControlService`` as every other transport.
final class EngineIOServer: Sendable {
    let settings: HTTPServer.Configuration.SocketIOSettings
    let control: ControlService
    let logger: Logger
    /// The high- and low-water marks of a long-polling session's outbound packets (those of a TCP
    /// connection): above the high mark its subscribers count as slow.
    let highWaterMark: Int
    let lowWaterMark: Int
    let maxSessions: Int
    /// The path's segments (`["socket.io"]`).
    let pathSegments: [String]
    /// The formats by (WebSocket, offsets).
    private let formats: [WireFormat]
    private let sessions = Mutex<[String: EngineIOSession]>([:])
    private let recoverable = Mutex<RecoverableSessions>(RecoverableSessions())
    let metrics: SocketIOMetrics

    init(
        settings: HTTPServer.Configuration.SocketIOSettings, control: ControlService, logger: Logger,
        configuration: HTTPServer.Configuration, metrics: SocketIOMetrics
    ) {
        self.settings = settings
        self.control = control
        self.logger = logger
        self.highWaterMark = configuration.writeBufferHighWaterMark
        self.lowWaterMark = configuration.writeBufferLowWaterMark
        self.maxSessions = configuration.maxConnections
        self.pathSegments = settings.path.split(separator: "/").map(String.init)
        self.formats = SocketIOEventEncoder.all.map { encoder in
            guard let format = control.hub.format(named: encoder.name) else {
                preconditionFailure("the hub needs the Socket.IO wire formats of HTTPServer.encoders")
            }
            return format
        }
        self.metrics = metrics
    }

    /// The wire format of a session's subscribers.
    func format(webSocket: Bool) -> WireFormat {
        self.formats[(webSocket ? 1 : 0) + (self.settings.recoveryWindow == nil ? 0 : 2)]
    }

    var recoveryEnabled: Bool { self.settings.recoveryWindow != nil }

    /// Whether a request path is the endpoint's.
    func matches(_ segments: [String]) -> Bool { segments == self.pathSegments }

    // MARK: Sessions

    func session(_ sid: String) -> EngineIOSession? {
        self.sessions.withLock { $0[sid] }
    }

    /// Opens a session on `loop`; `nil` when the listener holds its most sessions.
    func openSession(on loop: any EventLoop, transport: EngineIOSession.InitialTransport, handshake: SocketIOHandshake)
        -> EngineIOSession?
    {
        let sid = Self.randomID()
        let session = EngineIOSession(sid: sid, server: self, loop: loop, transport: transport, handshake: handshake)
        let admitted = self.sessions.withLock { sessions -> Bool in
            guard sessions.count < self.maxSessions else { return false }
            sessions[sid] = session
            return true
        }
        guard admitted else { return nil }
        self.metrics.opened(webSocket: { if case .webSocket = transport { return true } else { return false } }())
        return session
    }

    func sessionClosed(_ session: EngineIOSession) {
        _ = self.sessions.withLock { $0.removeValue(forKey: session.sid) }
    }

    /// Every open session (for the shutdown).
    var openSessions: [EngineIOSession] { self.sessions.withLock { Array($0.values) } }

    /// An unguessable id: 120 random bits as 20 URL-safe base64 characters (the Engine.IO session id is
    /// a secret: it lets its holder read the session's messages).
    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var bytes = [UInt8](repeating: 0, count: 20)
        for index in bytes.indices { bytes[index] = alphabet[Int(generator.next(upperBound: UInt8(64)))] }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Recovery

    /// Keeps a dropped session's state for ``HTTPServer/Configuration/SocketIOSettings/recoveryWindow``.
    func keepForRecovery(_ state: SocketIORecoveryState) {
        guard let window = self.settings.recoveryWindow else { return }
        let limit = self.settings.maxRecoverableSessions
        self.recoverable.withLock { $0.insert(state, until: .now() + window, limit: limit) }
    }

    /// Takes the state kept for `pid`, if it is still there.
    func recover(pid: String) -> SocketIORecoveryState? {
        self.recoverable.withLock { $0.take(pid, now: .now()) }
    }

    // MARK: HTTP long-polling

    /// Answers an HTTP request to the endpoint: a handshake, a poll (`GET`, held until there is
    /// something to send) or a post of packets (`POST`).
    func answer(
        head: HTTPRequestHead, query: [String: String], body: ByteBuffer, loop: any EventLoop, client: String
    ) -> EventLoopFuture<HTTPResponse> {
        guard query["EIO"] == "4" else { return loop.makeSucceededFuture(Self.error(.unsupportedProtocolVersion)) }
        switch query["transport"] {
        case "polling": break
        case "websocket": return loop.makeSucceededFuture(Self.error(.badRequest))  // not an upgrade request
        default: return loop.makeSucceededFuture(Self.error(.unknownTransport))
        }
        guard let sid = query["sid"] else {
            guard head.method == .GET else { return loop.makeSucceededFuture(Self.error(.badHandshakeMethod)) }
            let handshake = SocketIOHandshake(head: head, client: client)
            guard let session = self.openSession(on: loop, transport: .polling, handshake: handshake) else {
                return loop.makeSucceededFuture(
                    HTTPResponse(error: .serviceUnavailable, code: "connection_limit", message: "too many Socket.IO sessions"))
            }
            return loop.makeSucceededFuture(Self.packets([session.openPacket(upgrades: ["websocket"])]))
        }
        guard let session = self.session(sid) else { return loop.makeSucceededFuture(Self.error(.unknownSessionID)) }
        switch head.method {
        case .GET:
            let promise = loop.makePromise(of: HTTPResponse.self)
            session.onLoop { $0.poll(promise) }
            return promise.futureResult
        case .POST:
            guard body.readableBytes <= self.settings.maxPayload else {
                return loop.makeSucceededFuture(
                    HTTPResponse(
                        error: .payloadTooLarge, code: "payload_too_large",
                        message: "a message may be at most \(self.settings.maxPayload) bytes (maxPayload)"))
            }
            let text = String(buffer: body)
            let promise = loop.makePromise(of: HTTPResponse.self)
            session.onLoop { promise.succeed($0.post(text)) }
            return promise.futureResult
        default:
            return loop.makeSucceededFuture(Self.error(.badRequest))
        }
    }

    /// An Engine.IO error answer: 400 (403 for forbidden) with `{"code":…,"message":…}`.
    static func error(_ code: EngineIOPacket.ErrorCode) -> HTTPResponse {
        HTTPResponse(status: code == .forbidden ? .forbidden : .badRequest, body: code.body, contentType: "application/json")
    }

    /// A poll answer holding `packets`, joined by the record separator.
    static func packets(_ packets: some Collection<ByteBuffer>) -> HTTPResponse {
        var response = HTTPResponse(
            status: .ok, headers: [("cache-control", "no-store")], contentType: "text/plain; charset=UTF-8")
        response.bodyParts.reserveCapacity(packets.count * 2)
        for packet in packets {
            if !response.bodyParts.isEmpty { response.bodyParts.append(Self.separator) }
            response.bodyParts.append(packet)
        }
        return response
    }

    /// The answer to a post: `ok`.
    static let ok = HTTPResponse(
        status: .ok, headers: [("cache-control", "no-store")], body: ByteBuffer(string: "ok"),
        contentType: "text/html; charset=UTF-8")

    private static let separator = ByteBuffer(bytes: [EngineIOPacket.separator])
}

/// What the client sent when it opened the session (read again by the Socket.IO connect).
struct SocketIOHandshake: Sendable {
    /// A bearer token from the `Authorization` header or `?token=` (used when the connect's `auth`
    /// has none).
    var token: String?
    var traceHeaders: [(String, String)]
    var client: String

    init(head: HTTPRequestHead, client: String) {
        self.token = HTTPCredentials.token(of: head)
        self.traceHeaders = HTTPCredentials.traceHeaders(of: head)
        self.client = client
    }
}

/// Sessions kept for connection state recovery, bounded in number and time.
struct RecoverableSessions {
    private var states: [String: (state: SocketIORecoveryState, until: NIODeadline)] = [:]
    private var order = Deque<String>()

    mutating func insert(_ state: SocketIORecoveryState, until: NIODeadline, limit: Int) {
        self.expire(now: .now())
        while self.states.count >= limit, let oldest = self.order.popFirst() { self.states[oldest] = nil }
        self.states[state.pid] = (state, until)
        self.order.append(state.pid)
    }

    mutating func take(_ pid: String, now: NIODeadline) -> SocketIORecoveryState? {
        self.expire(now: now)
        guard let entry = self.states.removeValue(forKey: pid) else { return nil }
        return entry.until > now ? entry.state : nil
    }

    private mutating func expire(now: NIODeadline) {
        while let oldest = self.order.first {
            if let entry = self.states[oldest], entry.until > now { break }
            self.order.removeFirst()
            if let entry = self.states[oldest], entry.until <= now { self.states[oldest] = nil }
        }
    }
}
