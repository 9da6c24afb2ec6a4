import NIOCore

/// The transport side of a subscription: where a subscriber's frames go.
///
/// Every method is called on the sink's ``eventLoop`` only, by the topic layer's delivery code. A sink
/// writes the bytes it is given as they are (they are already framed for its wire format) and reports
/// its connection's writability; when writability changes the transport calls
/// ``Subscriber/writabilityChanged()`` so a slow subscriber's queue is drained.
public protocol SubscriberSink: AnyObject {
    /// The event loop of the connection; all calls happen on it.
    var eventLoop: any EventLoop { get }

    /// Whether the connection accepts more writes without growing its outbound buffer past the
    /// high-water mark (for HTTP/2: whether the stream's flow-control window is open).
    var isWritable: Bool { get }

    /// Writes one frame without flushing.
    func write(_ frame: ByteBuffer)

    /// Flushes the writes made since the last flush (one system call for the whole batch).
    func flush()

    /// Ends the subscription on the transport: the response ends, the socket closes or the RPC finishes,
    /// as ``DisconnectReason`` says. Called at most once per subscriber.
    func close(subscriber: Subscriber, reason: DisconnectReason)
}
