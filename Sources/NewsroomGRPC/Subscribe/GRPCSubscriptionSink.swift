import NIOCore
import NewsroomCore

/// The ``SubscriberSink`` of one `Subscribe` call: a small bounded buffer between the hub's event loop
/// and the RPC's task.
///
/// A gRPC call runs as an async task (grpc-swift's design), while the hub delivers on event loops. The
/// sink bridges the two without a task or actor hop per event:
/// - On the loop, the hub writes shared frames into the buffer and flushes once per batch. A flush
///   with the RPC task waiting hands it the whole buffer and resumes it: one resumption per batch.
/// - ``isWritable`` is `false` while the buffer holds ``maxBufferedBytes`` or more, so a subscriber
///   whose RPC cannot keep up (its HTTP/2 stream's flow-control window is closed and the task is
///   suspended writing) falls back to the hub's bounded queue and its slow-consumer policy.
/// - The RPC task calls ``next()`` after each batch it wrote. On the loop (at most one hop; none when the
///   task runs on the loop, see ``EventLoopTaskExecutor``) that tells the subscriber it may write again
///   (``Subscriber/writabilityChanged()``) if the sink had said it could not, and returns the next batch,
///   or parks until there is one.
///
/// - Note: `@unchecked Sendable` because all mutable state is confined to ``eventLoop``; the RPC task
///   only schedules work on that loop and receives batches through a continuation.
final class GRPCSubscriptionSink: SubscriberSink, @unchecked Sendable {
    /// What ``next()`` returns.
    enum Next: Sendable {
        /// Frames to write, in order.
        case frames([EventFrame])
        /// The hub ended the subscription; every frame before the end has been returned.
        case closed(DisconnectReason)
        /// The RPC was cancelled (client gone, deadline, shutdown); the subscription is removed.
        case cancelled
    }

    let eventLoop: any EventLoop
    /// The buffer's limit; above it the sink reports itself not writable.
    let maxBufferedBytes: Int
    /// The subscription, once the hub created it (loop-confined).
    var subscriber: Subscriber?

    private var buffer: [EventFrame] = []
    private var bufferedBytes = 0
    private var waiter: CheckedContinuation<Next, Never>?
    private var closeReason: DisconnectReason?
    private var isCancelled = false
    /// Whether ``isWritable`` answered `false` since the last ``next()``: the subscriber then queues
    /// in the hub and must be told when the buffer has room again.
    private var reportedUnwritable = false

    init(eventLoop: any EventLoop, maxBufferedBytes: Int) {
        self.eventLoop = eventLoop
        self.maxBufferedBytes = maxBufferedBytes
    }

    // MARK: SubscriberSink (on the loop)

    var isWritable: Bool {
        if self.bufferedBytes < self.maxBufferedBytes { return true }
        self.reportedUnwritable = true
        return false
    }

    func write(_ frame: ByteBuffer) {
        guard !self.isCancelled else { return }
        self.bufferedBytes += frame.readableBytes
        self.buffer.append(EventFrame(frame))
    }

    func flush() {
        guard let waiter = self.waiter, !self.buffer.isEmpty else { return }
        self.waiter = nil
        waiter.resume(returning: .frames(self.takeBuffer()))
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.closeReason = reason
        if !reason.isNormal {
            // A slow consumer, shutdown or a removed topic: what is still buffered would only delay
            // the status; the client resumes from the last seq it received.
            self.buffer.removeAll()
            self.bufferedBytes = 0
        }
        guard let waiter = self.waiter else { return }
        self.waiter = nil
        waiter.resume(returning: self.buffer.isEmpty ? .closed(reason) : .frames(self.takeBuffer()))
    }

    // MARK: The RPC side

    /// Waits for the next batch of frames, the end of the subscription, or the cancellation of the task.
    ///
    /// Call it from the RPC task only, one call at a time, after the previous batch has been written.
    /// From a task running on ``eventLoop`` (``EventLoopTaskExecutor``) this does not hop at all.
    func next() async -> Next {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if self.eventLoop.inEventLoop {
                    self.park(continuation)
                } else {
                    self.eventLoop.execute { self.park(continuation) }
                }
            }
        } onCancel: {
            self.eventLoop.execute { self.cancel() }
        }
    }

    /// Ends the subscription from the client's side: removes the subscriber from the hub at once and
    /// wakes the RPC task. Idempotent; call on ``eventLoop``.
    func cancel() {
        self.eventLoop.assertInEventLoop()
        guard !self.isCancelled else { return }
        self.isCancelled = true
        self.buffer.removeAll()
        self.bufferedBytes = 0
        if let subscriber = self.subscriber, !subscriber.isClosed {
            subscriber.cancel()
        }
        if let waiter = self.waiter {
            self.waiter = nil
            waiter.resume(returning: .cancelled)
        }
    }

    /// Ends the subscription from the transport's side for `reason` (credentials expired): removes the
    /// subscriber from the hub and ends the call with the status of `reason`. Call on ``eventLoop``.
    func end(reason: DisconnectReason) {
        self.eventLoop.assertInEventLoop()
        guard !self.isCancelled, self.closeReason == nil else { return }
        if let subscriber = self.subscriber, !subscriber.isClosed {
            subscriber.cancel()
        }
        self.closeReason = reason
        self.buffer.removeAll()
        self.bufferedBytes = 0
        if let waiter = self.waiter {
            self.waiter = nil
            waiter.resume(returning: .closed(reason))
        }
    }

    private func park(_ continuation: CheckedContinuation<Next, Never>) {
        precondition(self.waiter == nil, "one next() at a time")
        if self.isCancelled {
            continuation.resume(returning: .cancelled)
            return
        }
        if self.reportedUnwritable, let subscriber = self.subscriber {
            // The previous batch is written: the buffer is empty, so the hub's queue may drain into it.
            self.reportedUnwritable = false
            subscriber.writabilityChanged()
        }
        if !self.buffer.isEmpty {
            continuation.resume(returning: .frames(self.takeBuffer()))
        } else if let reason = self.closeReason {
            continuation.resume(returning: .closed(reason))
        } else {
            self.waiter = continuation
        }
    }

    private func takeBuffer() -> [EventFrame] {
        let frames = self.buffer
        self.buffer = []
        self.bufferedBytes = 0
        return frames
    }
}
