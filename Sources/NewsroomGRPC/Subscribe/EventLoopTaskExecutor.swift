import NIOCore

/// Runs a task's jobs on one event loop: the `Subscribe` call's pump runs where its subscription and its
/// HTTP/2 stream live.
///
/// With the subscription on the connection's loop and the pump preferring that loop, a delivered batch
/// resumes the pump on the same thread, and grpc-swift's writer (an `NIOAsyncChannel` outbound writer)
/// hands the messages to the stream channel synchronously, since it is already on the channel's loop:
/// no thread hop per batch on the way out.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: immutable; `EventLoop` is Sendable but `any EventLoop` stored in a final class needs the
    // annotation for `TaskExecutor`'s `Sendable` requirement under every compiler in use.
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
