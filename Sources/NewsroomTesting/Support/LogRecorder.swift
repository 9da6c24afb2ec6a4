import Logging
import Synchronization

/// Every log line of a test as `level message key=value …` (metadata sorted by key), for tests that check
/// what is logged — or that nothing secret is.
public final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    public func append(_ line: String) {
        self.lines.withLock { $0.append(line) }
    }

    public var all: [String] { self.lines.withLock { $0 } }

    /// A logger whose lines land here.
    public func logger(label: String = "test", level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { _ in LogRecorderHandler(recorder: self) }
        logger.logLevel = level
        return logger
    }
}

/// The `LogHandler` behind ``LogRecorder``.
public struct LogRecorderHandler: LogHandler {
    public let recorder: LogRecorder
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(recorder: LogRecorder) {
        self.recorder = recorder
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = self.metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let pairs = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        self.recorder.append("\(event.level) \(event.message) \(pairs)")
    }
}
