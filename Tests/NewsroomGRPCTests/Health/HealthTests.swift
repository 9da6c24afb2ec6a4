import GRPCCore
import NewsroomProto
import GRPCNIOTransportHTTP2
import NewsroomGRPC
import Testing

/// The standard `grpc.health.v1.Health` service.
@Suite(.serialized, .timeLimit(.minutes(1))) struct HealthTests {
    @Test func checkAnswersTheServerAndTheServiceAndNotFoundOtherwise() async throws {
        try await withGRPCTestHub { test in
            try await test.withHealthClient { health in
                var request = Grpc_Health_V1_HealthCheckRequest()
                #expect(try await health.check(request).status == .serving)
                request.service = "newsroom.v1.Newsroom"
                #expect(try await health.check(request).status == .serving)
                request.service = "nope.v1.Nope"
                let error = await #expect(throws: RPCError.self) { try await health.check(request) }
                #expect(error?.code == .notFound)
                let list = try await health.list(Grpc_Health_V1_HealthListRequest())
                #expect(Set(list.statuses.keys) == ["", "newsroom.v1.Newsroom"])
            }
        }
    }

    @Test func watchSendsTheStatusThenItsChangesAndUnknownServicesStayOpen() async throws {
        try await withGRPCTestHub { test in
            try await test.withHealthClient { health in
                var request = Grpc_Health_V1_HealthCheckRequest()
                request.service = "newsroom.v1.Newsroom"
                let service = request.service
                let statuses = try await health.watch(request) { response in
                    var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                    for try await message in response.messages {
                        seen.append(message.status)
                        if seen.count == 1 { test.server.health.setStatus(.notServing, forService: service) }
                        if seen.count == 2 { break }
                    }
                    return seen
                }
                #expect(statuses == [.serving, .notServing])

                request.service = "later.v1.Service"
                let later = request.service
                let unknown = try await health.watch(request) { response in
                    var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                    for try await message in response.messages {
                        seen.append(message.status)
                        if seen.count == 1 { test.server.health.setStatus(.serving, forService: later) }
                        if seen.count == 2 { break }
                    }
                    return seen
                }
                #expect(unknown == [.serviceUnknown, .serving])
            }
        }
    }

    @Test func shutdownTurnsWatchersNotServing() async throws {
        try await withGRPCTestHub { test in
            try await test.withHealthClient { health in
                let statuses = try await health.watch(Grpc_Health_V1_HealthCheckRequest()) { response in
                    var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                    do {
                        for try await message in response.messages {
                            seen.append(message.status)
                            if seen.count == 1 { test.server.shutdown() }
                        }
                    } catch {}
                    return seen
                }
                #expect(statuses.first == .serving)
                #expect(statuses.count == 1 || statuses[1] == .notServing)
            }
        }
    }
}
