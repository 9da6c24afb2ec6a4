import GRPCCore
import GRPCNIOTransportHTTP2
import NewsroomAuth
import NewsroomCore
import NewsroomHTTP
import NewsroomProto
import NewsroomTesting
import Testing

/// Calls carry `authorization: Bearer <JWT>` metadata, verified by the control service with the same
/// capabilities as the HTTP API; a subscription ends when its token expires.
@Suite(.serialized, .timeLimit(.minutes(1))) struct AuthorizationTests {
    let tokens = TestTokens()

    func bearer(_ token: String) -> Metadata {
        var metadata = Metadata()
        metadata.addString("Bearer \(token)", forKey: "authorization")
        return metadata
    }

    @Test func subscribePublishAndListFollowTheTokensCapabilities() async throws {
        let alice = try await self.tokens.token(subject: "alice", subscribe: ["open"], publish: ["open"])
        let admin = try await self.tokens.token(subject: "root", admin: true)
        try await withGRPCTestHub(authenticator: try await self.tokens.authenticator()) { test in
            try test.hub.publish([text("x"), complete], to: "open")
            try await test.withClient { client in
                var error = await #expect(throws: RPCError.self) {
                    try await client.subscribe(subscribeRequest("open")) { for try await _ in $0.messages {} }
                }
                #expect(error?.code == .unauthenticated)
                error = await #expect(throws: RPCError.self) {
                    try await client.subscribe(subscribeRequest("open"), metadata: self.bearer("not-a-jwt")) {
                        for try await _ in $0.messages {}
                    }
                }
                #expect(error?.code == .unauthenticated)
                error = await #expect(throws: RPCError.self) {
                    try await client.subscribe(subscribeRequest("secret"), metadata: self.bearer(alice)) {
                        for try await _ in $0.messages {}
                    }
                }
                #expect(error?.code == .permissionDenied)
                let count = try await client.subscribe(subscribeRequest("open"), metadata: self.bearer(alice)) {
                    try await $0.messages.reduce(0) { count, _ in count + 1 }
                }
                #expect(count == 2)

                error = await #expect(throws: RPCError.self) {
                    try await client.publish(
                        metadata: self.bearer(alice),
                        requestProducer: { try await $0.write(publishRequest("secret", textEvent("x"))) })
                }
                #expect(error?.code == .permissionDenied)
                #expect(test.hub.snapshot(ofTopic: "secret") == nil)

                error = await #expect(throws: RPCError.self) {
                    try await client.listTopics(Newsroom_V1_ListTopicsRequest(), metadata: self.bearer(alice))
                }
                #expect(error?.code == .permissionDenied)
                let list = try await client.listTopics(Newsroom_V1_ListTopicsRequest(), metadata: self.bearer(admin))
                #expect(list.topics.map(\.name) == ["open"])
            }
        }
    }

    @Test func aSubscriptionEndsWithUnauthenticatedWhenItsTokenExpires() async throws {
        let brief = try await self.tokens.token(subject: "brief", subscribe: ["expiring"], expiresIn: 1.2)
        try await withGRPCTestHub(authenticator: try await self.tokens.authenticator()) { test in
            try await test.withClient { client in
                let clock = ContinuousClock()
                let start = clock.now
                let error = await #expect(throws: RPCError.self) {
                    try await client.subscribe(subscribeRequest("expiring"), metadata: self.bearer(brief)) {
                        for try await _ in $0.messages {}
                    }
                }
                #expect(error?.code == .unauthenticated)
                #expect(error?.metadata[stringValues: newsroomCodeKey].first(where: { _ in true }) == "token_expired")
                // It ran until the token expired (not refused at once), and ended then (not at the time limit).
                let lasted = clock.now - start
                #expect(lasted >= .milliseconds(900) && lasted < .seconds(10))
                #expect(test.subscribers(of: "expiring") == 0)
            }
        }
    }

    @Test func generationsNeedGenerateAndPublishOnTheirTopicAndCarryTheOwner() async throws {
        let box = FakeBox()
        let generateOnly = try await self.tokens.token(subject: "gen", generate: true)
        let alice = try await self.tokens.token(subject: "alice", publish: ["mine"], cancel: ["mine"], generate: true)
        try await withGRPCTestHub(generations: box, authenticator: try await self.tokens.authenticator()) { test in
            let fake = FakeGenerationService(hub: test.hub)
            box.set(fake)
            try await test.withClient { client in
                var request = Newsroom_V1_GenerationRequest()
                request.provider = "openai"
                request.request = "{}"
                request.topic = "mine"
                let error = await #expect(throws: RPCError.self) {
                    try await client.startGeneration(request, metadata: self.bearer(generateOnly))
                }
                #expect(error?.code == .permissionDenied)
                let started = try await client.startGeneration(request, metadata: self.bearer(alice))
                #expect(fake.requests.last?.owner == "alice")
                var cancel = Newsroom_V1_CancelRequest()
                cancel.generation = started.generation
                _ = try await client.cancelGeneration(cancel, metadata: self.bearer(alice))
                let denied = await #expect(throws: RPCError.self) {
                    try await client.cancelGeneration(cancel, metadata: self.bearer(generateOnly))
                }
                #expect(denied?.code == .permissionDenied)
                cancel.generation = "gen_unknown"
                let unknown = await #expect(throws: RPCError.self) {
                    try await client.cancelGeneration(cancel, metadata: self.bearer(generateOnly))
                }
                #expect(unknown?.code == .notFound)
            }
        }
    }
}
