import NIOCore

/// Sends WebSocket pings from one repeating timer per event loop (not one per connection), and closes
/// sockets that missed two pongs in a row.
///
/// - Note: `@unchecked Sendable` because its state is confined to ``eventLoop``.
final class WebSocketKeepalive: @unchecked Sendable {
    let eventLoop: any EventLoop
    private var sockets: [ObjectIdentifier: WebSocketHandler] = [:]
    private var task: RepeatedTask?
    private let interval: TimeAmount

    init(eventLoop: any EventLoop, interval: TimeAmount) {
        self.eventLoop = eventLoop
        self.interval = interval
    }

    func register(_ handler: WebSocketHandler) {
        self.eventLoop.assertInEventLoop()
        self.sockets[ObjectIdentifier(handler)] = handler
        if self.task == nil {
            self.task = self.eventLoop.scheduleRepeatedTask(initialDelay: self.interval, delay: self.interval) {
                [weak self] _ in
                self?.tick()
            }
        }
    }

    func unregister(_ handler: WebSocketHandler) {
        self.eventLoop.assertInEventLoop()
        self.sockets[ObjectIdentifier(handler)] = nil
    }

    private func tick() {
        for handler in Array(self.sockets.values) {
            handler.keepaliveTick()
        }
    }
}
