import GRPCCore
import NewsroomProto
import GRPCNIOTransportHTTP2
import NewsroomCore
import NewsroomHTTP
import Testing

/// gRPC calls' metrics: the connection counted as HTTP/2, calls by method and status, deliveries with
/// `transport="grpc"`.
@Suite(.serialized, .timeLimit(.minutes(1))) struct MetricsTests {
    @Test func callsConnectionsAndDeliveriesAreCounted() async throws {
        let metrics = RecordingMetricsFactory()
        try await withGRPCTestHub(metrics: metrics) { test in
            try test.hub.publish([text("a"), text("b"), complete], to: "counted")
            try await test.withClient { client in
                var get = Newsroom_V1_GetTopicRequest()
                get.topic = "nope"
                _ = try? await client.getTopic(get)
                let events = try await client.subscribe(subscribeRequest("counted", after: 1)) { response in
                    try await response.messages.reduce(0) { count, _ in count + 1 }
                }
                #expect(events == 2)
                #expect(metrics.value("newsroom_connections{transport=http2}") == 1)
            }
            try await test.waitUntil("the connection to close") {
                metrics.value("newsroom_connections{transport=http2}") == 0
            }
            #expect(metrics.value("newsroom_grpc_calls_total{method=GetTopic,code=not_found}") == 1)
            #expect(metrics.value("newsroom_grpc_calls_total{method=Subscribe,code=ok}") == 1)
            #expect(metrics.value("newsroom_deliveries_total{transport=grpc}") ?? 0 >= 1)
        }
    }
}
