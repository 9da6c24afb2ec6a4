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
    /// Give up once this many reconnection attempts in a row have failed (`nil`: never). Default 20.
    ///
    /// A connection that delivered anything (an event, a heartbeat) starts the count again, so a
    /// subscription that runs for hours survives any number of separate drops. With 2, a hub that is
    /// down is tried three times: the first connection and two retries.
    public var maxRetries: Int? = 20
    /// Extra request headers (e.g. `authorization`); over gRPC, `authorization` is sent as call metadata.
    public var headers: [(String, String)] = []
    /// Connect with TLS, checking the hub's certificate this way; `nil` (the default) for cleartext.
    /// ``Subscription/init(url:topic:transport:options:group:)`` turns it on for `https://` and `wss://`
    /// URLs (with ``ClientTLS/systemTrustStore`` unless set here). gRPC uses it too: the hub serves its
    /// gRPC port with the HTTP port's certificate.
    public var tls: ClientTLS? = nil
    /// Called before each reconnection, with the attempt number, the URL, the cause and the wait: for
    /// progress output (`newsroom subscribe` prints it) or logs. Called from the subscription's task;
    /// keep it short.
    public var onReconnect: (@Sendable (Reconnection) -> Void)? = nil

    /// The former name of ``maxRetries``.
    @available(*, deprecated, renamed: "maxRetries")
    public var maxAttempts: Int? {
        get { self.maxRetries }
        set { self.maxRetries = newValue }
    }

    public init() {}

    /// The defaults, changed by `configure`.
    public static func defaults(configure: (inout SubscriptionOptions) -> Void) -> SubscriptionOptions {
        var options = SubscriptionOptions()
        configure(&options)
        return options
    }

    /// The wait before reconnection attempt number `failures` (1 for the first): ``initialBackoff``
    /// doubled per consecutive failure, capped at ``maxBackoff``, then scaled by a random factor in
    /// 0.5…1.5 so that many clients dropped at once do not come back at once.
    public func backoff(
        afterFailures failures: Int, using random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }
    ) -> Duration {
        let base = self.initialBackoff * (1 << Swift.min(Swift.max(failures, 1) - 1, 16))
        return Swift.min(base, self.maxBackoff) * random(0.5...1.5)
    }
}

/// A subscription is about to reconnect (``SubscriptionOptions/onReconnect``).
public struct Reconnection: Sendable, CustomStringConvertible {
    /// Which retry this is since the last connection that delivered anything: 1, 2, …
    public var attempt: Int
    /// The most retries allowed (``SubscriptionOptions/maxRetries``); `nil` for no limit.
    public var maxRetries: Int?
    /// The URL of the connection that failed or ended, and that is tried again.
    public var url: String
    /// Why the last connection ended: a connection error, a ``WebSocketSubscriptionError``, or a
    /// ``SubscriptionError`` holding the hub's retryable notice (`server_shutdown`, `slow_consumer`…).
    public var cause: any Error
    /// ``cause`` in a few words (`connection refused`, `server_shutdown: the server is shutting down…`).
    public var reason: String
    /// The wait before the attempt.
    public var delay: Duration
    /// The seq the attempt resumes after (`nil`: from the start of the history).
    public var resumeAfter: Int?

    /// `http://…/events: connection refused; retry 1 of 2 in 0.31 s, resuming after seq 2`.
    public var description: String {
        let (seconds, attoseconds) = self.delay.components
        let hundredths = Int((Double(seconds) * 100 + Double(attoseconds) / 1e16).rounded())
        let fraction = hundredths % 100 < 10 ? "0\(hundredths % 100)" : "\(hundredths % 100)"
        let retry = self.maxRetries.map { "retry \(self.attempt) of \($0)" } ?? "retry \(self.attempt)"
        let resume = self.resumeAfter.map { ", resuming after seq \($0)" } ?? ""
        return "\(self.url): \(self.reason); \(retry) in \(hundredths / 100).\(fraction) s\(resume)"
    }
}
