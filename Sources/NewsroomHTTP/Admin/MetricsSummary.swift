import NewsroomWire

/// The figures of `GET /metrics` that the operator's console shows, read back from the Prometheus text
/// the hub renders (so the console shows exactly what a scraper sees), each summed over its labels.
///
/// Only counters and gauges the hub itself defines are read; rates (deliveries per second) are the
/// console's to compute from two snapshots.
struct MetricsSummary: Hashable, Sendable {
    /// JSON key → metric name, in the order they are written.
    static let figures: [(key: StaticString, metric: String)] = [
        ("connections", "newsroom_connections"),
        ("subscriptions", "newsroom_subscriptions"),
        ("events_published_total", "newsroom_events_published_total"),
        ("deliveries_total", "newsroom_deliveries_total"),
        ("delivered_bytes_total", "newsroom_delivered_bytes_total"),
        ("dropped_events_total", "newsroom_dropped_events_total"),
        ("coalesced_events_total", "newsroom_coalesced_events_total"),
        ("slow_consumer_disconnects_total", "newsroom_slow_consumer_disconnects_total"),
        ("publish_overload_rejections_total", "newsroom_publish_overload_rejections_total"),
    ]

    /// Sums by metric name (only the names of ``figures``; a name the text lacks is 0).
    private(set) var values: [String: Double] = [:]

    /// Reads the Prometheus text exposition format (`name{labels} value [timestamp]` lines; `#` lines
    /// are comments). Lines it cannot read are skipped.
    init(prometheusText text: String) {
        let wanted = Set(Self.figures.map(\.metric))
        for line in text.split(whereSeparator: \.isNewline) {
            guard let first = line.first, first != "#" else { continue }
            let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
            let name = String(line[..<nameEnd])
            guard wanted.contains(name) else { continue }
            // The value follows the closing brace of the labels (label values may hold spaces and braces
            // only inside quotes, which the hub's own labels never do).
            let rest = line[nameEnd...].drop { $0 != " " && $0 != "}" }.drop { $0 == "}" || $0 == " " }
            guard let valueText = rest.split(separator: " ").first, let value = Double(valueText), value.isFinite
            else { continue }
            self.values[name, default: 0] += value
        }
    }

    /// The summed value of a metric (0 when absent).
    subscript(metric: String) -> Double { self.values[metric] ?? 0 }

    /// Writes the figures as fields of the current object.
    func write(into json: inout JSONWriter) {
        for (key, metric) in Self.figures {
            let value = self[metric]
            if value.rounded() == value, abs(value) < 9e15 {
                json.field(key, Int(value))
            } else {
                json.field(key, value)
            }
        }
    }
}
