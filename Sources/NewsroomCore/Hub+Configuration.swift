import NIOCore

extension Hub {
    /// The topic layer's limits and timings. Every queue, history and timer is bounded by a field here.
    public struct Configuration: Sendable {
        /// How long a subscriber may receive nothing before it is sent a `heartbeat`. Default 15 s.
        public var heartbeatInterval: TimeAmount = .seconds(15)
        /// The policy for subscribers that do not ask for one. Default ``SlowConsumerPolicy/coalesce``.
        public var defaultPolicy: SlowConsumerPolicy = .coalesce
        /// A slow subscriber's queue may hold at most this many events. Default 4,096.
        public var maxQueuedEvents: Int = 4096
        /// A slow subscriber's queue may hold at most this many bytes. Default 1 MiB.
        public var maxQueuedBytes: Int = 1 << 20
        /// The most events a topic's history keeps; older ones are evicted. Default 100,000.
        public var maxHistoryEvents: Int = 100_000
        /// The most bytes a topic's history keeps (each event with its encoded frames). Default 16 MiB.
        public var maxHistoryBytes: Int = 16 << 20
        /// The most bytes all histories together keep; when exceeded, ended topics are removed oldest
        /// first, then the publishing topic's oldest events are evicted. Default 1 GiB.
        public var maxTotalHistoryBytes: Int = 1 << 30
        /// The most topics the hub holds at once. Default 100,000.
        public var maxTopics: Int = 100_000
        /// The most subscribers one topic may have. Default 100,000.
        public var maxSubscribersPerTopic: Int = 100_000
        /// How long an ended topic keeps its history for late joiners. Default 10 minutes.
        public var retention: TimeAmount = .minutes(10)
        /// How long a topic that never received an event lives with no subscriber. Default 10 minutes.
        public var idleTopicTTL: TimeAmount = .minutes(10)
        /// Whether a late joiner's replay merges consecutive deltas into fewer, larger events. Default on.
        public var compactReplay: Bool = true
        /// The largest text one merged replay or coalesced event may carry. Default 64 KiB.
        public var maxMergedTextBytes: Int = 64 << 10
        /// How often expired topics are swept. Default 1 s.
        public var sweepInterval: TimeAmount = .seconds(1)
        /// The flush window: events of a topic that arrive within it reach each subscriber as one write
        /// (one system call per subscriber per window rather than per event). A topic's end and `error`
        /// events are never delayed: they are written at once, with everything pending before them.
        /// `0` writes every event at once. A topic (``Hub/setFlushInterval(_:ofTopic:)``) and a
        /// subscriber (its `maxDelay`) may choose their own, up to ``maxFlushInterval``.
        ///
        /// Default 0 here, so an embedded hub writes every event at once; `newsroom serve` defaults to
        /// 40 ms (see its `--flush-interval`).
        public var flushInterval: TimeAmount = .zero
        /// The longest flush window a topic or a subscriber may ask for. Default 1 s.
        public var maxFlushInterval: TimeAmount = .seconds(1)
        /// How long a published batch may wait for a loop to take it before publishers are held back
        /// (``Hub/waitForFanOutCapacity(timeout:)``): the bound on hidden queueing, and so on the latency
        /// added under overload. Publishing resumes once batches arrive on time again. The flush window
        /// is not counted. Default 50 ms.
        public var maxFanOutDelay: TimeAmount = .milliseconds(50)
        /// The most deliveries (events × subscribers) a loop may have handed to it and not yet taken
        /// before publishers are held back, whatever their age: the bound when a loop is stuck. Publishing
        /// resumes when it is back under half. Default 200,000.
        public var maxFanOutBacklog: Int = 200_000

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
