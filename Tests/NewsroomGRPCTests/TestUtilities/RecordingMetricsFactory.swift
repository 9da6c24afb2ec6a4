import NewsroomProto
import CoreMetrics
import Synchronization

/// A metrics backend that keeps every value in memory, keyed by `label{dim=value,…}`.
final class RecordingMetricsFactory: MetricsFactory {
    final class Handler: CounterHandler, MeterHandler, RecorderHandler, TimerHandler, Sendable {
        let value = Mutex<Double>(0)
        func increment(by amount: Int64) { self.value.withLock { $0 += Double(amount) } }
        func reset() { self.value.withLock { $0 = 0 } }
        func set(_ value: Int64) { self.value.withLock { $0 = Double(value) } }
        func set(_ value: Double) { self.value.withLock { $0 = value } }
        func increment(by amount: Double) { self.value.withLock { $0 += amount } }
        func decrement(by amount: Double) { self.value.withLock { $0 -= amount } }
        func record(_ value: Int64) { self.value.withLock { $0 = Double(value) } }
        func record(_ value: Double) { self.value.withLock { $0 = value } }
        func recordNanoseconds(_ duration: Int64) { self.value.withLock { $0 = Double(duration) } }
    }

    private let handlers = Mutex<[String: Handler]>([:])

    /// The value of the metric `key` (`label{dim=value}`), or `nil` if it was never created.
    func value(_ key: String) -> Double? {
        self.handlers.withLock { $0[key] }?.value.withLock { $0 }
    }

    private func handler(_ label: String, _ dimensions: [(String, String)]) -> Handler {
        let key =
            dimensions.isEmpty ? label : "\(label){\(dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ","))}"
        return self.handlers.withLock { handlers in
            if let handler = handlers[key] { return handler }
            let handler = Handler()
            handlers[key] = handler
            return handler
        }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        self.handler(label, dimensions)
    }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        self.handler(label, dimensions)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        self.handler(label, dimensions)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        self.handler(label, dimensions)
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
