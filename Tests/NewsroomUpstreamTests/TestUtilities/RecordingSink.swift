import NIOCore
import NewsroomCore
import NewsroomWire

/// A subscriber sink that keeps every frame it is given (SSE format) and how it was closed.
///
/// - Note: `@unchecked Sendable` because all its state is touched on ``eventLoop`` only: the hub calls
///   it there, and tests read it through `eventLoop.submit`.
final class RecordingSink: SubscriberSink, @unchecked Sendable {
    let eventLoop: any EventLoop
    var isWritable: Bool { true }
    private var bytes = ByteBuffer()
    /// Every frame with the time it was written.
    private var frames: [(ByteBuffer, NIODeadline)] = []
    private(set) var closeReason: DisconnectReason?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func write(_ frame: ByteBuffer) {
        self.frames.append((frame, .now()))
        var frame = frame
        self.bytes.writeBuffer(&frame)
    }

    /// When each event with a seq was written, by seq.
    func writeTimes() async throws -> [Int: NIODeadline] {
        let frames = try await self.eventLoop.submit { self.frames }.get()
        var times: [Int: NIODeadline] = [:]
        for (frame, time) in frames {
            var parser = SSEParser()
            for event in parser.parse(frame) where event.hasID {
                if let seq = event.lastEventID.flatMap({ Int($0) }) { times[seq] = time }
            }
        }
        return times
    }

    func flush() {}

    func close(subscriber: Subscriber, reason: DisconnectReason) {
        self.closeReason = reason
    }

    /// Subscribes a new sink to `topic` from the start, on one of the group's loops.
    static func subscribe(to topic: String, hub: Hub, eventLoop: any EventLoop) async throws -> RecordingSink {
        let sink = RecordingSink(eventLoop: eventLoop)
        try await eventLoop.submit {
            _ = try hub.subscribe(to: topic, after: nil, policy: nil, format: hub.format(named: "sse")!, sink: sink)
        }.get()
        return sink
    }

    /// The raw SSE bytes received so far.
    func received() async throws -> [UInt8] {
        try await self.eventLoop.submit { Array(self.bytes.readableBytesView) }.get()
    }

    /// The events received so far (parsed back from the SSE frames), without seq/topic/ts.
    func payloads() async throws -> [EventPayload] {
        let bytes = try await self.received()
        var parser = SSEParser()
        return try parser.parse(ByteBuffer(bytes: bytes)).map { try EventLines.payload(json: Array($0.data.utf8)) }
    }

    /// Waits until the hub closed the subscription (the topic ended), or `timeout`.
    /// - Returns: Whether it was closed.
    @discardableResult
    func waitForClose(timeout: TimeAmount = .seconds(10)) async throws -> Bool {
        let deadline = NIODeadline.now() + timeout
        while NIODeadline.now() < deadline {
            if try await self.eventLoop.submit({ self.closeReason != nil }).get() { return true }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        return false
    }

    /// Waits until a received event matches, or `timeout`.
    @discardableResult
    func waitFor(timeout: TimeAmount = .seconds(10), _ matches: (EventPayload) -> Bool) async throws -> Bool {
        let deadline = NIODeadline.now() + timeout
        while NIODeadline.now() < deadline {
            if try await self.payloads().contains(where: matches) { return true }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        return false
    }
}
