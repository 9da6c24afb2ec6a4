import NIOCore
import NewsroomCore
import NewsroomWire
import Synchronization

/// The ``SubscriberSink`` of one topic subscription on a Socket.IO session: the shared packets go to
/// the session's polling queue, or below the WebSocket encoder as pre-framed text frames.
///
/// It notes the seq of each event it writes (read from the packet's first bytes), so that the
/// subscription can be made again exactly where it stands when the session moves to another loop
/// (an upgrade) or is recovered.
final class SocketIOSink: SubscriberSink {
    private unowned let session: EngineIOSession
    let topic: String
    private var loop: any EventLoop
    /// The session's generation when the subscription was made; after a move this sink is stale.
    private var generation = 0
    /// The seq of the last event written; `nil` before the first.
    private(set) var lastSeq: Int?

    init(session: EngineIOSession, topic: String) {
        self.session = session
        self.topic = topic
        self.loop = session.eventLoop
    }

    /// Sets the loop of the subscription being made.
    func attach(loop: any EventLoop) {
        self.loop = loop
        self.generation = self.session.generation.load(ordering: .relaxed)
    }

    /// Whether the session is still where this subscription was made (it has not moved since).
    var isCurrent: Bool { self.session.generation.load(ordering: .relaxed) == self.generation }

    var eventLoop: any EventLoop { self.loop }
    var isWritable: Bool { self.isCurrent && self.session.isWritable }

    func write(_ frame: ByteBuffer) {
        // A subscription made just before the session moved writes nothing; it is made again after the
        // last event it did write.
        guard self.isCurrent else { return }
        if let seq = SocketIOEventEncoder.seq(in: frame) {
            self.lastSeq = seq
            self.session.socket.wrote(topic: self.topic, seq: seq)
        }
        self.session.writeEvent(frame)
    }

    func flush() {
        guard self.isCurrent else { return }
        self.session.flushEvents()
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        guard self.isCurrent else { return }
        self.session.socket.subscriptionEnded(topic: self.topic, subscriber: subscriber, reason: reason)
    }
}
