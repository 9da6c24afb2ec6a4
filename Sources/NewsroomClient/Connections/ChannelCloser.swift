import NIOCore

/// Closes a connection once it is known: asked to close from an event callback, which may run before the
/// connect future's callbacks have handed over the channel.
///
/// The close happens on the next tick of the loop, never inside the callback: a handler that is parsing
/// a read when it reports an event must not see its channel go inactive in the middle of it.
final class ChannelCloser: @unchecked Sendable {
    // Touched on the connection's event loop only: the connect future completes there, and the handler's
    // callbacks run there.
    private var channel: (any Channel)?
    private var closeRequested = false

    func set(_ channel: any Channel) {
        self.channel = channel
        if self.closeRequested { Self.closeSoon(channel) }
    }

    func close() {
        guard !self.closeRequested else { return }
        self.closeRequested = true
        if let channel = self.channel { Self.closeSoon(channel) }
    }

    private static func closeSoon(_ channel: any Channel) {
        channel.eventLoop.execute { channel.close(promise: nil) }
    }
}
