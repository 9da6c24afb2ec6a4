import NIOCore

/// Turns an event into the bytes of one wire format, ready to be written to a connection as they are.
///
/// The hub calls the encoder of every format that has subscribers once per accepted event and keeps the
/// results with the event (``PublishedEvent``); the same `ByteBuffer` is then written to every subscriber
/// of that format, so the cost of encoding does not grow with the number of subscribers. An encoder is
/// also called, per subscriber, for the few frames that are one subscriber's own: a coalesced delta of a
/// slow subscriber, a heartbeat, a `gap`, a `resume_unavailable` notice.
///
/// Formats that frame the same body differently (the event's JSON as an SSE block, an HTTP/1.1 chunk of
/// that block, a WebSocket text frame) share it through ``EncodedParts``: it is serialized once per event.
///
/// Implementations live with the wire protocols (`NewsroomWire`); the topic layer only sees this protocol.
public protocol FrameEncoder: Sendable {
    /// A short, unique name such as `"sse-chunked"` or `"websocket"`.
    var name: String { get }

    /// The transport the format serves (`sse`, `ws`, `grpc`), used as a low-cardinality metric label.
    var transport: String { get }

    /// Encodes one event, including any framing the transport needs around it.
    /// - Parameters:
    ///   - event: The event.
    ///   - parts: Encodings of this event shared with the other formats (see ``EncodedParts``).
    func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer
}

extension FrameEncoder {
    /// Encodes one event on its own (nothing shared with other formats).
    public func encode(_ event: Event, allocator: ByteBufferAllocator) -> ByteBuffer {
        var parts = EncodedParts(allocator: allocator)
        return self.encode(event, parts: &parts)
    }
}

/// The intermediate encodings of one event, shared by all its wire formats while they are made: the
/// first format that needs, say, the event's JSON makes it, and the others reuse those bytes.
public struct EncodedParts {
    /// Where new buffers come from.
    public let allocator: ByteBufferAllocator
    // One or two entries per event: a list beats a dictionary here.
    private var parts: [(name: String, bytes: ByteBuffer)] = []

    public init(allocator: ByteBufferAllocator) {
        self.allocator = allocator
    }

    /// The part called `name`, made by `make` the first time it is asked for (`make` may itself ask for
    /// other parts).
    public mutating func part(_ name: String, make: (inout EncodedParts) -> ByteBuffer) -> ByteBuffer {
        if let existing = self.parts.first(where: { $0.name == name }) { return existing.bytes }
        let bytes = make(&self)
        self.parts.append((name, bytes))
        return bytes
    }
}

/// The handle of one registered wire format: an index into ``PublishedEvent/frames``.
public struct WireFormat: Hashable, Sendable {
    /// The position of the format's encoder in the hub's encoder list.
    public let id: Int
    public let name: String
}

/// An event the hub accepted, with its bytes for the wire formats that had subscribers. Immutable and
/// shared.
///
/// One instance exists per stored event; subscriber queues and the topic history hold references to
/// it, never copies of its bytes.
public final class PublishedEvent: Sendable {
    public let event: Event
    /// One encoded frame per registered wire format, indexed by ``WireFormat/id``; `nil` for a format
    /// that had no subscriber when the event was accepted (a subscriber of it that comes later encodes
    /// the event for itself, with ``Hub/frame(of:format:)``).
    public let frames: [ByteBuffer?]
    /// What keeping this event costs in memory: its frames plus the event itself.
    public let byteCount: Int
    /// When the hub accepted the event (monotonic), for delivery-lag measurements.
    public let acceptedAt: NIODeadline

    public init(event: Event, frames: [ByteBuffer?], acceptedAt: NIODeadline) {
        self.event = event
        self.frames = frames
        self.byteCount = frames.reduce(event.approximateSize) { $0 + ($1?.readableBytes ?? 0) }
        self.acceptedAt = acceptedAt
    }

    /// The event's sequence number; every published event has one.
    @inlinable
    public var seq: Int { self.event.seq! }
}
