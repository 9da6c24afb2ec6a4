import NIOCore
import NIOHTTP1
import NIOPosix
import NewsroomCore
import NewsroomWire

/// A topic's events over Server-Sent Events, as an `AsyncSequence` of typed ``Event``s, that
/// reconnects by itself and resumes after the last received `seq` (exponential backoff with jitter).
///
/// The sequence ends after `stream_complete` or a terminal `error`, or when the hub answers 204 (the
/// resume point is already the end). Heartbeats are delivered as events so callers can watch liveness.
///
/// ```swift
/// for try await event in SSESubscription(host: "127.0.0.1", port: 8080, topic: "demo-1") {
///     if case .textDelta(let delta) = event.payload { print(delta.text, terminator: "") }
/// }
/// ```
public struct SSESubscription: AsyncSequence, Sendable {
    public typealias Element = Event

    public let host: String
    public let port: Int
    public let topic: String
    public let options: SubscriptionOptions
    let group: any EventLoopGroup

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
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        let task = Task { await self.run(continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream.makeAsyncIterator()
    }

    private enum Outcome {
        case ended
        case failed(any Error, receivedAny: Bool)
    }

    private func run(_ continuation: AsyncThrowingStream<Event, any Error>.Continuation) async {
        let lastSeq = LastSeq(self.options.after)
        var failures = 0
        while !Task.isCancelled {
            let outcome = await self.connectOnce(after: lastSeq.value) { event in
                if let seq = event.seq { lastSeq.value = seq }
                continuation.yield(event)
            }
            switch outcome {
            case .ended:
                continuation.finish()
                return
            case .failed(let error, let receivedAny):
                if let refused = error as? SubscriptionError, let status = refused.status, status != 503 {
                    continuation.finish(throwing: refused)  // a client error will not heal by retrying
                    return
                }
                failures = receivedAny ? 1 : failures + 1
                guard self.options.reconnect, failures <= (self.options.maxAttempts ?? .max) else {
                    continuation.finish(throwing: error)
                    return
                }
                let base = self.options.initialBackoff * (1 << Swift.min(failures - 1, 16))
                let capped = Swift.min(base, self.options.maxBackoff)
                let jittered = capped * Double.random(in: 0.5...1.5)
                try? await Task.sleep(for: jittered)
            }
        }
        continuation.finish(throwing: CancellationError())
    }

    /// One connection: resolves when the response ends or the connection drops.
    private func connectOnce(after: Int?, yield: @escaping @Sendable (Event) -> Void) async -> Outcome {
        var path = "/v1/topics/\(self.topic)/events"
        if let policy = self.options.policy { path += "?policy=\(policy)" }
        let promise = self.group.any().makePromise(of: Outcome.self)
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
                yield(event)
            case .end(let error):
                if state.status == 204 || state.terminal {
                    promise.succeed(.ended)
                } else if let status = state.status, status != 200 {
                    promise.succeed(.failed(SubscriptionError(status: status, message: "the hub refused the subscription"), receivedAny: false))
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

/// The last received seq; written on the connection's loop, read by the reconnect loop after the
/// connection's outcome (which happens-after every write) is known.
private final class LastSeq: @unchecked Sendable {
    var value: Int?
    init(_ value: Int?) { self.value = value }
}

/// Per-connection state, touched only on the connection's event loop.
private final class ConnectionState: @unchecked Sendable {
    var status: Int?
    var receivedAny = false
    var terminal = false
    var errorBody: String?
}
