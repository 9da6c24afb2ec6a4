import GRPCCore
import NewsroomProto
import GRPCNIOTransportHTTP2
import NIOCore
import NewsroomCore
import NewsroomHTTP
import Testing

/// `Subscribe` over real loopback sockets with grpc-swift's client: replay, live, resume, the end,
/// heartbeats, cancellation and deadlines, slow consumers, shutdown.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SubscribeTests {
    typealias Client = Newsroom_V1_Newsroom.Client<HTTP2ClientTransport.Posix>

    /// Subscribes and collects every event until the call ends.
    func collect(
        _ client: Client, _ request: Newsroom_V1_SubscribeRequest, options: CallOptions = .defaults,
        into collector: EventCollector = EventCollector()
    ) async throws -> [Newsroom_V1_Event] {
        try await client.subscribe(request, options: options) { response in
            for try await event in response.messages { collector.append(event) }
            return collector.events
        }
    }

    @Test func replayThenLiveWithNoGapAndNoDuplicate() async throws {
        try await withGRPCTestHub { test in
            try test.hub.publish(
                [.streamStart(StreamStart(generation: nil, provider: "demo", model: "m1")), text("Hel"), text("lo")],
                to: "chat")
            try await test.withClient { client in
                let collector = EventCollector()
                async let events = self.collect(client, subscribeRequest("chat"), into: collector)
                // The replay may merge the two deltas into one event carrying the later seq: wait for seq 3
                // however it came.
                try await test.waitUntil(timeout: .seconds(30), "the replay") { collector.events.contains { $0.seq == 3 } }
                try test.hub.publish([text(" world"), complete], to: "chat")
                let all = try await events
                let seqs = all.map(\.seq)
                #expect(seqs == [1, 3, 4, 5] || seqs == [1, 2, 3, 4, 5], "seqs \(seqs)")
                #expect(assembledText(all) == "Hello world")
                #expect(all.allSatisfy { $0.topic == "chat" && $0.hasTs })
                guard case .streamStart(let start)? = all.first?.payload else {
                    Issue.record("the first event is not stream_start")
                    return
                }
                #expect(start.provider == "demo" && start.model == "m1" && !start.hasGeneration)
                guard case .streamComplete(let end)? = all.last?.payload else {
                    Issue.record("the last event is not stream_complete")
                    return
                }
                #expect(end.finishReason == .stop && !end.hasUsage)
            }
            #expect(test.subscribers(of: "chat") == 0)
        }
    }

    @Test func theFramesAreTheEventsTheHubEncoded() async throws {
        try await withGRPCTestHub { test in
            let usage = Usage(inputTokens: 42, outputTokens: nil)
            try test.hub.publish(
                [
                    .toolCallDelta(ToolCallDelta(index: 1, callID: "call_1", name: "get_weather", argumentsDelta: "{")),
                    .toolCall(ToolCall(index: 1, callID: "call_1", name: "get_weather", arguments: "{}")),
                    .error(StreamError(code: "rate_limited", message: "slow down", retryable: true)),
                    .streamComplete(
                        StreamComplete(finishReason: .toolCalls, providerFinishReason: "tool_use", usage: usage)),
                ], to: "types")
            let events = try await test.withClient { client in
                try await self.collect(client, subscribeRequest("types"))
            }
            let decoded = events.map(Event.init)
            #expect(
                decoded.map(\.payload) == [
                    .toolCallDelta(ToolCallDelta(index: 1, callID: "call_1", name: "get_weather", argumentsDelta: "{")),
                    .toolCall(ToolCall(index: 1, callID: "call_1", name: "get_weather", arguments: "{}")),
                    .error(StreamError(code: "rate_limited", message: "slow down", retryable: true)),
                    .streamComplete(
                        StreamComplete(finishReason: .toolCalls, providerFinishReason: "tool_use", usage: usage)),
                ])
            #expect(decoded.map(\.seq) == [1, 2, 3, 4])
        }
    }

    @Test func resumeWithAfterSendsOnlyLaterEvents() async throws {
        try await withGRPCTestHub { test in
            try test.hub.publish(
                [.streamStart(StreamStart()), text("a"), text("b"), text("c")], to: "resume")
            try await test.withClient { client in
                let collector = EventCollector()
                async let events = self.collect(client, subscribeRequest("resume", after: 2), into: collector)
                try await test.waitUntil("the replay") { collector.count == 1 }
                try test.hub.publish(complete, to: "resume")
                let all = try await events
                #expect(all.map(\.seq) == [4, 5])
                #expect(assembledText(all) == "bc")
            }
        }
    }

    @Test func aLateJoinerReceivesTheWholeAnswerAndTheCallEndsOK() async throws {
        try await withGRPCTestHub { test in
            let tokens = (0..<50).map { "t\($0) " }
            try test.hub.publish([.streamStart(StreamStart())] + tokens.map(text) + [complete], to: "late")
            let events = try await test.withClient { client in
                try await self.collect(client, subscribeRequest("late"))
            }
            #expect(assembledText(events) == tokens.joined())
            #expect(events.last?.seq == 52)
        }
    }

    @Test func resumingAtTheFinalSeqOfAnEndedTopicEndsAtOnceWithNothing() async throws {
        try await withGRPCTestHub { test in
            try test.hub.publish([text("x"), complete], to: "done")
            let events = try await test.withClient { client in
                try await self.collect(client, subscribeRequest("done", after: 2))
            }
            #expect(events.isEmpty)
        }
    }

    @Test func aResumePointBeyondTheTopicGetsResumeUnavailableFirst() async throws {
        try await withGRPCTestHub { test in
            try test.hub.publish([text("x"), complete], to: "restarted")
            let events = try await test.withClient { client in
                try await self.collect(client, subscribeRequest("restarted", after: 99))
            }
            #expect(events.map(\.seq) == [0, 1, 2])
            guard case .error(let notice)? = events.first?.payload else {
                Issue.record("no resume_unavailable notice")
                return
            }
            #expect(notice.code == "resume_unavailable")
        }
    }

    @Test func heartbeatsReachAnIdleSubscriberWithoutASeq() async throws {
        try await withGRPCTestHub(configureHub: { $0.heartbeatInterval = .milliseconds(100) }) { test in
            let heartbeat = try await test.withClient { client in
                try await client.subscribe(subscribeRequest("idle")) { response -> Newsroom_V1_Heartbeat? in
                    for try await event in response.messages {
                        if case .heartbeat(let heartbeat)? = event.payload {
                            #expect(event.seq == 0 && event.topic == "idle")
                            return heartbeat
                        }
                    }
                    return nil
                }
            }
            #expect(heartbeat?.state == .waiting)
            #expect(heartbeat?.lastSeq == 0)
        }
    }

    @Test func aClientCancelRemovesTheSubscriptionAtOnce() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let call = Task {
                    try await self.collect(client, subscribeRequest("cancel"))
                }
                try await test.waitUntil("the subscription") { test.subscribers(of: "cancel") == 1 }
                call.cancel()
                let clock = ContinuousClock()
                let start = clock.now
                try await test.waitUntil(timeout: .seconds(2), "the subscriber to go") {
                    test.subscribers(of: "cancel") == 0
                }
                #expect(clock.now - start < .seconds(1))
                await #expect(throws: (any Error).self) { try await call.value }
            }
        }
    }

    @Test func anExpiredDeadlineRemovesTheSubscriptionAtOnce() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                var options = CallOptions.defaults
                options.timeout = .milliseconds(300)
                let clock = ContinuousClock()
                let start = clock.now
                let error = await #expect(throws: RPCError.self) {
                    try await self.collect(client, subscribeRequest("deadline"), options: options)
                }
                #expect(error?.code == .deadlineExceeded)
                try await test.waitUntil(timeout: .seconds(2), "the subscriber to go") {
                    test.subscribers(of: "deadline") == 0
                }
                #expect(clock.now - start < .seconds(1.5))
            }
        }
    }

    @Test func aStalledReaderUnderDisconnectEndsWithResourceExhausted() async throws {
        try await withGRPCTestHub(
            configureHub: {
                $0.maxQueuedBytes = 16 << 10
                $0.maxQueuedEvents = 256
            }
        ) { test in
            try await test.withClient { client in
                let (gate, open) = AsyncStream.makeStream(of: Void.self)
                let collector = EventCollector()
                async let outcome: RPCError? = {
                    do {
                        try await client.subscribe(subscribeRequest("stall", policy: .disconnect)) { response in
                            var first = true
                            for try await event in response.messages {
                                collector.append(event)
                                if first {
                                    first = false
                                    // Stop reading: the window closes, the sink fills, the hub's queue overflows.
                                    for await _ in gate { break }
                                }
                            }
                        }
                        return nil
                    } catch let error as RPCError {
                        return error
                    }
                }()
                try test.hub.publish(text("first"), to: "stall")
                try await test.waitUntil("the first event") { collector.count == 1 }
                // Up to 32 MiB in 1 KiB events: more than the client's HTTP/2 window (grpc-swift's is 8 MiB),
                // the socket buffers and the hub's queue hold.
                let chunk = String(repeating: "x", count: 1024)
                var published = 1
                for _ in 0..<1024 where test.subscribers(of: "stall") > 0 {
                    try test.hub.publish(Array(repeating: text(chunk), count: 32), to: "stall")
                    published += 32
                    try await Task.sleep(for: .milliseconds(2))
                }
                try await test.waitUntil("the slow subscriber to be dropped") { test.subscribers(of: "stall") == 0 }
                let backlog = await test.hub.backlog()
                #expect(backlog.bytes == 0)
                open.yield()
                open.finish()
                let error = try #require(await outcome)
                #expect(error.code == .resourceExhausted)
                #expect(
                    error.metadata[stringValues: newsroomCodeKey].first(where: { _ in true })
                        == "slow_consumer")
                #expect(collector.count < published)
                // What did arrive is in order, without duplicates.
                let seqs = collector.events.map(\.seq)
                #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
            }
        }
    }

    @Test func hubShutdownEndsSubscriptionsWithUnavailable() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let call = Task { _ = try await self.collect(client, subscribeRequest("shutdown")) }
                try await test.waitUntil("the subscription") { test.subscribers(of: "shutdown") == 1 }
                await test.hub.shutdown()
                let error = await #expect(throws: RPCError.self) { try await call.value }
                #expect(error?.code == .unavailable)
            }
        }
    }

    @Test func serverShutdownEndsSubscriptionsWithUnavailable() async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let call = Task { _ = try await self.collect(client, subscribeRequest("stop")) }
                try await test.waitUntil("the subscription") { test.subscribers(of: "stop") == 1 }
                let stop = Task { await test.server.shutdown() }
                let error = await #expect(throws: RPCError.self) { try await call.value }
                #expect(error?.code == .unavailable)
                try await test.waitUntil("the subscriber to go") { test.subscribers(of: "stop") == 0 }
                await stop.value
            }
        }
    }

    @Test(arguments: [
        ("bad topic!", Newsroom_V1_SlowConsumerPolicy.unspecified, RPCError.Code.invalidArgument),
        ("", .unspecified, .invalidArgument),
        (String(repeating: "a", count: 129), .unspecified, .invalidArgument),
        ("ok", .UNRECOGNIZED(42), .invalidArgument),
    ])
    func badSubscribeRequestsGetTheirStatus(
        topic: String, policy: Newsroom_V1_SlowConsumerPolicy, code: RPCError.Code
    ) async throws {
        try await withGRPCTestHub { test in
            try await test.withClient { client in
                let error = await #expect(throws: RPCError.self) {
                    try await self.collect(client, subscribeRequest(topic, policy: policy))
                }
                #expect(error?.code == code)
            }
        }
    }

    @Test func theSubscriberLimitIsResourceExhausted() async throws {
        try await withGRPCTestHub(configureHub: { $0.maxSubscribersPerTopic = 1 }) { test in
            try await test.withClient { client in
                let first = Task { try await self.collect(client, subscribeRequest("full")) }
                try await test.waitUntil("the first subscription") { test.subscribers(of: "full") == 1 }
                let error = await #expect(throws: RPCError.self) {
                    try await self.collect(client, subscribeRequest("full"))
                }
                #expect(error?.code == .resourceExhausted)
                first.cancel()
                _ = try? await first.value
            }
        }
    }
}
