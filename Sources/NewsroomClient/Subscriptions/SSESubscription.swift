import NIOCore
import NIOHTTP1
import NIOPosix
import NewsroomCore
import NewsroomWire

/// A topic's events over Server-Sent Events, as an `AsyncSequence` of typed ``Event``s, that
/// reconnects by itself and resumes after the last received `seq` (exponential backoff with jitter).
///
/// The sequence ends after `stream_complete` or a terminal `error`, or when the hub answers 204 (the
/// resume point is already the end). Heartbeats are delivered as events so callers can watch liveness;
/// they carry no `seq` and never move the resume point. Each reconnection sends `Last-Event-ID` with the
/// last delivered `seq` (WHATWG HTML, "Server-sent events", section 9.2.4).
///
/// ```swift
/// for try await event in SSESubscription(host: "127.0.0.1", port: 8080, topic: "demo-1") {
///     if case .textDelta(let delta) = event.payload { print(delta.text, terminator: "") }
/// }
/// ```
///
/// - Throws: From the iterator: ``SubscriptionError`` when the hub refuses the subscription with a
///   client error (400: a bad topic name or policy), or the last connection error once
///   ``SubscriptionOptions/maxAttempts`` consecutive attempts failed.
public struct SSESubscription: AsyncSequence, Sendable {
    public typealias Element = Event

    public let host: String
    public let port: Int
    public let topic: String
    public let options: SubscriptionOptions
    let group: any EventLoopGroup

    /// - Parameters:
    ///   - host: The hub's host, e.g. `127.0.0.1`.
    ///   - port: The hub's HTTP port.
    ///   - topic: The topic to follow.
    ///   - options: Resume point, policy, reconnection.
    ///   - group: The event loops for the connections.
    public init(
        host: String, port: Int, topic: String, options: SubscriptionOptions = .init(),
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

    /// One connection: resolves when the response ends or the connection drops.
    private func connectOnce(after: Int?, deliver: @escaping @Sendable (Event) -> Void) async -> ConnectionOutcome {
        guard TopicName.isValid(self.topic) else {
            return .failed(SubscriptionError(status: 400, message: "invalid topic name '\(self.topic)'"), receivedAny: false)
        }
        var path = "/v1/topics/\(self.topic)/events"
        if let policy = self.options.policy { path += "?policy=\(policy)" }
        let promise = self.group.any().makePromise(of: ConnectionOutcome.self)
        let state = ConnectionState()
        let channelFuture = SSEClient.connect(
            host: self.host, port: self.port, path: path, lastEventID: after.map(String.init),
            headers: self.options.headers, group: self.group
        ) { update in
            switch update {
            case .head(let head):
                state.status = Int(head.status.code)
            case .event(let sse):
                guard state.status == 200 else {
                    state.errorBody = sse.data
                    return
                }
                guard let event = try? EventDecoder.decodeBroadcast(Array(sse.data.utf8)) else { return }
                state.receivedAny = true
                if event.payload.isTerminal { state.terminal = true }
                deliver(event)
            case .end(let error):
                if state.status == 204 || state.terminal {
                    promise.succeed(.ended)
                } else if let status = state.status, status != 200 {
                    promise.succeed(
                        .failed(SubscriptionError(status: status, message: "the hub refused the subscription"), receivedAny: false))
                } else {
                    promise.succeed(.failed(error ?? SSEClientError.connectionClosed, receivedAny: state.receivedAny))
                }
            }
        }
        channelFuture.whenFailure { promise.succeed(.failed($0, receivedAny: false)) }
        return await withTaskCancellationHandler {
            (try? await promise.futureResult.get()) ?? .ended
        } onCancel: {
            channelFuture.whenSuccess { $0.close(promise: nil) }
        }
    }
}

/// Per-connection state, touched only on the connection's event loop.
private final class ConnectionState: @unchecked Sendable {
    var status: Int?
    var receivedAny = false
    var terminal = false
    var errorBody: String?
}
