/// Per-viewer accounting of the sequence numbers received: new, duplicated or out of order, and the
/// gaps still open.
///
/// Cheap on the common path (the next number in order is one comparison and two additions); gaps are kept
/// as ranges, so memory grows with the number of holes, not with the number of events.
struct SequenceTracker: Sendable {
    /// What one received number was.
    enum Outcome: Equatable {
        /// Never seen before, and in order (larger than everything before it).
        case new
        /// Never seen before, but a larger number had arrived first (fills a gap).
        case outOfOrder
        /// Seen before (or from before where this viewer's accounting starts).
        case duplicate
    }

    /// The first number this viewer must receive (1 for a viewer that joined from the start).
    private(set) var firstExpected: Int
    /// The largest number received so far (`firstExpected - 1` before anything).
    private(set) var highest: Int
    /// Distinct numbers received.
    private(set) var unique = 0
    private(set) var duplicates = 0
    private(set) var outOfOrder = 0
    /// Numbers that arrived twice under two different hub seqs: the publisher sent them again after a lost
    /// answer (a node killed mid-request), so the hub rightly stored and delivered two events.
    private(set) var republished = 0
    private var gaps: [ClosedRange<Int>] = []

    init(firstExpected: Int = 1) {
        self.firstExpected = firstExpected
        self.highest = firstExpected - 1
    }

    @inline(__always)
    mutating func record(_ sequence: Int) -> Outcome {
        if sequence == self.highest &+ 1 {
            self.highest = sequence
            self.unique &+= 1
            return .new
        }
        if sequence > self.highest {
            self.gaps.append((self.highest + 1)...(sequence - 1))
            self.highest = sequence
            self.unique &+= 1
            return .new
        }
        if sequence >= self.firstExpected, let index = self.gaps.firstIndex(where: { $0.contains(sequence) }) {
            let gap = self.gaps[index]
            self.gaps.remove(at: index)
            if gap.lowerBound < sequence { self.gaps.append(gap.lowerBound...(sequence - 1)) }
            if sequence < gap.upperBound { self.gaps.append((sequence + 1)...gap.upperBound) }
            self.unique &+= 1
            self.outOfOrder &+= 1
            return .outOfOrder
        }
        self.duplicates &+= 1
        return .duplicate
    }

    /// The number just recorded as a duplicate arrived in an event the hub had not delivered before (a new
    /// hub seq): it was published twice, not delivered twice.
    mutating func reclassifyAsRepublished() {
        self.duplicates &-= 1
        self.republished &+= 1
    }

    /// The hub delivered an event (by its seq) a second time: a duplicate whatever its numbers.
    mutating func recordRedelivery() {
        self.duplicates &+= 1
    }

    /// Events this viewer should have received up to `last` (inclusive) but did not.
    func lost(through last: Int) -> Int {
        max(0, self.expected(through: last) - self.unique)
    }

    /// Events this viewer should receive up to `last` (inclusive).
    func expected(through last: Int) -> Int {
        max(0, last - self.firstExpected + 1)
    }
}
