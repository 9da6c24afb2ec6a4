extension LoadTestResult {
    /// The result as one JSON object (`--json`).
    ///
    /// Always has the keys `established`, `failed`, `published`, `expected`, `received`, `lost`,
    /// `duplicated`, `out_of_order`, `deliveries_per_s`, `p50_ms`, `p90_ms`, `p99_ms`, `p999_ms`, `max_ms`;
    /// with a server pid also `server_cpu_s`, `server_cpu_us_per_delivery` (and its `server_user_cpu_us_per_delivery`
    /// and `server_sys_cpu_us_per_delivery` parts), `server_rss_before_bytes`,
    /// `server_rss_idle_bytes`, `server_rss_per_connection_bytes`, `server_peak_rss_bytes`. `fast` and
    /// `slow` (objects with the same counts and latencies) appear with slow viewers, `storm` with the
    /// reconnect storm, `churn_left`/`churn_joined` with churn.
    public var json: String {
        var object = JSONObjectWriter()
        object.add("server", self.server)
        object.add("transport", self.transport)
        object.add("clients", self.clients)
        object.add("topics", self.topics)
        object.add("rate", self.rate)
        object.add("payload_bytes", self.payloadBytes)
        object.add("duration_s", self.duration)
        object.add("workers", self.workers)
        if let provider = self.generationProvider { object.add("generation", provider) }
        object.add("attempted", self.attempted)
        object.add("established", self.established)
        object.add("failed", self.failed)
        var failures = JSONObjectWriter()
        for (reason, count) in self.failures.sorted(by: { $0.key < $1.key }) { failures.add(reason, count) }
        object.addRaw("failures", failures.text)
        object.add("published", self.published)
        object.add("published_per_s", self.publishedPerSecond)
        object.add("publish_errors", self.publishErrors)
        object.add("expected", self.expected)
        object.add("received", self.received)
        object.add("lost", self.lost)
        object.add("duplicated", self.duplicated)
        object.add("out_of_order", self.outOfOrder)
        object.add("republished", self.republished)
        object.add("deliveries_per_s", self.deliveriesPerSecond)
        Self.addLatency(self.latency, to: &object)
        if let slow = self.slow {
            object.addRaw("fast", Self.group(self.fast))
            object.addRaw("slow", Self.group(slow))
        }
        object.add("catch_up_ms", self.catchUpMilliseconds)
        object.add("drops", self.drops)
        object.add("reconnects", self.reconnects)
        object.add("notices", self.notices)
        if let storm = self.storm {
            var s = JSONObjectWriter()
            s.add("dropped", storm.dropped)
            s.add("resumed", storm.resumed)
            s.add("resume_unavailable", storm.resumeUnavailable)
            s.add("recovered", storm.recovered)
            s.add("recover_p50_ms", storm.recoverP50Milliseconds)
            s.add("recover_max_ms", storm.recoverMaxMilliseconds)
            s.add("first_new_event_p50_ms", storm.firstNewEventP50Milliseconds)
            s.add("first_new_event_max_ms", storm.firstNewEventMaxMilliseconds)
            s.add("live_deliveries", storm.liveDeliveries)
            s.add("live_p50_ms", storm.liveP50Milliseconds)
            s.add("live_p99_ms", storm.liveP99Milliseconds)
            s.add("live_max_ms", storm.liveMaxMilliseconds)
            object.addRaw("storm", s.text)
        }
        if let left = self.churnLeft { object.add("churn_left", left) }
        if let joined = self.churnJoined { object.add("churn_joined", joined) }
        object.add("measured_s", self.measuredSeconds)
        object.add("loadtester_cpu_s", self.loadTesterCPUSeconds)
        if let server = self.serverUsage {
            object.add("server_cpu_s", server.cpuSeconds)
            object.add("server_cpu_us_per_delivery", server.cpuMicrosecondsPerDelivery)
            object.add("server_user_cpu_us_per_delivery", server.userMicrosecondsPerDelivery)
            object.add("server_sys_cpu_us_per_delivery", server.systemMicrosecondsPerDelivery)
            object.add("server_rss_before_bytes", server.rssBeforeBytes)
            object.add("server_rss_idle_bytes", server.rssIdleBytes)
            object.add("server_rss_per_connection_bytes", server.rssPerConnectionBytes)
            object.add("server_peak_rss_bytes", server.peakRSSBytes)
        }
        return object.text
    }

    private static func addLatency(_ latency: Latency, to object: inout JSONObjectWriter) {
        object.add("p50_ms", latency.p50)
        object.add("p90_ms", latency.p90)
        object.add("p99_ms", latency.p99)
        object.add("p999_ms", latency.p999)
        object.add("max_ms", latency.max)
    }

    private static func group(_ group: Group) -> String {
        var object = JSONObjectWriter()
        object.add("clients", group.clients)
        object.add("expected", group.expected)
        object.add("received", group.received)
        object.add("lost", group.lost)
        object.add("duplicated", group.duplicated)
        object.add("out_of_order", group.outOfOrder)
        Self.addLatency(group.latency, to: &object)
        return object.text
    }

    /// A human summary, several lines.
    public var summary: String {
        var lines: [String] = []
        let load =
            self.generationProvider.map { "one \($0) generation per topic" }
            ?? "\(Self.format(self.rate)) ev/s per topic · \(self.payloadBytes) B · \(Self.format(self.duration)) s"
        lines.append(
            "\(self.server) · \(self.transport) · \(self.clients) clients on \(self.topics) topic(s) · \(load)"
                + (self.workers > 0 ? " · \(self.workers) workers" : ""))
        var connections = "connections: \(self.established)/\(self.attempted) established, \(self.failed) failed"
        if !self.failures.isEmpty {
            connections += " (" + self.failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + ")"
        }
        lines.append(connections)
        lines.append(
            "published: \(self.published) events (\(Self.format(self.publishedPerSecond)) ev/s achieved"
                + (self.publishErrors > 0 ? ", \(self.publishErrors) rejected" : "") + ")")
        lines.append(
            "deliveries: \(self.received)/\(self.expected) received, \(self.lost) lost, \(self.duplicated) duplicated, "
                + "\(self.outOfOrder) out of order · \(Self.format(self.deliveriesPerSecond)) deliveries/s")
        lines.append("latency (all):  " + Self.describe(self.latency))
        if let slow = self.slow {
            lines.append(
                "latency (fast): " + Self.describe(self.fast.latency) + " · \(self.fast.clients) clients, "
                    + "\(self.fast.lost) lost")
            lines.append(
                "latency (slow): " + Self.describe(slow.latency) + " · \(slow.clients) clients, "
                    + "\(slow.received)/\(slow.expected) received")
        }
        lines.append(
            "catch-up after the last publish: "
                + (self.catchUpMilliseconds.map { "\(Self.format($0)) ms" } ?? "not within the drain")
                + " · drops \(self.drops), reconnects \(self.reconnects), notices \(self.notices)")
        if let storm = self.storm {
            lines.append(
                "reconnect storm: \(storm.dropped) dropped, \(storm.resumed) resumed, "
                    + "\(storm.resumeUnavailable) resume_unavailable, \(storm.recovered) back live · recovery p50 "
                    + "\(Self.format(storm.recoverP50Milliseconds)) ms, max \(Self.format(storm.recoverMaxMilliseconds)) ms"
                    + " (first event published after the drop: p50 \(Self.format(storm.firstNewEventP50Milliseconds)) ms, max "
                    + "\(Self.format(storm.firstNewEventMaxMilliseconds)) ms)"
                    + " · live during the storm (\(storm.liveDeliveries) deliveries published in the 5 s after the drop "
                    + "to viewers already back): p50 \(Self.format(storm.liveP50Milliseconds)) ms, p99 "
                    + "\(Self.format(storm.liveP99Milliseconds)) ms, max \(Self.format(storm.liveMaxMilliseconds)) ms")
        }
        if let left = self.churnLeft, let joined = self.churnJoined {
            lines.append("churn: \(left) left, \(joined) joined")
        }
        if let server = self.serverUsage {
            lines.append(
                "server: \(Self.format(server.cpuSeconds)) CPU s, \(Self.format(server.cpuMicrosecondsPerDelivery)) µs "
                    + "CPU per delivery (user \(Self.format(server.userMicrosecondsPerDelivery)), system "
                    + "\(Self.format(server.systemMicrosecondsPerDelivery))) · RSS \(server.rssBeforeBytes / 1024) KiB before, \(server.rssIdleBytes / 1024) "
                    + "KiB idle with the clients (\(Self.format(server.rssPerConnectionBytes)) B per connection), "
                    + "peak \(server.peakRSSBytes / 1024) KiB")
        }
        lines.append(
            "load tester: \(Self.format(self.loadTesterCPUSeconds)) CPU s over \(Self.format(self.measuredSeconds)) s measured")
        return lines.joined(separator: "\n")
    }

    private static func describe(_ latency: Latency) -> String {
        "p50 \(Self.format(latency.p50)) ms · p90 \(Self.format(latency.p90)) · p99 \(Self.format(latency.p99)) · "
            + "p99.9 \(Self.format(latency.p999)) · max \(Self.format(latency.max))"
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        if abs(value) >= 100 { return String(Int(value.rounded())) }
        let scaled = (value * 100).rounded() / 100
        return String(scaled)
    }
}

/// Writes one flat JSON object, keys in insertion order.
struct JSONObjectWriter {
    private var fields: [String] = []

    mutating func add(_ key: String, _ value: Int) { self.fields.append("\(Self.quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Double) { self.fields.append("\(Self.quote(key)):\(Self.number(value))") }
    mutating func add(_ key: String, _ value: Double?) {
        self.fields.append("\(Self.quote(key)):\(value.map(Self.number) ?? "null")")
    }
    mutating func add(_ key: String, _ value: String) { self.fields.append("\(Self.quote(key)):\(Self.quote(value))") }
    mutating func addRaw(_ key: String, _ json: String) { self.fields.append("\(Self.quote(key)):\(json)") }

    var text: String { "{" + self.fields.joined(separator: ",") + "}" }

    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String((value * 1000).rounded() / 1000)
    }

    static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
