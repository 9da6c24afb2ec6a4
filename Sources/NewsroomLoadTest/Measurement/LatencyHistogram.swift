import Histogram

/// End-to-end latencies in microseconds, in an HdrHistogram (1 µs … 10 min, 3 significant digits).
///
/// One per event loop and viewer group, recorded without locks on its loop and merged at the end;
/// it crosses process boundaries (``LoadTestRunner/Configuration/workers``) as `[value, count]` pairs of
/// the recorded buckets.
struct LatencyHistogram: Sendable, Codable {
    private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)

    init() {}

    /// Records one latency in nanoseconds (negative values, from clock steps, count as 0).
    @inline(__always)
    mutating func record(nanoseconds: Int64) {
        let micros = UInt64(max(0, nanoseconds / 1000))
        _ = self.histogram.record(min(micros, 600_000_000))
    }

    mutating func merge(_ other: LatencyHistogram) {
        self.histogram.add(other.histogram)
    }

    var count: UInt64 { self.histogram.totalCount }

    /// The value at `percentile` (0…100) in milliseconds, or 0 when empty.
    func milliseconds(atPercentile percentile: Double) -> Double {
        guard self.count > 0 else { return 0 }
        return Double(self.histogram.valueAtPercentile(percentile)) / 1000
    }

    /// The largest recorded value in milliseconds.
    var maxMilliseconds: Double { self.count > 0 ? Double(self.histogram.max) / 1000 : 0 }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        while !container.isAtEnd {
            let pair = try container.decode([UInt64].self)
            guard pair.count == 2 else { continue }
            _ = self.histogram.record(pair[0], count: pair[1])
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for bucket in self.histogram.recordedValues() where bucket.count > 0 {
            try container.encode([bucket.value, UInt64(bucket.count)])
        }
    }
}
