extension ControlService {
    /// The rules and limits that apply to every transport.
    public struct Configuration: Sendable {
        /// Events a token (or, without auth, a client address) may publish per second; 0 for no limit.
        /// Default 10,000, with bursts of ``publishBurst``. Over it: ``ControlError/Kind/rateLimited``.
        public var publishEventsPerSecond: Double = 10_000
        /// The burst of the publish rate limit. Default 20,000 events.
        public var publishBurst: Int = 20_000
        /// The most topics one connection (a multiplexed WebSocket, a Socket.IO session) may subscribe
        /// to at once. Default 256.
        public var maxSubscriptionsPerConnection: Int = 256
        /// Whether `GET /metrics` needs an admin token (when auth is on). Default off.
        public var metricsRequireAdmin: Bool = false

        public init() {}

        /// The defaults.
        public static var defaults: Configuration { Configuration() }

        /// The defaults, changed by `configure`.
        public static func defaults(configure: (inout Configuration) -> Void) -> Configuration {
            var configuration = Configuration()
            configure(&configuration)
            return configuration
        }
    }
}
