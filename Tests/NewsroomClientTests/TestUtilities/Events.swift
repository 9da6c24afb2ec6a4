import NewsroomCore

/// A stored text delta with this seq.
func event(_ seq: Int, _ text: String = "x") -> Event {
    Event(seq: seq, topic: "t", timestamp: .now(), payload: .textDelta(TextDelta(text: text)))
}

/// `stream_complete` with this seq.
func endEvent(_ seq: Int) -> Event {
    Event(seq: seq, topic: "t", timestamp: .now(), payload: end)
}

/// A notice: an `error` event without a seq.
func notice(_ code: String, retryable: Bool) -> Event {
    Event(
        seq: nil, topic: "t", timestamp: .now(),
        payload: .error(StreamError(code: code, message: "m", retryable: retryable)))
}

let heartbeat = Event(
    seq: nil, topic: "t", timestamp: .now(), payload: .heartbeat(Heartbeat(lastSeq: 9, state: .streaming)))
