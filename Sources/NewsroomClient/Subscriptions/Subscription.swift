import NIOCore
import NIOPosix
import NewsroomCore
import Synchronization

/// A topic's events over the transport of your choice, as an `AsyncSequence` of typed ``Event``s that
/// reconnects by itself and resumes after the last received `seq`.
///
/// ```swift
/// let answer = try Subscription(url: "https://hub.example:8443", topic: "chat:42", transport: .webSocket)
/// for try await event in answer {
///     switch event.payload {
///     case .textDelta(let delta): print(delta.text, terminator: "")
///     case .streamComplete(let end): print("\n[\(end.finishReason)]")
///     default: break
///     }
/// }
/// ```
///
/// Whatever the transport, the sequence delivers each stored event once, in `seq` order, across any
/// number of reconnections, and ends after the topic's end (`stream_complete`, an `error` with a `seq`
/// and `terminal`, or a resume point that already is the end). Between connections it waits with
/// exponential backoff and jitter (``SubscriptionOptions/backoff(afterFailures:using:)``) and resumes
/// after the last delivered `seq`: `Last-Event-ID` over SSE, `?after=` over WebSocket, `after` over gRPC.
///
/// Notices — `error` events without a `seq` — are delivered too, and obeyed: a retryable one
/// (`server_shutdown`, `slow_consumer`, `token_expired`, `history_lost`) closes the connection and the
/// subscription resumes; one that is not retryable ends the sequence with a ``SubscriptionError``.
/// `resume_unavailable` means the hub no longer holds the resume point: the events that follow are the
/// history it holds, from its start, so a caller that assembled text starts over.
///
/// - Throws: From the iterator: ``SubscriptionError`` when the hub refuses the subscription (a 4xx
///   status, a WebSocket close or gRPC status that retrying will not heal) or sends a notice that is not
///   retryable; ``HubConnectionError`` once ``SubscriptionOptions/maxRetries`` reconnection attempts in a
///   row failed, or at once when the hub's certificate is not trusted; `CancellationError` when the
///   iterating task is cancelled.
public struct Subscription: AsyncSequence, Sendable {
    public typealias Element = Event

    /// A client-facing protocol to subscribe with.
    public struct Transport: Hashable, Sendable, CustomStringConvertible {
        enum Kind: Hashable, Sendable {
            case sse
            case webSocket
            case grpc(port: Int?)
        }
        let kind: Kind

        /// Server-Sent Events: `GET /v1/topics/{topic}/events`, resuming with `Last-Event-ID` (WHATWG
        /// HTML, "Server-sent events"). A `204` answer means the resume point is the topic's end.
        public static let sse = Transport(kind: .sse)
        /// WebSocket: `GET /v1/topics/{topic}/ws` (RFC 6455), resuming with `?after=`; one text message
        /// per event. Close 1000 means the topic ended; 1001, 1013 and 4008 are retried; 1008, 4001 and
        /// 4003 are refusals.
        public static let webSocket = Transport(kind: .webSocket)
        /// gRPC (`newsroom.v1.Newsroom/Subscribe`) over HTTP/2, on the hub's own port unless `port` names
        /// an extra gRPC port (`grpc.port`), resuming with
        /// `after`. `OK` means the topic ended; `UNAVAILABLE`, `RESOURCE_EXHAUSTED` and other transient
        /// statuses are retried; `INVALID_ARGUMENT`, `NOT_FOUND`, `PERMISSION_DENIED`,
        /// `UNAUTHENTICATED`, `FAILED_PRECONDITION` and `UNIMPLEMENTED` are refusals.
        public static func grpc(port: Int? = nil) -> Transport { Transport(kind: .grpc(port: port)) }

        public var description: String {
            switch self.kind {
            case .sse: "sse"
            case .webSocket: "websocket"
            case .grpc: "grpc"
            }
        }
    }

    public var host: String { self.address.host }
    public var port: Int { self.address.port }
    public let topic: String
    public let transport: Transport
    public let options: SubscriptionOptions
    let address: HubAddress
    let group: any EventLoopGroup

    /// - Parameters:
    ///   - host: The hub's host, e.g. `127.0.0.1`.
    ///   - port: The hub's HTTP port (``Transport/grpc(port:)`` names the gRPC port).
    ///   - topic: The topic to follow.
    ///   - transport: ``Transport/sse`` (default), ``Transport/webSocket`` or ``Transport/grpc(port:)``.
    ///   - options: Resume point, policy, reconnection, headers, TLS (``SubscriptionOptions/tls``).
    ///   - group: The event loops for the connections.
    public init(
        host: String, port: Int, topic: String, transport: Transport = .sse, options: SubscriptionOptions = .init(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.init(
            address: HubAddress(host: host, port: port, secure: options.tls != nil), topic: topic,
            transport: transport, options: options, group: group)
    }

    /// - Parameters:
    ///   - url: The hub's base URL: `http://HOST:PORT`, or `https://` for TLS (`ws://` and `wss://` are
    ///     accepted too); a path is the prefix the hub's API is under. The default port is 80 or 443.
    ///   - topic: The topic to follow.
    ///   - transport: ``Transport/sse`` (default), ``Transport/webSocket`` or ``Transport/grpc(port:)``
    ///     (on the URL's host).
    ///   - options: Resume point, policy, reconnection, headers; for an `https://` URL,
    ///     ``SubscriptionOptions/tls`` says how to check the certificate (the system's trust store when
    ///     `nil`); for an `http://` URL it is ignored.
    ///   - group: The event loops for the connections.
    /// - Throws: ``SubscriptionError`` (400) when `url` is not such a URL.
    public init(
        url: String, topic: String, transport: Transport = .sse, options: SubscriptionOptions = .init(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        guard let address = HubAddress(url: url) else {
            throw SubscriptionError(
                status: 400, code: "invalid_url", message: "'\(url)' is not an http://, https://, ws:// or wss:// URL")
        }
        var options = options
        options.tls = address.secure ? options.tls ?? .systemTrustStore : nil
        self.init(address: address, topic: topic, transport: transport, options: options, group: group)
    }

    init(
        address: HubAddress, topic: String, transport: Transport, options: SubscriptionOptions,
        group: any EventLoopGroup
    ) {
        self.address = address
        self.topic = topic
        self.transport = transport
        self.options = options
        self.group = group
    }

    public func makeAsyncIterator() -> AsyncThrowingStream<Event, any Error>.Iterator {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        let subscription = self
        let task = Task { await subscription.run(continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream.makeAsyncIterator()
    }

    /// The connector for this subscription's transport. Loads the TLS trust roots, so it is made once,
    /// in the subscription's task.
    func makeConnector() throws -> any SubscriptionConnector {
        switch self.transport.kind {
        case .sse:
            try SSEConnector(address: self.address, topic: self.topic, options: self.options, group: self.group)
        case .webSocket:
            try WebSocketConnector(address: self.address, topic: self.topic, options: self.options, group: self.group)
        case .grpc(let port):
            GRPCConnector(
                address: HubAddress(host: self.address.host, port: port ?? self.address.port, secure: self.address.secure),
                topic: self.topic, options: self.options, group: self.group)
        }
    }

    /// The reconnect loop, the one for every transport: connect, hand events to the state machine and
    /// deliver what it lets through, then finish, fail, or wait and connect again as it says.
    func run(_ continuation: AsyncThrowingStream<Event, any Error>.Continuation) async {
        let connector: any SubscriptionConnector
        do {
            connector = try self.makeConnector()
        } catch {
            continuation.finish(throwing: HubConnectionError(url: self.address.httpURL(""), underlying: error))
            return
        }
        await Self.run(
            connector: connector, options: self.options, continuation: continuation)
    }

    /// The loop over any connector (the unit tests drive it with a scripted one).
    static func run(
        connector: any SubscriptionConnector, options: SubscriptionOptions,
        continuation: AsyncThrowingStream<Event, any Error>.Continuation
    ) async {
        let machine = LockedStateMachine(
            StateMachine(after: options.after, maxRetries: options.reconnect ? options.maxRetries : 0))
        while !Task.isCancelled {
            let (connection, after) = machine.withLock { $0.connecting() }
            let outcome = await connector.connect(after: after) { event in
                // Called on the connection's thread, one event at a time: yielding outside the lock keeps
                // the order, as the next event of this connection waits for this call to return.
                switch machine.withLock({ $0.received(event, on: connection) }) {
                case .deliver:
                    continuation.yield(event)
                    return .keepOpen
                case .deliverAndClose:
                    continuation.yield(event)
                    return .close
                case .skip:
                    return .keepOpen
                }
            }
            switch machine.withLock({ $0.connectionEnded(outcome) }) {
            case .finish:
                continuation.finish()
                return
            case .fail(let error):
                continuation.finish(throwing: error)
                return
            case .giveUp(let cause, let attempts):
                continuation.finish(
                    throwing: HubConnectionError(url: connector.url, underlying: cause, attempts: attempts))
                return
            case .reconnect(let attempt, let cause):
                if Task.isCancelled { break }
                let delay = options.backoff(afterFailures: attempt)
                options.onReconnect?(
                    Reconnection(
                        attempt: attempt, maxRetries: options.reconnect ? options.maxRetries : 0, url: connector.url,
                        cause: cause, reason: ConnectionFailure.describe(cause), delay: delay,
                        resumeAfter: machine.withLock { $0.resumePoint }))
                try? await Task.sleep(for: delay)
            }
        }
        continuation.finish(throwing: CancellationError())
    }
}

/// The state machine, shared by the reconnect loop and the connection's thread (events arrive there).
private final class LockedStateMachine: Sendable {
    private let state: Mutex<Subscription.StateMachine>

    init(_ machine: Subscription.StateMachine) {
        self.state = Mutex(machine)
    }

    func withLock<Result>(_ body: (inout Subscription.StateMachine) -> Result) -> Result {
        self.state.withLock { body(&$0) }
    }
}
