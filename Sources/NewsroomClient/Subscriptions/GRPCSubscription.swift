import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOPosix
import NewsroomCore
import NewsroomProto
import Synchronization

/// A topic's events over the hub's gRPC port (`newsroom.v1.Newsroom/Subscribe`, grpc-swift's HTTP/2
/// client), as an `AsyncSequence` of typed ``Event``s, that reconnects by itself and resumes with
/// `after = <last seq>`.
///
/// The call ends with OK after the topic's end, which ends the sequence. `UNAVAILABLE` (shutdown, a
/// dropped connection), `RESOURCE_EXHAUSTED` (too slow), `DEADLINE_EXCEEDED` and other transient
/// statuses are resumed with exponential backoff and jitter; `INVALID_ARGUMENT`, `NOT_FOUND`,
/// `PERMISSION_DENIED`, `UNAUTHENTICATED`, `FAILED_PRECONDITION` and `UNIMPLEMENTED` end it with a
/// ``SubscriptionError`` (retrying would not heal them). An `authorization` entry of
/// ``SubscriptionOptions/headers`` is sent as call metadata.
///
/// ```swift
/// for try await event in GRPCSubscription(host: "127.0.0.1", port: 50051, topic: "demo-1") {
///     if case .textDelta(let delta) = event.payload { print(delta.text, terminator: "") }
/// }
/// ```
public struct GRPCSubscription: AsyncSequence, Sendable {
    public typealias Element = Event

    public let host: String
    public let port: Int
    public let topic: String
    public let options: SubscriptionOptions
    let group: any EventLoopGroup

    /// - Parameters:
    ///   - host: The hub's host, an IPv4 or IPv6 address or a name.
    ///   - port: The hub's gRPC port (50051 by default on the hub).
    ///   - topic: The topic to follow.
    ///   - options: Resume point, policy, reconnection, metadata.
    ///   - group: The event loops for the connections.
    public init(
        host: String, port: Int = 50051, topic: String, options: SubscriptionOptions = .init(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.host = host
        self.port = port
        self.topic = topic
        self.options = options
        self.group = group
    }

    public func makeAsyncIterator() -> AsyncThrowingStream<Event, any Error>.Iterator {
        let subscription = self
        return ResumingStream.makeStream(options: self.options) { after, deliver in
            await subscription.connectOnce(after: after, deliver: deliver)
        }.makeAsyncIterator()
    }

    private func connectOnce(after: Int?, deliver: @escaping @Sendable (Event) -> Void) async -> ConnectionOutcome {
        var request = Newsroom_V1_SubscribeRequest()
        request.topic = self.topic
        request.after = UInt64(Swift.max(0, after ?? 0))
        switch self.options.policy {
        case "coalesce"?: request.policy = .coalesce
        case "drop_oldest"?: request.policy = .dropOldest
        case "disconnect"?: request.policy = .disconnect
        case let other?:
            return .failed(SubscriptionError(status: 400, message: "unknown policy '\(other)'"), receivedAny: false)
        case nil: break
        }
        var metadata: Metadata = [:]
        for (name, value) in self.options.headers where name.lowercased() == "authorization" {
            metadata.addString(value, forKey: "authorization")
        }
        let receivedAny = ReceivedFlag()
        do {
            let target: any ResolvableTarget =
                self.host.contains(":") ? .ipv6(address: self.host, port: self.port) : .dns(host: self.host, port: self.port)
            let transport = try HTTP2ClientTransport.Posix(
                target: target, transportSecurity: .plaintext, eventLoopGroup: self.group)
            try await withGRPCClient(transport: transport) { client in
                let newsroom = Newsroom_V1_Newsroom.Client(wrapping: client)
                try await newsroom.subscribe(request, metadata: metadata) { response in
                    for try await message in response.messages {
                        receivedAny.set()
                        deliver(Event(message))
                    }
                }
            }
            return .ended
        } catch let error as RPCError {
            if let status = Self.permanentStatus(error.code) {
                return .failed(
                    SubscriptionError(status: status, message: "gRPC \(error.code): \(error.message)"),
                    receivedAny: receivedAny.value)
            }
            return .failed(error, receivedAny: receivedAny.value)
        } catch {
            return .failed(error, receivedAny: receivedAny.value)
        }
    }

    /// The HTTP status equivalent of a status that retrying will not heal, or `nil` for a transient one.
    static func permanentStatus(_ code: RPCError.Code) -> Int? {
        switch code {
        case .invalidArgument, .outOfRange: 400
        case .unauthenticated: 401
        case .permissionDenied: 403
        case .notFound: 404
        case .failedPrecondition, .alreadyExists: 409
        case .unimplemented: 501
        default: nil
        }
    }
}

/// Whether a connection delivered anything (set from the call's task, read after it).
private final class ReceivedFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { self.flag.store(true, ordering: .relaxed) }
    var value: Bool { self.flag.load(ordering: .relaxed) }
}
