import NIOCore
import NIOPosix
import NewsroomClient
import NewsroomCore
import NewsroomProto
import NewsroomTesting
import Synchronization
import Testing

@Suite("Subscriptions over loopback", .serialized, .timeLimit(.minutes(2)))
struct SubscriptionTests {
    @Test("every event once, in order; the sequence ends with the topic", arguments: transports)
    func deliversEveryEventOnceInOrder(transport: TestTransport) async throws {
        try await withTestServer { server in
            let hub = HubClient(baseURL: server.baseURL)
            _ = try await hub.publish([.streamStart(StreamStart())] + answer(20), to: "order")
            let subscription = try hub.subscribe(to: "order", transport: transport.on(server))
            async let events = collect(subscription)
            try await Task.sleep(for: .milliseconds(100))
            _ = try await hub.publish(answer(30, from: 20) + [end], to: "order")
            let received = try await events
            #expect(received.first?.seq == 1 && received.first?.type == .streamStart)
            expectExactAnswer(received, lastSeq: 52, text: (0..<50).map { "t\($0) " }.joined())
            #expect(received.last?.type == .streamComplete)
        }
    }

    @Test("resumes after the connection drops mid-answer, without loss or duplicates", arguments: transports)
    func resumesAfterTheConnectionDrops(transport: TestTransport) async throws {
        try await withTestServer { server in
            let hub = HubClient(baseURL: server.baseURL)
            let proxy = try await CuttableProxy.start(targetPort: transport.port(of: server), group: server.group)
            var options = SubscriptionOptions()
            options.initialBackoff = .milliseconds(50)
            _ = try await hub.publish(answer(10), to: "drop")
            let subscription = Subscription(
                host: "127.0.0.1", port: proxy.port, topic: "drop", transport: transport.on(grpcPort: proxy.port),
                options: options)
            var received: [Event] = []
            var cuts = 0
            for try await event in subscription where event.type != .heartbeat {
                received.append(event)
                if event.seq == 10 || event.seq == 25 {
                    // Cut under the subscriber, then publish while it is away.
                    cuts += proxy.cut() > 0 ? 1 : 0
                    let next = event.seq! == 10 ? 10 : 25
                    _ = try await hub.publish(answer(15, from: next), to: "drop")
                    if next == 25 { _ = try await hub.publish(answer(5, from: 40) + [end], to: "drop") }
                }
            }
            await proxy.stop()
            #expect(cuts == 2)
            expectExactAnswer(received, lastSeq: 46, text: (0..<45).map { "t\($0) " }.joined())
        }
    }

    @Test("starts after options.after", arguments: transports)
    func startsAfterTheGivenSeq(transport: TestTransport) async throws {
        try await withTestServer { server in
            let hub = HubClient(baseURL: server.baseURL)
            _ = try await hub.publish(answer(5) + [end], to: "after")
            var options = SubscriptionOptions()
            options.after = 3
            let received = try await collect(
                try hub.subscribe(to: "after", transport: transport.on(server), options: options))
            #expect((received.first?.seq ?? 0) > 3)
            expectExactAnswer(received, lastSeq: 6, text: "t3 t4 ")
        }
    }

    @Test("resuming at the end of an ended topic ends at once", arguments: transports)
    func resumingAtTheEndEnds(transport: TestTransport) async throws {
        try await withTestServer { server in
            let hub = HubClient(baseURL: server.baseURL)
            _ = try await hub.publish(answer(2) + [end], to: "done")
            var options = SubscriptionOptions()
            options.after = 3
            let received = try await collect(
                try hub.subscribe(to: "done", transport: transport.on(server), options: options))
            #expect(received.isEmpty)
        }
    }

    @Test("a bad topic name fails at once, without retrying", arguments: transports)
    func badTopicFails(transport: TestTransport) async throws {
        try await withTestServer { server in
            let subscription = Subscription(
                host: "127.0.0.1", port: server.port, topic: "bad name", transport: transport.on(server))
            await #expect(throws: SubscriptionError.self) {
                _ = try await collect(subscription)
            }
        }
    }

    @Test("gives up after maxRetries when nothing listens, reporting each attempt", arguments: transports)
    func givesUpAfterMaxRetries(transport: TestTransport) async throws {
        // A port that was just free: connections are refused.
        let port = try await withTestServer { $0.port }  // for gRPC too: nothing listens there either
        let reported = Mutex<[Reconnection]>([])
        var options = SubscriptionOptions()
        options.maxRetries = 3
        options.initialBackoff = .milliseconds(10)
        options.onReconnect = { reconnection in reported.withLock { $0.append(reconnection) } }
        let subscription = Subscription(
            host: "127.0.0.1", port: port, topic: "t", transport: transport.on(grpcPort: port), options: options)
        let error = await #expect(throws: HubConnectionError.self) {
            _ = try await collect(subscription)
        }
        #expect(error?.attempts == 4)
        #expect(error?.url.contains("127.0.0.1:\(port)") == true)
        if transport != .grpc { #expect(error?.reason == "connection refused") }
        #expect(reported.withLock { $0.map(\.attempt) } == [1, 2, 3])
        #expect(reported.withLock { $0.allSatisfy { $0.maxRetries == 3 && $0.url == error?.url } })
    }

    @Test("over TLS, trusting the hub's certificate as a private certificate authority", arguments: transports)
    func overTLS(transport: TestTransport) async throws {
        try await withTestServer(tls: true) { server in
            let certificate = try #require(server.certificate)
            let hub = HubClient(
                baseURL: server.baseURL, tls: .certificateAuthority(pemFile: certificate.certificatePath))
            #expect(hub.baseURL.hasPrefix("https://"))
            _ = try await hub.publish([.streamStart(StreamStart())] + answer(5), to: "secret")
            let subscription = try hub.subscribe(to: "secret", transport: transport.on(server))
            async let events = collect(subscription)
            try await Task.sleep(for: .milliseconds(100))
            _ = try await hub.publish(answer(5, from: 5) + [end], to: "secret")
            expectExactAnswer(try await events, lastSeq: 12, text: (0..<10).map { "t\($0) " }.joined())
        }
    }

    @Test("over TLS, a certificate the client does not trust fails at once, without retrying", arguments: transports)
    func untrustedCertificate(transport: TestTransport) async throws {
        try await withTestServer(tls: true) { server in
            let reconnections = Mutex(0)
            var options = SubscriptionOptions()
            options.maxRetries = nil  // it would retry forever if it retried
            options.onReconnect = { _ in reconnections.withLock { $0 += 1 } }
            // The system's trust store does not hold the test certificate.
            let subscription = try Subscription(
                url: server.baseURL, topic: "t", transport: transport.on(server), options: options)
            let error = await #expect(throws: HubConnectionError.self) {
                _ = try await collect(subscription)
            }
            #expect(error?.reason.contains("TLS") == true || error?.reason.contains("certificate") == true)
            #expect(reconnections.withLock { $0 } == 0)
        }
    }

    @Test("a refusal carries the hub's status and code, without retrying", arguments: transports)
    func refusalWithCode(transport: TestTransport) async throws {
        let tokens = TestTokens()
        try await withTestServer(authenticator: try await tokens.authenticator()) { server in
            let viewer = try await tokens.token(subscribe: ["open"])
            var options = SubscriptionOptions()
            options.headers = [("authorization", "Bearer \(viewer)")]
            options.maxRetries = nil
            let subscription = Subscription(
                host: "127.0.0.1", port: server.port, topic: "secret", transport: transport.on(server), options: options
            )
            let error = await #expect(throws: SubscriptionError.self) {
                _ = try await collect(subscription)
            }
            #expect(error?.status == 403)
            #expect(error?.code == "forbidden")
        }
    }

    @Test("cancelling the iterating task closes the connection", arguments: transports)
    func cancellationEndsTheSubscription(transport: TestTransport) async throws {
        try await withTestServer { server in
            let hub = HubClient(baseURL: server.baseURL)
            _ = try await hub.publish(answer(3), to: "cancel")
            let subscription = try hub.subscribe(to: "cancel", transport: transport.on(server))
            let task = Task { try await collect(subscription) }
            // Wait until the hub counts the subscriber, then cancel the task.
            for _ in 0..<200 where (try await hub.topic("cancel"))?.subscribers != 1 {
                try await Task.sleep(for: .milliseconds(10))
            }
            task.cancel()
            _ = await task.result
            for _ in 0..<200 where (try await hub.topic("cancel"))?.subscribers != 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(try await hub.topic("cancel")?.subscribers == 0)
        }
    }
}
