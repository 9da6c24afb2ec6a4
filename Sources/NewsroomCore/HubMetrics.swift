import CoreMetrics
import NIOCore

/// The topic layer's metric handles, created once per hub (never per event or per subscriber).
///
/// Delivery counts are added once per batch per loop, not once per write, so recording them costs the
/// fan-out nothing per subscriber.
struct HubMetrics: Sendable {
    let published: [EventType: Counter]
    let deliveries: [Counter]
    let deliveredBytes: [Counter]
    let slowDisconnects: [Counter]
    let coalesced: Counter
    let dropped: Counter
    let heartbeats: Counter
    let deliveryLag: CoreMetrics.Timer
    let resumes: [String: Counter]
    /// Open subscriptions per wire format (labelled by its transport).
    let subscriptions: [Meter]
    /// Publishes that had to wait for the fan-out backlog to drain, and those refused when it did not.
    let publishWaits: Counter
    let publishRejections: Counter
    /// Times the fan-out fell behind its delay bound (each start of a period of held-back publishers).
    let lateFanOuts: Counter

    init(transports: [String], factory: any MetricsFactory) {
        var published: [EventType: Counter] = [:]
        for type in EventType.publishable {
            published[type] = Counter(
                label: "newsroom_events_published_total", dimensions: [("type", type.rawValue)], factory: factory)
        }
        self.published = published
        self.deliveries = transports.map {
            Counter(label: "newsroom_deliveries_total", dimensions: [("transport", $0)], factory: factory)
        }
        self.deliveredBytes = transports.map {
            Counter(label: "newsroom_delivered_bytes_total", dimensions: [("transport", $0)], factory: factory)
        }
        self.slowDisconnects = transports.map {
            Counter(label: "newsroom_slow_consumer_disconnects_total", dimensions: [("transport", $0)], factory: factory)
        }
        self.coalesced = Counter(label: "newsroom_coalesced_events_total", factory: factory)
        self.dropped = Counter(label: "newsroom_dropped_events_total", factory: factory)
        self.heartbeats = Counter(label: "newsroom_heartbeats_total", factory: factory)
        self.deliveryLag = CoreMetrics.Timer(
            label: "newsroom_delivery_lag_seconds", preferredDisplayUnit: .seconds, factory: factory)
        var resumes: [String: Counter] = [:]
        for outcome in ["full", "gap", "expired"] {
            resumes[outcome] = Counter(
                label: "newsroom_resumes_total", dimensions: [("outcome", outcome)], factory: factory)
        }
        self.resumes = resumes
        self.subscriptions = transports.map {
            Meter(label: "newsroom_subscriptions", dimensions: [("transport", $0)], factory: factory)
        }
        self.publishWaits = Counter(label: "newsroom_publish_backpressure_waits_total", factory: factory)
        self.publishRejections = Counter(label: "newsroom_publish_overload_rejections_total", factory: factory)
        self.lateFanOuts = Counter(label: "newsroom_fanout_behind_total", factory: factory)
    }

    func recordDelivery(written: [Int], bytes: [Int], lag: TimeAmount) {
        var any = false
        for format in written.indices where written[format] > 0 {
            self.deliveries[format].increment(by: written[format])
            self.deliveredBytes[format].increment(by: bytes[format])
            any = true
        }
        if any {
            self.deliveryLag.recordNanoseconds(lag.nanoseconds)
        }
    }
}
