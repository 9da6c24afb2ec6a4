import NIOCore
import Synchronization

/// Token buckets per key (a token's subject, or a client address): `rate` per second, up to `burst`.
///
/// Hand-written because it is a dozen lines over a dictionary; the map is bounded by forgetting full
/// buckets (a key that has not published for `burst / rate` seconds is indistinguishable from a new one).
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: NIODeadline
    }
    private let buckets = Mutex<[String: Bucket]>([:])
    let rate: Double
    let burst: Double
    private let maxKeys: Int

    init(rate: Double, burst: Int, maxKeys: Int = 100_000) {
        self.rate = rate
        self.burst = Double(max(burst, 1))
        self.maxKeys = maxKeys
    }

    var isEnabled: Bool { self.rate > 0 }

    /// Takes `count` tokens for `key`; returns `nil` if allowed, or how long to wait.
    func take(_ count: Int, key: String, now: NIODeadline = .now()) -> TimeAmount? {
        guard self.isEnabled else { return nil }
        return self.buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: self.burst, updated: now)
            let elapsed = Double((now - bucket.updated).nanoseconds) / 1e9
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            let needed = Double(count)
            guard bucket.tokens >= needed else {
                buckets[key] = bucket
                let wait = (min(needed, self.burst) - bucket.tokens) / self.rate
                return .nanoseconds(Int64(wait * 1e9))
            }
            bucket.tokens -= needed
            buckets[key] = bucket
            if buckets.count > self.maxKeys {
                let full = buckets.filter { $0.value.tokens >= self.burst - 1 }.map(\.key)
                for key in full.prefix(self.maxKeys / 2) { buckets[key] = nil }
            }
            return nil
        }
    }
}
