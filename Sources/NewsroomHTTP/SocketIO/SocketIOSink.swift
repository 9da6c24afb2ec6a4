import NIOCore
import NewsroomCore
import NewsroomWire

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
    }

    var eventLoop: any EventLoop { self.loop }
    var isWritable: Bool { self.session.isWritable }

    func write(_ frame: ByteBuffer) {
        if let seq = SocketIOEventEncoder.seq(in: frame) {
            self.lastSeq = seq
            self.session.socket.wrote(topic: self.topic, seq: seq)
        }
        self.session.writeEvent(frame)
    }

    func flush() {
        self.session.flushEvents()
    }

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.session.socket.subscriptionEnded(topic: self.topic, subscriber: subscriber, reason: reason)
    }
}
