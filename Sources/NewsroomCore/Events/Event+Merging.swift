extension Event {
    /// Merges `next` into this event if both are deltas of the same kind and index (and, for tool
    /// calls, the same call), and the merged text stays within `maxTextBytes`.
    ///
    /// The merged event keeps the later `seq` and timestamp, so a client that resumes after it misses
    /// nothing and receives nothing twice.
    /// - Returns: `true` if `next` was merged in.
    public mutating func merge(_ next: Event, maxTextBytes: Int) -> Bool {
        switch (self.payload, next.payload) {
        case (.textDelta(var a), .textDelta(let b)) where a.index == b.index:
            guard a.text.utf8.count + b.text.utf8.count <= maxTextBytes else { return false }
            a.text += b.text
            self.payload = .textDelta(a)
        case (.reasoningDelta(var a), .reasoningDelta(let b)) where a.index == b.index:
            guard a.text.utf8.count + b.text.utf8.count <= maxTextBytes else { return false }
            a.text += b.text
            self.payload = .reasoningDelta(a)
        case (.toolCallDelta(var a), .toolCallDelta(let b))
        where a.index == b.index && a.callID == b.callID && b.name == nil:
            guard a.argumentsDelta.utf8.count + b.argumentsDelta.utf8.count <= maxTextBytes else { return false }
            a.argumentsDelta += b.argumentsDelta
            self.payload = .toolCallDelta(a)
        default:
            return false
        }
        self.seq = next.seq
        self.timestamp = next.timestamp
        return true
    }

    /// Merges runs of consecutive deltas (see ``merge(_:maxTextBytes:)``) into as few events as possible.
    public static func compact(_ events: some Sequence<Event>, maxTextBytes: Int) -> [Event] {
        var result: [Event] = []
        for event in events {
            if !result.isEmpty, result[result.count - 1].merge(event, maxTextBytes: maxTextBytes) {
                continue
            }
            result.append(event)
        }
        return result
    }
}
