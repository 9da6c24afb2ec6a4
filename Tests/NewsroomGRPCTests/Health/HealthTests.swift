import GRPCCore
import NewsroomProto
import GRPCNIOTransportHTTP2
import NewsroomHTTP
import Synchronization
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

    @Test func watchSendsTheStatusThenNotServingWhenTheHubDrains() async throws {
        try await withGRPCTestHub { test in
            try await test.withHealthClient { health in
                var request = Grpc_Health_V1_HealthCheckRequest()
                request.service = "newsroom.v1.Newsroom"
                let statuses = try await health.watch(request) { response in
                    var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                    for try await message in response.messages {
                        seen.append(message.status)
                        if seen.count == 1 { test.server.markDraining() }
                        if seen.count == 2 { break }
                    }
                    return seen
                }
                #expect(statuses == [.serving, .notServing])
                // Once draining, Check says so too, and a new Watch starts with NOT_SERVING.
                #expect(try await health.check(request).status == .notServing)
                let first = try await health.watch(request) { response in
                    var iterator = response.messages.makeAsyncIterator()
                    return try await iterator.next()?.status
                }
                #expect(first == .notServing)
            }
        }
    }

    @Test func watchingAnUnknownServiceAnswersServiceUnknownAndStaysOpen() async throws {
        try await withGRPCTestHub { test in
            try await test.withHealthClient { health in
                var request = Grpc_Health_V1_HealthCheckRequest()
                request.service = "later.v1.Service"
                let (statuses, ended) = try await health.watch(request) { response in
                    let statuses = Mutex<[Grpc_Health_V1_HealthCheckResponse.ServingStatus]>([])
                    let ended = Atomic(false)
                    let reader = Task {
                        for try await message in response.messages { statuses.withLock { $0.append(message.status) } }
                        ended.store(true, ordering: .relaxed)
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    let result = (statuses.withLock { $0 }, ended.load(ordering: .relaxed))
                    reader.cancel()
                    return result
                }
                // SERVICE_UNKNOWN, then nothing, and the call did not end.
                #expect(statuses == [.serviceUnknown])
                #expect(!ended)
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
                            if seen.count == 1 { Task { await test.server.shutdown() } }
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
