import NIOCore
import NewsroomCore
import NewsroomWire

/// A ``SubscriberSink`` that keeps what it is given, with a writability switch: the in-memory test
/// double of a connection.
///
/// Use it on an `EmbeddedEventLoop` for unit tests of the topic layer, or on a real loop (call it only
/// from that loop).
public final class RecordingSink: SubscriberSink, @unchecked Sendable {
    public let eventLoop: any EventLoop
    /// Flip to simulate a connection whose buffers are full; call ``Subscriber/writabilityChanged()``
    /// after setting it back to `true`.
    public var isWritable = true
    /// Every frame written, in order.
    public private(set) var frames: [ByteBuffer] = []
    /// How many frames each flush covered.
    public private(set) var flushes: [Int] = []
    /// Why the hub closed the subscription, once it did.
    public private(set) var closeReason: DisconnectReason?
    private var unflushed = 0
    /// Stop accepting writes after this many frames (turns `isWritable` off), to simulate a socket
    /// buffer filling up mid-batch.
    public var writableFrameBudget: Int?

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func write(_ frame: ByteBuffer) {
        self.eventLoop.assertInEventLoop()
        self.frames.append(frame)
        self.unflushed += 1
        if let budget = self.writableFrameBudget {
            self.writableFrameBudget = budget - 1
            if budget - 1 <= 0 { self.isWritable = false }
        }
    }

    public func flush() {
        self.flushes.append(self.unflushed)
        self.unflushed = 0
    }

    public func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.closeReason = reason
    }

    /// The frames as strings.
    public var strings: [String] { self.frames.map { String(buffer: $0) } }
}

/// A frame encoder that writes the bare event JSON: convenient for assertions.
public struct JSONFrameEncoder: FrameEncoder {
    public var name: String { "json" }
    public var transport: String { "test" }
    public init() {}
    public func encode(_ event: Event, parts: inout EncodedParts) -> ByteBuffer {
        EventJSON.shared(event, parts: &parts)
    }
}

extension RecordingSink {
    /// The frames decoded back into events (when the sink's format is ``JSONFrameEncoder``).
    public var events: [Event] {
        self.frames.map { Event.decodedForTest($0.readableBytesView) }
    }
}
