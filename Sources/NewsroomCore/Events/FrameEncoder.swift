import NIOCore

/// Turns an event into the bytes of one wire format, ready to be written to a connection as they are.
///
/// The hub calls every registered encoder once per accepted event and keeps the results with the event
/// (``PublishedEvent``); the same `ByteBuffer` is then written to every subscriber of that format, so
/// the cost of encoding does not grow with the number of subscribers. An encoder is also called, per
/// subscriber, for the few frames that are one subscriber's own: a coalesced delta of a slow subscriber,
/// a heartbeat, a `gap`, a `resume_unavailable` notice.
///
/// Implementations live with the wire protocols (`NewsroomWire`); the topic layer only sees this protocol.
public protocol FrameEncoder: Sendable {
    /// A short, unique name such as `"sse-chunked"` or `"websocket"`.
    var name: String { get }

    /// The transport the format serves (`sse`, `ws`, `grpc`), used as a low-cardinality metric label.
    var transport: String { get }

    /// Encodes one event, including any framing the transport needs around it.
    func encode(_ event: Event, allocator: ByteBufferAllocator) -> ByteBuffer
}

/// The handle of one registered wire format: an index into ``PublishedEvent/frames``.
public struct WireFormat: Hashable, Sendable {
    /// The position of the format's encoder in the hub's encoder list.
    public let id: Int
    public let name: String
}

/// An event the hub accepted, with its bytes for every wire format. Immutable and shared.
///
/// One instance exists per stored event; subscriber queues and the topic history hold references to
/// it, never copies of its bytes.
public final class PublishedEvent: Sendable {
    public let event: Event
    /// One encoded frame per registered wire format, indexed by ``WireFormat/id``.
    public let frames: [ByteBuffer]
    /// The sum of the frames' sizes: what keeping this event costs in memory.
    public let byteCount: Int
    /// When the hub accepted the event (monotonic), for delivery-lag measurements.
    public let acceptedAt: NIODeadline

    public init(event: Event, frames: [ByteBuffer], acceptedAt: NIODeadline) {
        self.event = event
        self.frames = frames
        self.byteCount = frames.reduce(0) { $0 + $1.readableBytes }
        self.acceptedAt = acceptedAt
    }

    /// The event's sequence number; every published event has one.
    @inlinable
    public var seq: Int { self.event.seq! }
}
