import CoreMetrics
import Synchronization

/// The control layer's metric handles: refusals by reason and by limit, whatever the transport.
///
/// Handles are created once per label value and cached (the sets are small and fixed), never per request.
final class ControlMetrics: Sendable {
    private let counters = Mutex<[String: Counter]>([:])
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// `newsroom_auth_failures_total{reason}`: a missing, invalid, expired or insufficient token.
    func authFailed(_ reason: String) {
        self.counter("newsroom_auth_failures_total", "reason", reason).increment()
    }

    /// `newsroom_limit_rejections_total{limit}`: a request refused by a limit.
    func limitRejected(_ limit: String) {
        self.counter("newsroom_limit_rejections_total", "limit", limit).increment()
    }

    private func counter(_ label: String, _ dimension: String, _ value: String) -> Counter {
        self.counters.withLock { counters in
            let key = "\(label) \(value)"
            if let counter = counters[key] { return counter }
            let counter = Counter(label: label, dimensions: [(dimension, value)], factory: self.factory)
            counters[key] = counter
            return counter
        }
    }
}
