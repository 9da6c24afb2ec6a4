import NIOCore
import NewsroomCore
import NewsroomLoadTest
import NewsroomTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small load tests against an in-process hub on loopback (`withTestServer`), with assertions on counts.
@Suite(.serialized) struct LoadTestRunnerTests {
    static func configuration(url: String, configure: (inout LoadTestRunner.Configuration) -> Void) -> LoadTestRunner.Configuration {
        .defaults {
            $0.url = url
            $0.clients = 50
            $0.topics = 2
            $0.rate = 20
            $0.duration = 2
            $0.idleSettle = 0.2
            $0.drain = 5
            $0.threads = 2
            configure(&$0)
        }
    }

    @Test func everyViewerReceivesEveryEventOnce() async throws {
        raiseFileDescriptorLimit()
        // This test checks the accounting, not overload: on a machine busy with the rest of the suite the
        // hub's loops run late, and its overload guard would hold the publisher back.
        try await withTestServer(configureHub: { $0.maxFanOutDelay = .seconds(30) }) { server in
            let configuration = Self.configuration(url: server.baseURL) { $0.serverPID = Int(getpid()) }
            let result = try await LoadTestRunner.run(configuration)
            #expect(result.attempted == 50)
            #expect(result.established == 50)
            #expect(result.failed == 0)
            // The publisher asks for 2 topics × 20/s × 2 s; how many it achieves depends on the machine's
            // load (speed is for benchmarks), so only check that it ran and stayed bounded.
            #expect(result.published > 0 && result.published <= 80)
            // Each viewer watches one of the two topics: 25 viewers × what was published to each.
            #expect(result.expected == 25 * result.published)
            #expect(result.received == result.expected)
            #expect(result.lost == 0)
            #expect(result.duplicated == 0)
            #expect(result.outOfOrder == 0)
            #expect(result.latency.count == result.received)
            #expect(result.latency.p99 > 0)
            #expect(result.catchUpMilliseconds != nil)
            #expect(result.serverUsage != nil)
            #expect(result.json.contains(#""lost":0"#))
        }
    }

    @Test func reconnectStormResumesWithoutLoss() async throws {
        raiseFileDescriptorLimit()
        try await withTestServer { server in
            let configuration = Self.configuration(url: server.baseURL) {
                $0.clients = 40
                $0.topics = 1
                $0.rate = 50
                $0.duration = 3
                $0.reconnectStorm = true
            }
            let result = try await LoadTestRunner.run(configuration)
            let storm = try #require(result.storm)
            #expect(storm.dropped == 40)
            #expect(storm.resumed == 40)
            #expect(storm.resumeUnavailable == 0)
            #expect(storm.recovered == 40)
            #expect(result.lost == 0)
            #expect(result.duplicated == 0)
            #expect(result.received == result.expected)
        }
    }

    @Test func stalledViewersDoNotCostTheFastOnesAnything() async throws {
        raiseFileDescriptorLimit()
        try await withTestServer { server in
            let configuration = Self.configuration(url: server.baseURL) {
                $0.clients = 40
                $0.topics = 1
                $0.rate = 100
                $0.payloadBytes = 2_000
                $0.duration = 3
                $0.slowFraction = 0.25
                $0.slowReadBytesPerSecond = 0
            }
            let result = try await LoadTestRunner.run(configuration)
            let slow = try #require(result.slow)
            #expect(result.established == 40)
            #expect(result.fast.clients == 30)
            #expect(slow.clients == 10)
            #expect(result.fast.lost == 0)
            #expect(result.fast.received == result.fast.expected)
            #expect(slow.received < slow.expected)  // stalled: they did not read it all
        }
    }

    @Test func churnReplacesViewersWithoutGaps() async throws {
        raiseFileDescriptorLimit()
        try await withTestServer { server in
            let configuration = Self.configuration(url: server.baseURL) {
                $0.clients = 40
                $0.topics = 1
                $0.rate = 50
                $0.duration = 2
                $0.churn = true
                $0.churnRate = 20
            }
            let result = try await LoadTestRunner.run(configuration)
            #expect((result.churnLeft ?? 0) > 10)
            #expect(result.churnJoined == result.churnLeft)
            #expect(result.lost == 0)
            #expect(result.duplicated == 0)
        }
    }

    /// gRPC and mixed viewers need the hub's gRPC port: Tests/integration/test_loadtest.py runs them
    /// against the real binary.
    @Test func webSocketViewersReceiveEverything() async throws {
        raiseFileDescriptorLimit()
        try await withTestServer { server in
            let configuration = Self.configuration(url: server.baseURL) {
                $0.clients = 40
                $0.transport = .webSocket
                $0.reconnectStorm = true
                $0.rate = 50
                $0.duration = 3
            }
            let result = try await LoadTestRunner.run(configuration)
            #expect(result.established == 40)
            #expect(result.lost == 0)
            #expect(result.duplicated == 0)
            #expect(result.received == result.expected)
            #expect(result.storm?.recovered == 40)
        }
    }

    @Test func batchedPublishesAreCountedPerEvent() async throws {
        raiseFileDescriptorLimit()
        try await withTestServer { server in
            let configuration = Self.configuration(url: server.baseURL) {
                $0.clients = 20
                $0.topics = 1
                $0.rate = 50
                $0.publishBatch = 5
            }
            let result = try await LoadTestRunner.run(configuration)
            #expect(result.published % 5 == 0)
            #expect(result.published >= 80)
            #expect(result.expected == 20 * result.published)
            #expect(result.received == result.expected)
            #expect(result.lost == 0)
        }
    }

    @Test func unreachableServerFailsClearly() async throws {
        // A port nothing listens on (bind one, close it).
        let port = try await withTestServer { $0.port }
        let configuration = Self.configuration(url: "http://127.0.0.1:\(port)") { _ in }
        await #expect(throws: LoadTestError.self) { try await LoadTestRunner.run(configuration) }
    }
}
