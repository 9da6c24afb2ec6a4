import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Lines read from a file descriptor by a dedicated thread, handed to async code one at a time.
///
/// The worker protocol is a few lines per phase, so a blocking reader thread per pipe is simpler and
/// cheaper than anything else here, and keeps blocking reads off the concurrency pool and the event loops.
final class LineMailbox: Sendable {
    private struct State {
        var lines: [String] = []
        var waiter: CheckedContinuation<String?, Never>?
        var waiterID = 0
        var closed = false
    }

    private let state = Mutex(State())
    /// Lines for which this returns true are consumed by it instead of being queued (progress lines).
    private let intercept: @Sendable (String) -> Bool

    /// Starts a thread that reads `fd` until end of file.
    init(fd: Int32, intercept: @escaping @Sendable (String) -> Bool = { _ in false }) {
        self.intercept = intercept
        let thread = ReaderThread(fd: fd, mailbox: self)
        thread.start()
    }

    fileprivate func deliver(_ line: String) {
        if self.intercept(line) { return }
        let waiter = self.state.withLock { state -> CheckedContinuation<String?, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.lines.append(line)
            return nil
        }
        waiter?.resume(returning: line)
    }

    fileprivate func close() {
        let waiter = self.state.withLock { state -> CheckedContinuation<String?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next line, or nil at end of file or after `timeout` seconds.
    func next(timeout: Double) async -> String? {
        let id = self.state.withLock { state -> Int in
            state.waiterID += 1
            return state.waiterID
        }
        let timer = Task {
            try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
            if Task.isCancelled { return }
            let waiter = self.state.withLock { state -> CheckedContinuation<String?, Never>? in
                guard state.waiterID == id, let waiter = state.waiter else { return nil }
                state.waiter = nil
                return waiter
            }
            waiter?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ready: String?? = self.state.withLock { state in
                if !state.lines.isEmpty { return .some(state.lines.removeFirst()) }
                if state.closed { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Reads lines from a descriptor and delivers them to a mailbox.
private final class ReaderThread: Sendable {
    let fd: Int32
    let mailbox: LineMailbox

    init(fd: Int32, mailbox: LineMailbox) {
        self.fd = fd
        self.mailbox = mailbox
    }

    func start() {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { argument in
            let reader = Unmanaged<ReaderThread>.fromOpaque(argument!).takeRetainedValue()
            reader.run()
            return nil
        }, box)
        if result == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<ReaderThread>.fromOpaque(box).release()
            self.mailbox.close()
        }
    }

    private func run() {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(self.fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            pending.append(contentsOf: buffer[0..<n])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                self.mailbox.deliver(line)
            }
        }
        self.mailbox.close()
    }
}

/// Writes one line to a descriptor (whole, retrying short writes).
func writeLine(_ line: String, to fd: Int32) {
    var bytes = Array(line.utf8)
    bytes.append(UInt8(ascii: "\n"))
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0, errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
    }
}
