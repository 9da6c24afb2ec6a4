import NIOCore

/// One simulated viewer: its connection, its resume point and its sequence accounting.
///
/// Confined to the event loop of its ``LoopContext``; every reconnection of the viewer is opened on that
/// same loop, so nothing here needs a lock. The connection's ``LoadConnectionHandler`` feeds the bytes it
/// reads through an ``EventStreamDecoder`` that calls back into this object inline.
final class LoadClient: EventStreamDelegate {
    /// The viewer's connection state.
    enum State {
        /// Not connected yet (→ `connecting`).
        case idle
        /// Connecting, or waiting for the response head (→ `established`, or `ended` on failure).
        case connecting
        /// The response head said 200 and events flow (→ `connecting` after a drop, `stopped`).
        case established
        /// Failed for good or the server ended the stream with no resume to make.
        case ended
        /// Closed by the run at its end.
        case stopped
    }

    /// Why the run itself closes this viewer's connection, i.e. what to do when it is closed.
    enum CloseIntent {
        case none
        /// The reconnect storm: reconnect at once with `Last-Event-ID`.
        case storm
        /// Churn: the viewer leaves; a new one joins from the start in its place.
        case churn
        /// The end of the run.
        case stop
    }

    let index: Int
    let topic: Int
    let isSlow: Bool
    unowned(unsafe) let loop: LoopContext  // the loop context owns its viewers and outlives them

    var state = State.idle
    var intent = CloseIntent.none
    var channel: (any Channel)?
    var everEstablished = false
    /// Increases with each connection attempt; a close is handled once per attempt.
    var attempt = 0
    var closedAttempt = -1
    var tracker = SequenceTracker()
    /// The raw value of the last `id:` field (sent back as `Last-Event-ID`).
    var lastEventID: [UInt8] = []
    /// The last `id:` as a number, or -1.
    var numericID = -1
    /// The hub seq of the event being read (SSE `id:`, the WebSocket JSON's `seq`), -1 for none; consumed
    /// by its data.
    var eventSeq = -1
    /// The largest hub seq received (duplicates are judged by it, see `isFirstDelivery(ofHubSeq:)`).
    var highestHubSeq = 0
    /// Latency is recorded only for sequence numbers from here on (a mid-run joiner's replay is not live).
    var latencyFrom = 0
    /// The time of the current read (set by the handler once per read).
    var now: Int64 = 0
    /// Set when the connection should be closed after the current read (a non-200 answer).
    var wantsClose = false
    /// The last connection error, as a failure reason.
    var lastError: String?
    private var nextDataIsError = false

    // The reconnect storm, while this viewer has not recovered.
    var inStorm = false
    var stormDroppedAt: Int64 = 0
    var stormHead = 0
    /// While this viewer is not yet live again after the storm: `.max` until its new subscription is
    /// answered, then the highest sequence number any viewer on this loop had received by then — the
    /// viewer is live again (recovered) once it holds everything up to that number.
    var stormCatchUpTarget = -1
    /// When the current connection's response head arrived (wall clock, ns): events published before it
    /// reached this viewer as a replay, not live.
    var establishedAt: Int64 = 0

    /// How this viewer talks to the server.
    let transport: ViewerTransport
    /// Whether this viewer uses a WebSocket.
    var usesWebSocket: Bool { self.transport == .webSocket }

    init(index: Int, topic: Int, isSlow: Bool, transport: ViewerTransport, loop: LoopContext) {
        self.index = index
        self.topic = topic
        self.isSlow = isSlow
        self.transport = transport
        self.loop = loop
    }

    var isLive: Bool {
        switch self.state {
        case .established, .connecting: self.everEstablished
        case .idle, .ended, .stopped: false
        }
    }

    // MARK: EventStreamDelegate

    func streamHead(status: Int) {
        guard status == (self.transport == .webSocket ? 101 : 200) else {
            self.wantsClose = true
            self.lastError = status == 0 ? "bad_response" : "http_\(status)"
            if status == 204 { self.state = .ended }
            return
        }
        self.state = .established
        self.establishedAt = WallClock.nanoseconds()
        self.lastError = nil
        if !self.everEstablished {
            self.everEstablished = true
            self.loop.established += 1
        }
        if self.inStorm { self.loop.storm.resumed += 1 }
        if self.stormCatchUpTarget == .max {
            self.stormCatchUpTarget = self.loop.topicHeads[self.topic]
            self.checkStormCatchUp()
        }
    }

    /// Records this viewer as live again once it is subscribed and holds every event up to its target
    /// (at the time of the current read, as every latency here).
    @inline(__always)
    private func checkStormCatchUp() {
        guard self.stormCatchUpTarget >= 0, self.stormCatchUpTarget < .max,
            self.tracker.highest >= self.stormCatchUpTarget
        else { return }
        self.stormCatchUpTarget = -1
        self.loop.storm.recovered += 1
        self.loop.storm.recovery.record(nanoseconds: self.now &- self.stormDroppedAt)
    }

    func streamEventType(_ value: UnsafeRawBufferPointer) {
        self.nextDataIsError = value.elementsEqual("error".utf8)
    }

    func streamID(_ value: UnsafeRawBufferPointer) {
        self.lastEventID.removeAll(keepingCapacity: true)
        self.lastEventID.append(contentsOf: value)
        var number = 0
        for byte in value {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), number < Int.max / 10 else {
                self.numericID = -1
                self.eventSeq = -1
                return
            }
            number = number * 10 + Int(byte - UInt8(ascii: "0"))
        }
        self.numericID = value.isEmpty ? -1 : number
        self.eventSeq = self.numericID
    }

    func streamData(_ value: UnsafeRawBufferPointer) {
        if self.nextDataIsError {
            self.nextDataIsError = false
            if Self.contains(value, "resume_unavailable") {
                self.loop.report.notices += 1
                if self.inStorm { self.loop.storm.resumeUnavailable += 1 }
                return
            }
            // A notice without a seq (slow_consumer, server_shutdown); an error with an id is an event.
            if !Self.contains(value, "\"seq\":") {
                self.loop.report.notices += 1
                return
            }
        }
        if self.loop.shared.sequenceFromEventID {
            guard self.numericID > 0 else { return }  // heartbeats carry no id
            let sentAt = Self.timestamp(in: value)
            self.receive(sequence: self.numericID, sentAt: sentAt)
            self.numericID = -1
        } else {
            let hubSeq = self.eventSeq
            self.eventSeq = -1
            guard self.isFirstDelivery(ofHubSeq: hubSeq) else { return }
            PayloadMarker.scan(value) { sentAt, sequence in
                self.receive(sequence: sequence, sentAt: sentAt, hubSeq: hubSeq)
            }
        }
    }

    /// Duplicates are judged by the hub's seq when the event has one (the hub's own servers): an event
    /// the hub delivers twice is a duplicate; the same marker in two events is a publisher's retry.
    /// Without one (nchan), by the publisher's numbers alone.
    @inline(__always)
    private func isFirstDelivery(ofHubSeq seq: Int) -> Bool {
        guard seq > 0 else { return true }
        if seq <= self.highestHubSeq {
            self.tracker.recordRedelivery()
            return false
        }
        self.highestHubSeq = seq
        return true
    }

    func streamMessage(_ payload: UnsafeRawBufferPointer) {
        // The hub's event JSON starts with `{"seq":N,` for events that have a seq; notices have none.
        let prefix = #"{"seq":"#.utf8
        if payload.count > prefix.count, payload.starts(with: prefix) {
            var end = prefix.count
            while end < payload.count, payload[end] >= UInt8(ascii: "0"), payload[end] <= UInt8(ascii: "9") { end += 1 }
            self.streamID(UnsafeRawBufferPointer(rebasing: payload[prefix.count..<end]))
        } else if Self.contains(payload, #""type":"error""#) {
            self.nextDataIsError = true
        }
        self.streamData(payload)
    }

    func streamPing(_ payload: UnsafeRawBufferPointer) {
        guard let channel = self.channel, payload.count < 126 else { return }
        // A pong (RFC 6455 section 5.5.3), masked as every client frame must be; an all-zero key leaves
        // the payload as it is.
        var frame = channel.allocator.buffer(capacity: 6 + payload.count)
        frame.writeInteger(UInt8(0x8A))
        frame.writeInteger(UInt8(0x80 | payload.count))
        frame.writeInteger(UInt32(0))
        frame.writeBytes(payload)
        channel.writeAndFlush(frame, promise: nil)
    }

    func streamEnd() {
        // The server ended the response: the topic ended, or the server is shutting down.
        self.wantsClose = true
        if self.loop.shared.sequenceFromEventID { self.state = .ended }
    }

    /// One gRPC `Event` message: `seq` (0 for heartbeats, gaps and notices), the hub's receive time in
    /// nanoseconds since 1970, the text of a `text_delta` (where the publisher's marker is), and the code
    /// of an `error`.
    func grpcEvent(seq: Int, timestamp: Int64, text: UnsafeRawBufferPointer?, errorCode: String?) {
        if let errorCode {
            if errorCode == "resume_unavailable" {
                self.loop.report.notices += 1
                if self.inStorm { self.loop.storm.resumeUnavailable += 1 }
                return
            }
            if seq == 0 {
                self.loop.report.notices += 1
                return
            }
        }
        guard seq > 0 else { return }
        // The resume point, as for a WebSocket (`after=`): the seq's digits.
        self.lastEventID.removeAll(keepingCapacity: true)
        self.lastEventID.append(contentsOf: String(seq).utf8)
        self.numericID = seq
        if self.loop.shared.sequenceFromEventID {
            self.receive(sequence: seq, sentAt: timestamp)
        } else if let text, self.isFirstDelivery(ofHubSeq: seq) {
            PayloadMarker.scan(text) { sentAt, sequence in
                self.receive(sequence: sequence, sentAt: sentAt, hubSeq: seq)
            }
        }
    }

    @inline(__always)
    private func receive(sequence: Int, sentAt: Int64, hubSeq: Int = -1) {
        switch self.tracker.record(sequence) {
        case .new, .outOfOrder:
            self.loop.received &+= 1
            if sequence >= self.latencyFrom, sentAt > 0 {
                if self.isSlow {
                    self.loop.slowLatency.record(nanoseconds: self.now &- sentAt)
                } else {
                    self.loop.fastLatency.record(nanoseconds: self.now &- sentAt)
                    // The live fan-out during the storm: events published in the storm window after this
                    // viewer was back (its replay of what it missed is the recovery time, not live).
                    if sentAt >= self.loop.stormWindowStart, sentAt < self.loop.stormWindowEnd,
                        sentAt >= self.establishedAt
                    {
                        self.loop.storm.live.record(nanoseconds: self.now &- sentAt)
                    }
                }
            }
            if sequence > self.loop.topicHeads[self.topic] { self.loop.topicHeads[self.topic] = sequence }
            if self.inStorm, sequence > self.stormHead {
                self.inStorm = false
                self.loop.storm.firstNewEvent.record(nanoseconds: self.now &- self.stormDroppedAt)
            }
            if self.stormCatchUpTarget >= 0 { self.checkStormCatchUp() }
        case .duplicate:
            if hubSeq > 0 { self.tracker.reclassifyAsRepublished() }
        }
    }

    // MARK: Helpers

    static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
        let count = needle.utf8CodeUnitCount
        guard haystack.count >= count else { return false }
        return needle.withUTF8Buffer { needle in
            var index = 0
            while index + count <= haystack.count {
                if haystack[index] == needle[0],
                    UnsafeRawBufferPointer(rebasing: haystack[index..<(index + count)]).elementsEqual(needle)
                {
                    return true
                }
                index += 1
            }
            return false
        }
    }

    /// The hub's `"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ"` as nanoseconds since 1970, or 0.
    static func timestamp(in json: UnsafeRawBufferPointer) -> Int64 {
        let key = Array(#""ts":""#.utf8)
        var index = 0
        while index + key.count + 24 <= json.count {
            if json[index] == key[0], UnsafeRawBufferPointer(rebasing: json[index..<(index + key.count)]).elementsEqual(key) {
                return Self.rfc3339(UnsafeRawBufferPointer(rebasing: json[(index + key.count)..<(index + key.count + 24)]))
            }
            index += 1
        }
        return 0
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 bytes) as nanoseconds since 1970, or 0.
    static func rfc3339(_ text: UnsafeRawBufferPointer) -> Int64 {
        guard text.count >= 24 else { return 0 }
        func number(_ from: Int, _ length: Int) -> Int? {
            var value = 0
            for i in from..<(from + length) {
                let byte = text[i]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), let millis = number(20, 3)
        else { return 0 }
        // Days from civil (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return seconds * 1_000_000_000 + Int64(millis) * 1_000_000
    }
}
