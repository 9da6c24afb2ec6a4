import Foundation
import Testing

@testable import NewsroomLoadTest

@Suite struct PayloadMarkerTests {
    @Test func textIsPaddedToTheSizeAndScansBack() {
        let text = PayloadMarker.text(sentAt: 1_700_000_000_123_456_789, sequence: 42, size: 100)
        #expect(text.utf8.count == 100)
        var found: [(Int64, Int)] = []
        Array(text.utf8).withUnsafeBytes { bytes in PayloadMarker.scan(bytes) { found.append(($0, $1)) } }
        #expect(found.count == 1)
        #expect(found.first?.0 == 1_700_000_000_123_456_789)
        #expect(found.first?.1 == 42)
    }

    @Test func markerLongerThanThePayloadIsKeptWhole() {
        let text = PayloadMarker.text(sentAt: 5, sequence: 1, size: 2)
        #expect(text == "t=5;s=1;")
    }

    @Test func everyMarkerOfACoalescedEventInHubJSONIsFound() {
        let first = PayloadMarker.text(sentAt: 11, sequence: 7, size: 30)
        let second = PayloadMarker.text(sentAt: 12, sequence: 8, size: 30)
        let json = #"{"seq":8,"type":"text_delta","topic":"lt-x:1","ts":"2026-11-25T13:38:28.140Z","text":""#
            + first + second + #"","index":0}"#
        var found: [Int] = []
        Array(json.utf8).withUnsafeBytes { bytes in PayloadMarker.scan(bytes) { found.append($1) } }
        #expect(found == [7, 8])
    }

    @Test func brokenMarkersAreIgnored() {
        for text in ["t=;s=1;", "t=12;s=;", "t=12;x=3;", "t=12;s=3", "=t=1;s=2", "abc"] {
            var count = 0
            Array(text.utf8).withUnsafeBytes { bytes in PayloadMarker.scan(bytes) { _, _ in count += 1 } }
            #expect(count == 0, "\(text)")
        }
    }
}

@Suite struct SequenceTrackerTests {
    @Test func inOrderDuplicateAndOutOfOrder() {
        var tracker = SequenceTracker()
        #expect(tracker.record(1) == .new)
        #expect(tracker.record(2) == .new)
        #expect(tracker.record(5) == .new)  // 3 and 4 missing
        #expect(tracker.record(2) == .duplicate)
        #expect(tracker.record(4) == .outOfOrder)
        #expect(tracker.record(4) == .duplicate)
        #expect(tracker.unique == 4)
        #expect(tracker.duplicates == 2)
        #expect(tracker.outOfOrder == 1)
        #expect(tracker.lost(through: 5) == 1)  // 3
        #expect(tracker.lost(through: 7) == 3)  // 3, 6, 7
        #expect(tracker.expected(through: 7) == 7)
    }

    @Test func aRetriedPublishIsNotADuplicateDelivery() {
        // The publisher's number 2 arrived in two events with different hub seqs (its first answer was
        // lost when a node died): republished, not a duplicate. A hub seq seen twice is one.
        var tracker = SequenceTracker()
        #expect(tracker.record(1) == .new)
        #expect(tracker.record(2) == .new)
        #expect(tracker.record(2) == .duplicate)
        tracker.reclassifyAsRepublished()
        tracker.recordRedelivery()
        #expect(tracker.duplicates == 1)
        #expect(tracker.republished == 1)
        #expect(tracker.lost(through: 2) == 0)
    }

    @Test func resumedViewerCountsFromItsStart() {
        var tracker = SequenceTracker(firstExpected: 10)
        #expect(tracker.record(9) == .duplicate)
        #expect(tracker.record(10) == .new)
        #expect(tracker.lost(through: 12) == 2)
    }
}

@Suite struct LatencyHistogramTests {
    @Test func percentilesAndRoundTripThroughJSON() throws {
        var histogram = LatencyHistogram()
        for ms in 1...100 { histogram.record(nanoseconds: Int64(ms) * 1_000_000) }
        #expect(abs(histogram.milliseconds(atPercentile: 50) - 50) < 0.1)
        #expect(abs(histogram.milliseconds(atPercentile: 99) - 99) < 0.1)
        let data = try JSONEncoder().encode(histogram)
        let decoded = try JSONDecoder().decode(LatencyHistogram.self, from: data)
        #expect(decoded.count == 100)
        #expect(decoded.milliseconds(atPercentile: 90) == histogram.milliseconds(atPercentile: 90))
        var merged = histogram
        merged.merge(decoded)
        #expect(merged.count == 200)
    }

    @Test func negativeLatencyCountsAsZero() {
        var histogram = LatencyHistogram()
        histogram.record(nanoseconds: -5_000)
        #expect(histogram.count == 1)
        #expect(histogram.maxMilliseconds == 0)
    }
}

@Suite struct ResultTests {
    static func report(received: Int, lost: Int, latencyMs: Int64) -> FleetReport {
        var report = FleetReport()
        report.attempted = 10
        report.established = 9
        report.failed = 1
        report.failures = ["refused": 1]
        report.fast.clients = 9
        report.fast.expected = received + lost
        report.fast.received = received
        report.fast.lost = lost
        report.fast.latency.record(nanoseconds: latencyMs * 1_000_000)
        return report
    }

    @Test func reportsMergeAcrossWorkers() throws {
        var merged = Self.report(received: 100, lost: 0, latencyMs: 2)
        var other = Self.report(received: 50, lost: 5, latencyMs: 40)
        other.failures = ["refused": 2, "connect_timeout": 1]
        other.storm = StormReport(dropped: 3, resumed: 3, resumeUnavailable: 0, recovered: 2)
        // Through JSON, as a worker sends it.
        other = try JSONDecoder().decode(FleetReport.self, from: JSONEncoder().encode(other))
        merged.merge(other)
        #expect(merged.attempted == 20)
        #expect(merged.established == 18)
        #expect(merged.failures == ["refused": 3, "connect_timeout": 1])
        #expect(merged.fast.received == 150)
        #expect(merged.fast.lost == 5)
        #expect(merged.fast.latency.count == 2)
        #expect(merged.storm?.resumed == 3)
    }

    @Test func jsonHasTheDocumentedKeys() throws {
        var configuration = LoadTestRunner.Configuration()
        configuration.clients = 10
        configuration.slowFraction = 0.1
        var report = Self.report(received: 100, lost: 0, latencyMs: 3)
        report.slow.clients = 1
        report.slow.expected = 10
        report.slow.received = 4
        report.slow.lost = 6
        let server = LoadTestResult.Server(
            cpuSeconds: 0.5, cpuMicrosecondsPerDelivery: 4.2, userMicrosecondsPerDelivery: 1.2,
            systemMicrosecondsPerDelivery: 3.0, rssBeforeBytes: 1 << 20, rssIdleBytes: 2 << 20,
            rssPerConnectionBytes: 4096, peakRSSBytes: 3 << 20)
        let result = LoadTestResult(
            configuration: configuration, report: report, published: [10], publishErrors: 0, publishSeconds: 1,
            measuredSeconds: 2, server: server, loadTesterCPUSeconds: 0.1)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.json.utf8)) as? [String: Any])
        for key in [
            "established", "failed", "published", "expected", "received", "lost", "duplicated", "out_of_order",
            "republished", "deliveries_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "server_cpu_s",
            "server_cpu_us_per_delivery", "server_user_cpu_us_per_delivery", "server_sys_cpu_us_per_delivery",
            "server_rss_per_connection_bytes", "server_peak_rss_bytes", "fast", "slow",
        ] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["received"] as? Int == 104)
        #expect(object["lost"] as? Int == 6)
        #expect((object["fast"] as? [String: Any])?["lost"] as? Int == 0)
        #expect(object["deliveries_per_s"] as? Int == 52)
        #expect(result.summary.contains("4.2 µs CPU per delivery (user 1.2, system 3)"))
        #expect(object["server_user_cpu_us_per_delivery"] as? Double == 1.2)
    }
}

@Suite struct ConfigurationTests {
    @Test func remoteHostsNeedAFlag() throws {
        var configuration = LoadTestRunner.Configuration()
        configuration.url = "http://example.com:8080"
        #expect(throws: LoadTestError.self) { try configuration.validate() }
        configuration.allowRemote = true
        try configuration.validate()
        configuration.url = "http://127.0.0.2:9000"
        configuration.allowRemote = false
        try configuration.validate()
    }

    @Test func transportsAndTheirShares() throws {
        var configuration = LoadTestRunner.Configuration()
        for name in ["sse", "ws", "grpc", "mixed"] {
            configuration.transport = TransportMix(name)!
            try configuration.validate()
        }
        #expect(TransportMix("nope") == nil)
        // Under `mixed`, a third of the viewers each.
        let mixed = TransportMix("mixed")!
        #expect((0..<6).map { mixed.transport(viewer: $0) } == [.sse, .webSocket, .grpc, .sse, .webSocket, .grpc])
        #expect(TransportMix("grpc")!.transport(viewer: 1) == .grpc)
        // gRPC viewers need the hub's gRPC port: not for nchan.
        configuration.server = .nchan
        configuration.transport = .grpc
        #expect(throws: LoadTestError.self) { try configuration.validate() }
        configuration.transport = .mixed
        #expect(throws: LoadTestError.self) { try configuration.validate() }
        configuration.transport = .sse
        try configuration.validate()
    }

    @Test func slowViewersAreSpreadEvenly() {
        var configuration = LoadTestRunner.Configuration()
        configuration.slowFraction = 0.1
        #expect((0..<1000).filter(configuration.isSlow).count == 100)
        configuration.slowFraction = 0
        #expect((0..<1000).filter(configuration.isSlow).isEmpty)
    }

    @Test func endpointParsing() {
        #expect(Endpoint(url: "http://127.0.0.1:8080") == Endpoint(url: "http://127.0.0.1:8080/"))
        #expect(Endpoint(url: "http://[::1]:9000")?.port == 9000)
        #expect(Endpoint(url: "http://[::1]:9000")?.isLoopback == true)
        #expect(Endpoint(url: "ftp://127.0.0.1") == nil)
        #expect(Endpoint(url: "http://localhost")?.port == 80)
        #expect(Endpoint(url: "http://localhost")?.secure == false)
        // TLS: https:// URLs, port 443 by default.
        #expect(Endpoint(url: "https://127.0.0.1")?.port == 443)
        #expect(Endpoint(url: "https://127.0.0.1:8443")?.secure == true)
        #expect(Endpoint(url: "HTTPS://[::1]:8443")?.port == 8443)
    }

    @Test func caCertificateNeedsHTTPS() {
        var configuration = LoadTestRunner.Configuration()
        configuration.caCertificate = "/tmp/ca.pem"
        #expect(throws: LoadTestError.self) { try configuration.validate() }
        configuration.url = "https://127.0.0.1:8443"
        #expect(throws: Never.self) { try configuration.validate() }
    }
}
