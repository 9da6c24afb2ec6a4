import NewsroomProto
import NIOCore
import NIOPosix
import NewsroomClient
import NewsroomCore
import NewsroomTesting
import Testing

@Suite("Subscriptions over loopback", .serialized, .timeLimit(.minutes(2)))
struct SubscriptionTests {
    @Test("every event once, in order; the sequence ends with the topic", arguments: transports)
    func deliversEveryEventOnceInOrder(transport: TestTransport) async throws {
        try await withTestServer(grpc: true) { server in
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
        try await withTestServer(grpc: true) { server in
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
        try await withTestServer(grpc: true) { server in
            let hub = HubClient(baseURL: server.baseURL)
            _ = try await hub.publish(answer(5) + [end], to: "after")
            var options = SubscriptionOptions()
            options.after = 3
            let received = try await collect(try hub.subscribe(to: "after", transport: transport.on(server), options: options))
            #expect((received.first?.seq ?? 0) > 3)
            expectExactAnswer(received, lastSeq: 6, text: "t3 t4 ")
        }
    }

    @Test("resuming at the end of an ended topic ends at once", arguments: transports)
    func resumingAtTheEndEnds(transport: TestTransport) async throws {
        try await withTestServer(grpc: true) { server in
            let hub = HubClient(baseURL: server.baseURL)
            _ = try await hub.publish(answer(2) + [end], to: "done")
            var options = SubscriptionOptions()
            options.after = 3
            let received = try await collect(try hub.subscribe(to: "done", transport: transport.on(server), options: options))
            #expect(received.isEmpty)
        }
    }

    @Test("a bad topic name fails at once, without retrying", arguments: transports)
    func badTopicFails(transport: TestTransport) async throws {
        try await withTestServer(grpc: true) { server in
            let subscription = Subscription(
                host: "127.0.0.1", port: server.port, topic: "bad name", transport: transport.on(server))
            await #expect(throws: SubscriptionError.self) {
                _ = try await collect(subscription)
            }
        }
    }

    @Test("gives up after maxAttempts when nothing listens", arguments: transports)
    func givesUpAfterMaxAttempts(transport: TestTransport) async throws {
        // A port that was just free: connections are refused.
        let port = try await withTestServer { $0.port }  // for gRPC too: nothing listens there either
        var options = SubscriptionOptions()
        options.maxAttempts = 3
        options.initialBackoff = .milliseconds(10)
        let subscription = Subscription(
            host: "127.0.0.1", port: port, topic: "t", transport: transport.on(grpcPort: port), options: options)
        await #expect(throws: (any Error).self) {
            _ = try await collect(subscription)
        }
    }

    @Test("cancelling the iterating task closes the connection", arguments: transports)
    func cancellationEndsTheSubscription(transport: TestTransport) async throws {
        try await withTestServer(grpc: true) { server in
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
