import NIOCore

/// What a ``RedisClient`` does after its connection is lost.
public struct ReconnectPolicy: Sendable, Hashable {
    enum Storage: Sendable, Hashable {
        case never
        case exponentialBackoff(initial: TimeAmount, maximum: TimeAmount, multiplier: Double, jitter: Double)
    }
    let storage: Storage

    /// Give up: the client fails every later command with the error that closed the connection.
    public static var never: ReconnectPolicy { ReconnectPolicy(storage: .never) }

    /// Try again and again, waiting `initialDelay` before the first attempt and `multiplier` times longer
    /// before each next one, up to `maximumDelay`; each wait is shortened by a random part of up to
    /// `jitter` (0…1) of it, so that many clients do not reconnect in step.
    ///
    /// - Parameters:
    ///   - initialDelay: The wait before the first attempt. Default 50 ms.
    ///   - maximumDelay: The longest wait. Default 5 s.
    ///   - multiplier: How much longer each wait is than the last. Default 2.
    ///   - jitter: The most of a wait that is randomly cut off. Default 0.2.
    public static func exponentialBackoff(
        initialDelay: TimeAmount = .milliseconds(50),
        maximumDelay: TimeAmount = .seconds(5),
        multiplier: Double = 2,
        jitter: Double = 0.2
    ) -> ReconnectPolicy {
        precondition(initialDelay.nanoseconds >= 0 && maximumDelay >= initialDelay, "delays must be ordered")
        precondition(multiplier >= 1, "the multiplier must be at least 1")
        precondition((0...1).contains(jitter), "jitter is a fraction from 0 to 1")
        return ReconnectPolicy(
            storage: .exponentialBackoff(
                initial: initialDelay,
                maximum: maximumDelay,
                multiplier: multiplier,
                jitter: jitter
            )
        )
    }

    /// The wait before attempt number `attempt` (1 for the first); `nil` if the client should not try.
    func delay(beforeAttempt attempt: Int) -> TimeAmount? {
        switch self.storage {
        case .never:
            return nil
        case .exponentialBackoff(let initial, let maximum, let multiplier, let jitter):
            let exponent = Double(max(0, min(attempt - 1, 62)))
            let nanoseconds = min(Double(initial.nanoseconds) * pow(multiplier, exponent), Double(maximum.nanoseconds))
            let cut = jitter > 0 ? Double.random(in: 0...jitter) : 0
            return .nanoseconds(Int64(nanoseconds * (1 - cut)))
        }
    }
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var remaining = Int(exponent)
    while remaining > 0 {
        result *= base
        if result > 1e18 { return result }
        remaining -= 1
    }
    return result
}
