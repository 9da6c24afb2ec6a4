import NIOCore

/// A connection (or a WebSocket) that its loop's ``ConnectionKeepalive`` pings.
protocol KeepalivePinged: AnyObject {
    /// Called once per interval: send a ping, or close the connection after two unanswered ones.
    func keepaliveTick()
}

/// Pings WebSockets and HTTP/2 connections from one repeating timer per event loop (not one per
/// connection); each participant closes itself after two missed answers.
///
/// - Note: `@unchecked Sendable` because its state is confined to ``eventLoop``.
final class ConnectionKeepalive: @unchecked Sendable {
    let eventLoop: any EventLoop
    private var participants: [ObjectIdentifier: any KeepalivePinged] = [:]
    private var task: RepeatedTask?
    private let interval: TimeAmount

    init(eventLoop: any EventLoop, interval: TimeAmount) {
        self.eventLoop = eventLoop
        self.interval = interval
    }

    func register(_ participant: any KeepalivePinged) {
        self.eventLoop.assertInEventLoop()
        self.participants[ObjectIdentifier(participant)] = participant
        if self.task == nil {
            self.task = self.eventLoop.scheduleRepeatedTask(initialDelay: self.interval, delay: self.interval) {
                [weak self] _ in
                self?.tick()
            }
        }
    }

    func unregister(_ participant: any KeepalivePinged) {
        self.eventLoop.assertInEventLoop()
        self.participants[ObjectIdentifier(participant)] = nil
    }

    private func tick() {
        for participant in Array(self.participants.values) {
            participant.keepaliveTick()
        }
    }
}
