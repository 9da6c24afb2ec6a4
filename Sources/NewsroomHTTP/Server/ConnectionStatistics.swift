import NIOCore

/// The figures of one connection, for its `connection closed` log line: one object per connection,
/// shared by its handlers and the sinks of its subscriptions.
///
/// Bytes written through the pipeline are counted by ``ConnectionIOHandler``; the pre-framed fan-out
/// bytes that SSE and WebSocket sinks write below it (HTTP/1.1) are added by those sinks, so
/// ``bytesWritten`` holds everything that went to the socket.
///
/// - Note: `@unchecked Sendable` because it is confined to the connection's event loop.
final class ConnectionStatistics: @unchecked Sendable {
    /// When the connection was accepted.
    var openedAt = NIODeadline.now()
    /// The peer's address (`[IPv4]127.0.0.1/127.0.0.1:51234`), for logs.
    var remote = "?"
    /// The client's address without the port, the key of per-address limits.
    var clientAddress = "?"
    /// `http1`, `http2` or `ws`, once known.
    var transport: String?
    /// Bytes read from the socket.
    var bytesRead = 0
    /// Bytes written to the socket.
    var bytesWritten = 0
    /// Bytes read since the last complete request head (tells a slowloris from an idle keep-alive).
    var bytesSinceLastHead = 0
    /// Events delivered to the connection's subscriptions (added as each ends).
    var eventsDelivered = 0
    /// Why the hub closed the connection; `nil` when the peer did (or it idled out).
    var closeReason: String?

    init() {}

    /// Records a subscription's deliveries when it ends.
    func subscriptionEnded(delivered: Int) {
        self.eventsDelivered += delivered
    }
}
