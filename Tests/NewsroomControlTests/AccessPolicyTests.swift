import NewsroomAuth
import NewsroomControl
import Testing

@Suite struct AccessPolicyTests {
    static let topic = "chat:42"

    /// Every operation against every kind of token: the one table the transports inherit.
    @Test(arguments: [
        // (operation, capabilities, allowed)
        (Operation.subscribe(topic), Capabilities(subscribe: ["chat:*"]), true),
        (Operation.subscribe(topic), Capabilities(publish: ["chat:*"], cancel: ["*"]), false),
        (Operation.readTopic(topic), Capabilities(subscribe: [topic]), true),
        (Operation.readTopic(topic), Capabilities(publish: [topic]), false),
        (Operation.publish(topic), Capabilities(publish: ["chat:4*"]), true),
        (Operation.publish(topic), Capabilities(subscribe: ["*"]), false),
        (Operation.cancelTopic(topic), Capabilities(cancel: [topic]), true),
        (Operation.cancelTopic(topic), Capabilities(subscribe: ["*"], publish: ["*"]), false),
        (Operation.startGeneration(into: nil), Capabilities(generate: true), true),
        (Operation.startGeneration(into: nil), Capabilities(subscribe: ["*"], publish: ["*"], cancel: ["*"]), false),
        (Operation.startGeneration(into: topic), Capabilities(generate: true), false),
        (Operation.startGeneration(into: topic), Capabilities(publish: [topic], generate: true), true),
        (Operation.readGeneration(on: topic), Capabilities(subscribe: [topic]), true),
        (Operation.readGeneration(on: topic), Capabilities(cancel: [topic]), false),
        (Operation.cancelGeneration(on: topic), Capabilities(cancel: [topic]), true),
        (Operation.cancelGeneration(on: topic), Capabilities(subscribe: [topic], generate: true), false),
        (Operation.listTopics, Capabilities(subscribe: ["*"], publish: ["*"], cancel: ["*"], generate: true), false),
        (Operation.listTopics, Capabilities(admin: true), true),
        (Operation.administer, Capabilities(subscribe: ["*"]), false),
        (Operation.readMetrics, Capabilities(), true),
    ])
    func capabilityDecides(operation: Operation, capabilities: Capabilities, allowed: Bool) {
        let principal = Principal(subject: "u", capabilities: capabilities, expiresAt: nil)
        #expect(AccessPolicy().allows(operation, for: principal) == allowed)
    }

    @Test func adminAndAnonymousMayDoEverything() {
        let operations: [Operation] = [
            .subscribe("a"), .readTopic("a"), .listTopics, .publish("a"), .cancelTopic("a"),
            .startGeneration(into: "a"), .startGeneration(into: nil), .readGeneration(on: "a"),
            .cancelGeneration(on: "a"), .readMetrics, .administer,
        ]
        let admin = Principal(subject: "root", capabilities: Capabilities(admin: true), expiresAt: nil)
        let policy = AccessPolicy(metricsRequireAdmin: true)
        for operation in operations {
            #expect(policy.allows(operation, for: admin), "\(operation)")
            #expect(policy.allows(operation, for: .anonymous), "\(operation)")
        }
    }

    @Test func privateMetricsNeedAdmin() {
        let viewer = Principal(subject: "v", capabilities: Capabilities(subscribe: ["*"]), expiresAt: nil)
        #expect(!AccessPolicy(metricsRequireAdmin: true).allows(.readMetrics, for: viewer))
        #expect(AccessPolicy(metricsRequireAdmin: false).allows(.readMetrics, for: viewer))
    }

    @Test func refusalsNameTheOperationAndTopic() throws {
        let viewer = Principal(subject: "v", capabilities: Capabilities(subscribe: ["*"]), expiresAt: nil)
        let error = #expect(throws: ControlError.self) {
            try AccessPolicy().check(.publish("secret"), for: viewer)
        }
        #expect(error?.kind == .permissionDenied)
        #expect(error?.code == "forbidden")
        #expect(error?.message == "the token does not allow publish on 'secret'")
    }

    @Test(arguments: [
        ("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer abc", "abc"), ("BEARER\tabc", "abc"),
        ("Bearer  abc", "abc"),
    ])
    func bearerTokens(header: String, token: String) {
        #expect(Credentials.bearerToken(authorization: header) == token)
    }

    @Test(arguments: ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "abc", "", "Bearer "])
    func notBearerTokens(header: String) {
        #expect(Credentials.bearerToken(authorization: header) == nil)
    }
}
