import NIOCore
import NIOPosix
import NewsroomCore
import NewsroomWire

/// A topic's events over WebSocket (`/v1/topics/{topic}/ws`), as an `AsyncSequence` of typed
/// ``Event``s, that reconnects by itself and resumes with `?after=<last seq>`.
///
/// Each text message is one event (the same JSON as the SSE `data:`). The hub closes with 1000 after
/// the topic's end — or at once when the resume point already is the end — which ends the sequence.
/// Closes 1001 (shutdown, missed pongs), 4008 (slow consumer) and dropped connections are resumed
/// with exponential backoff and jitter (RFC 6455 section 7.2.3 asks clients to back off). Pings are
/// answered by the connection's handler.
///
/// ```swift
/// for try await event in WebSocketSubscription(host: "127.0.0.1", port: 8080, topic: "demo-1") {
///     if case .textDelta(let delta) = event.payload { print(delta.text, terminator: "") }
/// }
/// ```
///
/// - Throws: From the iterator: ``SubscriptionError`` for a refused upgrade with a client error (400),
///   or the last connection error once ``SubscriptionOptions/maxAttempts`` consecutive attempts failed.
public struct WebSocketSubscription: AsyncSequence, Sendable {
    public typealias Element = Event

    public let host: String
    public let port: Int
    public let topic: String
    public let options: SubscriptionOptions
    let group: any EventLoopGroup

    /// - Parameters:
    ///   - host: The hub's host, e.g. `127.0.0.1`.
    ///   - port: The hub's HTTP port (WebSocket shares it).
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

    private func connectOnce(after: Int?, deliver: @escaping @Sendable (Event) -> Void) async -> ConnectionOutcome {
        guard TopicName.isValid(self.topic) else {
            return .failed(SubscriptionError(status: 400, message: "invalid topic name '\(self.topic)'"), receivedAny: false)
        }
        var query: [String] = []
        if let after { query.append("after=\(after)") }
        if let policy = self.options.policy { query.append("policy=\(policy)") }
        let path = "/v1/topics/\(self.topic)/ws" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let promise = self.group.any().makePromise(of: ConnectionOutcome.self)
        let state = WebSocketConnectionState()
        let upgrade: WebSocketClient.Upgrade
        do {
            upgrade = try await WebSocketClient.connect(
                host: self.host, port: self.port, path: path, headers: self.options.headers, group: self.group
            ) { update in
                switch update {
                case .message(let text):
                    guard let event = try? EventDecoder.decodeBroadcast(Array(text.utf8)) else { return }
                    state.receivedAny = true
                    if event.payload.isTerminal { state.terminal = true }
                    deliver(event)
                case .end(let closeCode, let error):
                    if state.terminal || closeCode == 1000 {
                        promise.succeed(.ended)
                    } else {
                        let reason = error ?? WebSocketSubscriptionError(closeCode: closeCode)
                        promise.succeed(.failed(reason, receivedAny: state.receivedAny))
                    }
                }
            }
        } catch {
            promise.succeed(.failed(error, receivedAny: false))
            return (try? await promise.futureResult.get()) ?? .ended
        }
        guard case .upgraded(let channel) = upgrade else {
            if case .refused(let status) = upgrade {
                promise.succeed(
                    .failed(
                        SubscriptionError(status: status ?? 503, message: "the hub refused the WebSocket upgrade"),
                        receivedAny: false))
            }
            return (try? await promise.futureResult.get()) ?? .ended
        }
        // The hub may send the 101, the replay, its close frame and FIN in one read: the connection can
        // close before the frame handler saw it go. Settle on the close too (a promise completes once;
        // whichever comes first wins, and the resume position drops any event delivered twice).
        channel.closeFuture.whenComplete { _ in
            promise.succeed(
                state.terminal
                    ? .ended
                    : .failed(WebSocketSubscriptionError(closeCode: nil), receivedAny: state.receivedAny))
        }
        return await withTaskCancellationHandler {
            (try? await promise.futureResult.get()) ?? .ended
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// A WebSocket subscription's connection closed before the topic ended.
public struct WebSocketSubscriptionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The close code the hub sent (1001 shutdown or missed pongs, 4008 slow consumer…), or `nil` when
    /// the connection dropped without a close frame.
    public var closeCode: Int?
    public var description: String {
        self.closeCode.map { "the WebSocket closed with \($0)" } ?? "the WebSocket connection dropped"
    }
}

/// Per-connection state, touched only on the connection's event loop.
private final class WebSocketConnectionState: @unchecked Sendable {
    var receivedAny = false
    var terminal = false
}
