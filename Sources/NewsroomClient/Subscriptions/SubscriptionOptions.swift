/// How a client subscription connects and recovers.
public struct SubscriptionOptions: Sendable {
    /// The slow-consumer policy to ask for (`coalesce`, `drop_oldest`, `disconnect`); the hub's default when `nil`.
    public var policy: String? = nil
    /// Resume after this seq (0 or `nil`: from the start of the history).
    public var after: Int? = nil
    /// Reconnect automatically after a dropped connection, resuming after the last received seq. Default on.
    public var reconnect: Bool = true
    /// The first reconnection delay; doubled per failed attempt, with ±50 % jitter. Default 250 ms.
    public var initialBackoff: Duration = .milliseconds(250)
    /// The longest reconnection delay. Default 10 s.
    public var maxBackoff: Duration = .seconds(10)
    /// Give up after this many consecutive failed attempts (`nil`: never). Default 20.
    public var maxAttempts: Int? = 20
    /// Extra request headers (e.g. `authorization`).
    public var headers: [(String, String)] = []

    public init() {}

    /// The defaults, changed by `configure`.
    public static func defaults(configure: (inout SubscriptionOptions) -> Void) -> SubscriptionOptions {
        var options = SubscriptionOptions()
        configure(&options)
        return options
    }
}

/// Why a subscription stopped with an error.
public struct SubscriptionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The HTTP status, when the hub refused the subscription.
    public var status: Int?
    public var message: String
    public init(status: Int?, message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { self.status.map { "HTTP \($0): \(self.message)" } ?? self.message }
}
