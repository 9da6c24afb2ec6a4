import CoreMetrics
import Synchronization

/// A metrics backend that keeps every value in memory, keyed by `label{dim=value,…}`.
final class TestMetricsFactory: MetricsFactory {
    final class Handler: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler {
        let values = Mutex<[Double]>([])
        let total = Mutex<Double>(0)

        func increment(by value: Int64) { self.total.withLock { $0 += Double(value) } }
        func increment(by value: Double) { self.total.withLock { $0 += value } }
        func decrement(by value: Double) { self.total.withLock { $0 -= value } }
        func reset() { self.total.withLock { $0 = 0 } }
        func set(_ value: Int64) { self.total.withLock { $0 = Double(value) } }
        func set(_ value: Double) { self.total.withLock { $0 = value } }
        func record(_ value: Int64) { self.values.withLock { $0.append(Double(value)) } }
        func record(_ value: Double) { self.values.withLock { $0.append(value) } }
        func recordNanoseconds(_ duration: Int64) { self.values.withLock { $0.append(Double(duration)) } }
    }

    private let handlers = Mutex<[String: Handler]>([:])

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        dimensions.isEmpty ? label : label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    private func handler(_ label: String, _ dimensions: [(String, String)]) -> Handler {
        self.handlers.withLock { handlers in
            let key = Self.key(label, dimensions)
            if let handler = handlers[key] { return handler }
            let handler = Handler()
            handlers[key] = handler
            return handler
        }
    }

    /// The counter or meter value under `key`, 0 if never made.
    func total(_ key: String) -> Double { self.handlers.withLock { $0[key] }?.total.withLock { $0 } ?? 0 }

    /// The recorded values (timers, recorders) under `key`.
    func values(_ key: String) -> [Double] { self.handlers.withLock { $0[key] }?.values.withLock { $0 } ?? [] }

    /// Every key made.
    var keys: [String] { self.handlers.withLock { Array($0.keys) } }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        self.handler(label, dimensions)
    }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
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
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
