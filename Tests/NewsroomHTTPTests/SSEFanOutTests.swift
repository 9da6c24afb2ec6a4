import NIOCore
import NIOHTTP1
import NewsroomHTTP
import NIOPosix
import NewsroomClient
import NewsroomCore
import NewsroomTesting
import NewsroomWire
import Testing

/// SSE over real loopback sockets: fan-out, resume, late joiners, heartbeats.
@Suite(.serialized) struct SSEFanOutTests {
    static let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    func text(_ string: String) -> EventPayload { .textDelta(TextDelta(text: string)) }

    @Test func thousandSubscribersEachReceiveEveryEventInOrder() async throws {
        raiseFileDescriptorLimit()
        try await withTestServer { server in
            let count = 1_000
            var clients: [CollectingSSEClient] = []
            for _ in 0..<count {
                clients.append(
                    try await CollectingSSEClient.connect(
                        port: server.port, path: "/v1/topics/fan/events", group: Self.clientGroup))
            }
            // Every subscriber is registered before publishing starts.
            while await server.hub.subscriberCount() < count { try await Task.sleep(for: .milliseconds(10)) }
            var expected = ""
            for batch in 0..<20 {
                let payloads = (0..<5).map { self.text("b\(batch)e\($0) ") }
                expected += (0..<5).map { "b\(batch)e\($0) " }.joined()
                try server.hub.publish(payloads, to: "fan")
            }
            try server.hub.publish(.streamComplete(StreamComplete(finishReason: .stop)), to: "fan")

            for client in clients {
                try await client.waitForEnd(timeout: .seconds(30))
                let events = client.decodedEvents()
                #expect(events.compactMap(\.seq) == Array(1...101))
                let text = events.compactMap { event -> String? in
                    if case .textDelta(let delta) = event.payload { return delta.text }
                    return nil
                }.joined()
                #expect(text == expected)
            }
            #expect(clients.allSatisfy { $0.status == 200 })
        }
    }

    @Test func aSubscriberCutMidStreamResumesWithLastEventIDAndLosesNothing() async throws {
        try await withTestServer { server in
            let tokens = (0..<200).map { "tok\($0)·é " }
            let first = try await CollectingSSEClient.connect(
                port: server.port, path: "/v1/topics/resume/events", group: Self.clientGroup)
            try await first.wait { $0.status == 200 }
            try server.hub.publish(tokens[0..<80].map(self.text), to: "resume")
            try await first.wait(forEvents: 80)
            await first.close()
            let lastID = try #require(first.events.last?.lastEventID)
            #expect(lastID == "80")
            // Published while the client is away.
            try server.hub.publish(tokens[80..<150].map(self.text), to: "resume")
            let second = try await CollectingSSEClient.connect(
                port: server.port, path: "/v1/topics/resume/events", lastEventID: lastID, group: Self.clientGroup)
            try await second.wait { $0.events.count >= 1 }
            try server.hub.publish(tokens[150...].map(self.text) + [.streamComplete(StreamComplete(finishReason: .stop))], to: "resume")
            try await second.waitForEnd()
            let assembled = (first.decodedEvents() + second.decodedEvents()).compactMap { event -> String? in
                if case .textDelta(let delta) = event.payload { return delta.text }
                return nil
            }.joined()
            #expect(assembled == tokens.joined())
            // The replay of what was missed may be compacted, but starts after the resume point.
            #expect(second.decodedEvents().allSatisfy { ($0.seq ?? 81) > 80 })
        }
    }

    @Test func aLateJoinerGetsTheWholeAnswerAndAResumeAtTheEndGets204() async throws {
        try await withTestServer { server in
            let words = (0..<50).map { "w\($0) " }
            try server.hub.publish(
                [.streamStart(StreamStart(provider: "test"))] + words.map(self.text)
                    + [.streamComplete(StreamComplete(finishReason: .stop))], to: "late")
            let late = try await CollectingSSEClient.connect(
                port: server.port, path: "/v1/topics/late/events", group: Self.clientGroup)
            try await late.waitForEnd()
            let events = late.decodedEvents()
            #expect(events.first?.type == .streamStart)
            #expect(events.last?.type == .streamComplete)
            #expect(events.last?.seq == 52)
            let text = events.compactMap { event -> String? in
                if case .textDelta(let delta) = event.payload { return delta.text }
                return nil
            }.joined()
            #expect(text == words.joined())
            // (The `retry:` field that opens the stream is checked byte for byte by
            // responseHeadersAndRetryFieldAreThere.)

            let atEnd = try await CollectingSSEClient.connect(
                port: server.port, path: "/v1/topics/late/events", lastEventID: "52", group: Self.clientGroup)
            try await atEnd.waitForEnd()
            #expect(atEnd.status == 204)
            #expect(atEnd.events.isEmpty)
        }
    }

    @Test func responseHeadersAndRetryFieldAreThere() async throws {
        try await withTestServer(configureHTTP: { $0.sseRetryMilliseconds = 1500 }) { server in
            let raw = try await RawHTTPConnection.connect(port: server.port)
            try await raw.send("GET /v1/topics/h/events HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try await raw.read(until: "retry: 1500\n\n")
            #expect(head.hasPrefix("HTTP/1.1 200 OK"))
            #expect(head.lowercased().contains("content-type: text/event-stream"))
            #expect(head.lowercased().contains("cache-control: no-cache"))
            #expect(head.lowercased().contains("x-accel-buffering: no"))
            #expect(head.lowercased().contains("transfer-encoding: chunked"))
            await raw.close()
        }
    }

    @Test func heartbeatsArriveOnAnIdleTopicAndCarryNoID() async throws {
        try await withTestServer(configureHub: { $0.heartbeatInterval = .milliseconds(150) }) { server in
            try server.hub.publish(self.text("only"), to: "idle")
            let client = try await CollectingSSEClient.connect(
                port: server.port, path: "/v1/topics/idle/events", group: Self.clientGroup)
            try await client.wait(timeout: .seconds(5), "two heartbeats") {
                $0.events.filter { $0.type == "heartbeat" }.count >= 2
            }
            let heartbeats = client.events.filter { $0.type == "heartbeat" }
            #expect(heartbeats.allSatisfy { !$0.hasID })
            #expect(client.events.first?.hasID == true)
            let decoded = client.decodedEvents(includeHeartbeats: true).filter { $0.type == .heartbeat }
            #expect(decoded.first?.payload == .heartbeat(Heartbeat(lastSeq: 1, state: .streaming)))
            // The resume point is the last real event, not a heartbeat.
            #expect(heartbeats.last?.lastEventID == "1")
        }
    }

    @Test func deletingATopicEndsItForSubscribersAsCancelled() async throws {
        try await withTestServer { server in
            let client = try await CollectingSSEClient.connect(
                port: server.port, path: "/v1/topics/del/events", group: Self.clientGroup)
            try await client.wait { $0.status == 200 }
            try server.hub.publish(self.text("partial"), to: "del")
            let api = HubClient(baseURL: server.baseURL)
            let response = try await api.request(.DELETE, "/v1/topics/del")
            #expect(response.status == 200)
            #expect(response.json?["state"]?.stringValue == "ended")
            try await client.waitForEnd()
            guard case .streamComplete(let complete) = client.decodedEvents().last?.payload else {
                Issue.record("no stream_complete")
                return
            }
            #expect(complete.finishReason == .cancelled)
        }
    }

    @Test func shutdownEndsOpenStreamsWithARetryableError() async throws {
        let (client, port): (CollectingSSEClient, Int) = try await withTestServer { server in
            let client = try await CollectingSSEClient.connect(
                port: server.port, path: "/v1/topics/bye/events", group: Self.clientGroup)
            try await client.wait { $0.status == 200 }
            return (client, server.port)
        }
        try await client.waitForEnd()
        let last = client.decodedEvents().last
        guard case .error(let error) = last?.payload else {
            Issue.record("expected a server_shutdown error, got \(client.events)")
            return
        }
        #expect(error.code == "server_shutdown")
        #expect(error.retryable)
        #expect(!error.terminal)  // a restart does not end the topic: clients reconnect and resume
        // The listener is closed: a new connection is refused.
        await #expect(throws: (any Error).self) {
            try await CollectingSSEClient.connect(port: port, path: "/v1/topics/bye/events", group: Self.clientGroup)
        }
    }
}
