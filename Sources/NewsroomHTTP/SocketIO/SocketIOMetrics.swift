import CoreMetrics

/// `newsroom_socketio_sessions{transport}`: open Socket.IO sessions by transport (`polling`,
/// `websocket`); `newsroom_socketio_sessions_closed_total{reason}`: how sessions ended (`client`,
/// `ping_timeout`, `transport_closed`, `protocol_error`, `slow_consumer`, `shutdown`, …).
final class SocketIOMetrics: Sendable {
    private let polling: Meter
    private let webSocket: Meter
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.polling = Meter(label: "newsroom_socketio_sessions", dimensions: [("transport", "polling")], factory: factory)
        self.webSocket = Meter(label: "newsroom_socketio_sessions", dimensions: [("transport", "websocket")], factory: factory)
    }

    func opened(webSocket: Bool) {
        (webSocket ? self.webSocket : self.polling).increment()
    }

    func upgraded() {
        self.polling.decrement()
        self.webSocket.increment()
    }

    func closed(webSocket: Bool, reason: String) {
        (webSocket ? self.webSocket : self.polling).decrement()
        Counter(label: "newsroom_socketio_sessions_closed_total", dimensions: [("reason", reason)], factory: self.factory)
            .increment()
    }
}
