import CoreMetrics
import NIOHTTP1
import Synchronization

/// The listener's metric handles: open connections per transport and requests per route and status.
///
/// Handles are created once per label set and cached (the route and status sets are small and fixed),
/// never per request.
final class HTTPMetrics: Sendable {
    /// `http1`, `http2`, `ws` or `socketio` (a Socket.IO WebSocket).
    let connections: [String: Meter]
    private let requests = Mutex<[String: Counter]>([:])
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
        var connections: [String: Meter] = [:]
        for transport in ["http1", "http2", "ws", "socketio"] {
            connections[transport] = Meter(
                label: "newsroom_connections", dimensions: [("transport", transport)], factory: factory)
        }
        self.connections = connections
    }

    /// `newsroom_grpc_calls_total{method,code}`: a finished gRPC or gRPC-Web call.
    func grpcCall(method: String, code: String) {
        let key = "grpc \(method) \(code)"
        let counter = self.requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "newsroom_grpc_calls_total", dimensions: [("method", method), ("code", code)], factory: self.factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    func request(route: String, status: HTTPResponseStatus) {
        let key = "\(route) \(status.code)"
        let counter = self.requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "newsroom_http_requests_total", dimensions: [("route", route), ("status", String(status.code))],
                factory: self.factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }
}
