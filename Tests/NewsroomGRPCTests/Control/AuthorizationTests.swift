import GRPCCore
import GRPCNIOTransportHTTP2
import NewsroomCore
import NewsroomGRPC
import Synchronization
import Testing

/// The ``GRPCAuthorizer`` hook: every method asks it with the topic it is about, and a subscription ends
/// when its credentials expire.
@Suite(.serialized, .timeLimit(.minutes(1))) struct AuthorizationTests {
    /// Bearer tokens: `alice` may do anything but touch `secret`; `brief` expires 300 ms after it is
    /// checked; `admin` may list topics. Records what it was asked.
    final class FakeAuthorizer: GRPCAuthorizer {
        let asked = Mutex<[GRPCAccess]>([])

        func authorize(_ access: GRPCAccess, metadata: Metadata) async throws(RPCError) -> GRPCGrant {
            self.asked.withLock { $0.append(access) }
            let token = metadata[stringValues: "authorization"].first(where: { _ in true })
            guard let token, token.hasPrefix("Bearer ") else {
                throw RPCError(code: .unauthenticated, message: "a bearer token is required")
            }
            let subject = String(token.dropFirst("Bearer ".count))
            guard ["alice", "brief", "admin"].contains(subject) else {
                throw RPCError(code: .unauthenticated, message: "invalid token")
            }
            if access.topic == "secret" || (access.action == .admin && subject != "admin") {
                throw RPCError(code: .permissionDenied, message: "not allowed")
            }
            let expiry =
                subject == "brief" ? Timestamp(millisecondsSince1970: Timestamp.now().millisecondsSince1970 + 300) : nil
            return GRPCGrant(subject: subject, expiresAt: expiry)
        }
    }

    func bearer(_ subject: String) -> Metadata {
        var metadata = Metadata()
        metadata.addString("Bearer \(subject)", forKey: "authorization")
        return metadata
    }

    @Test func subscribeAndPublishAskWithTheirTopic() async throws {
        let authorizer = FakeAuthorizer()
        try await withGRPCTestHub(authorizer: authorizer) { test in
            try test.hub.publish([text("x"), complete], to: "open")
            try await test.withClient { client in
                var error = await #expect(throws: RPCError.self) {
                    try await client.subscribe(subscribeRequest("open")) { for try await _ in $0.messages {} }
                }
                #expect(error?.code == .unauthenticated)
                error = await #expect(throws: RPCError.self) {
                    try await client.subscribe(subscribeRequest("secret"), metadata: self.bearer("alice")) {
                        for try await _ in $0.messages {}
                    }
                }
                #expect(error?.code == .permissionDenied)
                let count = try await client.subscribe(subscribeRequest("open"), metadata: self.bearer("alice")) {
                    try await $0.messages.reduce(0) { count, _ in count + 1 }
                }
                #expect(count == 2)

                error = await #expect(throws: RPCError.self) {
                    try await client.publish(
                        metadata: self.bearer("alice"),
                        requestProducer: { try await $0.write(publishRequest("secret", textEvent("x"))) })
                }
                #expect(error?.code == .permissionDenied)
                #expect(test.hub.snapshot(ofTopic: "secret") == nil)

                error = await #expect(throws: RPCError.self) {
                    try await client.listTopics(Newsroom_V1_ListTopicsRequest(), metadata: self.bearer("alice"))
                }
                #expect(error?.code == .permissionDenied)
                let list = try await client.listTopics(Newsroom_V1_ListTopicsRequest(), metadata: self.bearer("admin"))
                #expect(list.topics.map(\.name) == ["open"])
            }
            let asked = authorizer.asked.withLock { $0 }.map(\.description)
            #expect(asked.contains("Subscribe: subscribe open"))
            #expect(asked.contains("Publish: publish secret"))
            #expect(asked.contains("ListTopics: admin -"))
        }
    }

    @Test func aSubscriptionEndsWithUnauthenticatedWhenItsTokenExpires() async throws {
        try await withGRPCTestHub(authorizer: FakeAuthorizer()) { test in
            try await test.withClient { client in
                let clock = ContinuousClock()
                let start = clock.now
                let error = await #expect(throws: RPCError.self) {
                    try await client.subscribe(subscribeRequest("expiring"), metadata: self.bearer("brief")) {
                        for try await _ in $0.messages {}
                    }
                }
                #expect(error?.code == .unauthenticated)
                #expect(clock.now - start < .seconds(2))
                #expect(test.subscribers(of: "expiring") == 0)
            }
        }
    }

    @Test func generationsAskWithTheirTopicAndCarryTheOwner() async throws {
        let box = FakeBox()
        let authorizer = FakeAuthorizer()
        try await withGRPCTestHub(generations: box, authorizer: authorizer) { test in
            let fake = FakeGenerationService(hub: test.hub)
            box.set(fake)
            try await test.withClient { client in
                var request = Newsroom_V1_GenerationRequest()
                request.provider = "openai"
                request.request = "{}"
                request.topic = "secret"
                let error = await #expect(throws: RPCError.self) {
                    try await client.startGeneration(request, metadata: self.bearer("alice"))
                }
                #expect(error?.code == .permissionDenied)
                request.topic = "mine"
                let started = try await client.startGeneration(request, metadata: self.bearer("alice"))
                #expect(fake.requests.last?.owner == "alice")
                var cancel = Newsroom_V1_CancelRequest()
                cancel.generation = started.generation
                _ = try await client.cancelGeneration(cancel, metadata: self.bearer("alice"))
            }
            let asked = authorizer.asked.withLock { $0 }.map(\.description)
            #expect(asked.contains("StartGeneration: generate mine"))
            #expect(asked.contains("CancelGeneration: cancel mine"))
        }
    }
}
