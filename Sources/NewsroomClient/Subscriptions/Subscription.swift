import NIOCore
import NIOPosix
import NewsroomCore

/// A topic's events over the transport of your choice, as an `AsyncSequence` of typed ``Event``s that
/// reconnects by itself and resumes after the last received `seq`.
///
/// ```swift
/// let answer = Subscription(host: "127.0.0.1", port: 8080, topic: "chat:42", transport: .webSocket)
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
/// number of reconnections; it ends after the topic's end. See ``SSESubscription``,
/// ``WebSocketSubscription`` and ``GRPCSubscription`` for each transport's details.
public struct Subscription: AsyncSequence, Sendable {
    public typealias Element = Event

    /// A client-facing protocol to subscribe with.
    public struct Transport: Hashable, Sendable, CustomStringConvertible {
        enum Kind: Hashable, Sendable {
            case sse
            case webSocket
            case grpc(port: Int)
        }
        let kind: Kind

        /// Server-Sent Events: `GET /v1/topics/{topic}/events`, resuming with `Last-Event-ID`.
        public static let sse = Transport(kind: .sse)
        /// WebSocket: `GET /v1/topics/{topic}/ws`, resuming with `?after=`.
        public static let webSocket = Transport(kind: .webSocket)
        /// gRPC on the hub's gRPC port (default 50051), resuming with `after`; see ``GRPCSubscription``.
        public static func grpc(port: Int = 50051) -> Transport { Transport(kind: .grpc(port: port)) }

        public var description: String {
            switch self.kind {
            case .sse: "sse"
            case .webSocket: "websocket"
            case .grpc: "grpc"
            }
        }
    }

    public let host: String
    public let port: Int
    public let topic: String
    public let transport: Transport
    public let options: SubscriptionOptions
    let group: any EventLoopGroup

    /// - Parameters:
    ///   - host: The hub's host, e.g. `127.0.0.1`.
    ///   - port: The hub's HTTP port (``Transport/grpc(port:)`` names the gRPC port).
    ///   - topic: The topic to follow.
    ///   - transport: ``Transport/sse`` (default), ``Transport/webSocket`` or ``Transport/grpc(port:)``.
    ///   - options: Resume point, policy, reconnection.
    ///   - group: The event loops for the connections.
    public init(
        host: String, port: Int, topic: String, transport: Transport = .sse, options: SubscriptionOptions = .init(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.host = host
        self.port = port
        self.topic = topic
        self.transport = transport
        self.options = options
        self.group = group
    }

    public func makeAsyncIterator() -> AsyncThrowingStream<Event, any Error>.Iterator {
        switch self.transport.kind {
        case .sse:
            SSESubscription(host: self.host, port: self.port, topic: self.topic, options: self.options, group: self.group)
                .makeAsyncIterator()
        case .webSocket:
            WebSocketSubscription(
                host: self.host, port: self.port, topic: self.topic, options: self.options, group: self.group
            ).makeAsyncIterator()
        case .grpc(let port):
            GRPCSubscription(host: self.host, port: port, topic: self.topic, options: self.options, group: self.group)
                .makeAsyncIterator()
        }
    }
}
