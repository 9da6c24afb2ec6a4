import NIOCore
import NIOHTTP1
import NewsroomWire
import Testing

@testable import NewsroomHTTP

/// The operator's console's routes and the figures it reads back from `/metrics`.
@Suite struct AdminRoutesTests {
    @Test func theConsoleAndItsSnapshotHaveTheirOwnRoutes() {
        #expect(Route(segments: ["admin"]) == .adminConsole("index.html"))
        #expect(Route(segments: ["admin", "admin.js"]) == .adminConsole("admin.js"))
        #expect(Route(segments: ["v1", "admin"]) == .admin)
        #expect(Route(segments: ["v1", "admin", "x"]) == nil)
        #expect(Route.admin.allowedMethods == [.GET, .HEAD])
        #expect(Route.adminConsole("index.html").metricName == "/admin")
        #expect(Route.admin.metricName == "/v1/admin")
    }

    @Test func theConsoleFilesAreEmbedded() {
        #expect(Set(AdminConsoleAssets.files.keys) == ["index.html", "admin.js", "admin.css"])
        #expect(AdminConsoleAssets.files["index.html"]?.contentType == "text/html; charset=utf-8")
        // The same policy as the viewer's page.
        let csp = { (html: String) in html.split(separator: "\n").first { $0.contains("content=\"default-src") } }
        #expect(csp(AdminConsoleAssets.files["index.html"]!.body) == csp(ViewerAssets.files["index.html"]!.body))
    }

    @Test func metricsAreSummedOverTheirLabels() {
        let text = """
            # HELP newsroom_connections open connections
            # TYPE newsroom_connections gauge
            newsroom_connections{transport="http1"} 3
            newsroom_connections{transport="ws"} 2
            newsroom_deliveries_total{transport="sse"} 1200
            newsroom_deliveries_total{transport="ws"} 34
            newsroom_deliveries_total_other 99
            newsroom_dropped_events_total 7 1700000000000
            newsroom_slow_consumer_disconnects_total{transport="sse"} 1.5e1
            newsroom_subscriptions{transport="sse"} NaN
            garbage line
            """
        let summary = MetricsSummary(prometheusText: text)
        #expect(summary["newsroom_connections"] == 5)
        #expect(summary["newsroom_deliveries_total"] == 1234)
        #expect(summary["newsroom_dropped_events_total"] == 7)
        #expect(summary["newsroom_slow_consumer_disconnects_total"] == 15)
        #expect(summary["newsroom_subscriptions"] == 0)
        #expect(summary["newsroom_coalesced_events_total"] == 0)
        var json = JSONWriter(buffer: ByteBuffer())
        json.beginObject()
        summary.write(into: &json)
        json.endObject()
        let written = String(buffer: json.buffer)
        #expect(written.hasPrefix("{\"connections\":5,\"subscriptions\":0,\"events_published_total\":0,\"deliveries_total\":1234,"))
        #expect(written.contains("\"slow_consumer_disconnects_total\":15"))
    }
}
