import NIOCore
import NIOPosix
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomTesting
import Synchronization
import Testing

/// The control service with a real hub: each rule and limit, once, whatever the transport.
@Suite(.timeLimit(.minutes(1))) struct ControlServiceTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let tokens = TestTokens()

    func withControl<Result>(
        auth: Bool = false, generations: (any GenerationService)? = nil, broker: (any Broker)? = nil,
        configure: (inout ControlService.Configuration) -> Void = { _ in },
        _ body: (ControlService) async throws -> Result
    ) async throws -> Result {
        let authenticator = auth ? try await self.tokens.authenticator() : nil
        return try await withHub(encoders: [JSONFrameEncoder()], eventLoopGroup: Self.group) { hub in
            let control = ControlService(
                hub: hub, generations: generations, broker: broker, authenticator: authenticator,
                configuration: .defaults(configure: configure))
            return try await body(control)
        }
    }

    func principal(subscribe: [String] = [], publish: [String] = [], cancel: [String] = []) -> Principal {
        Principal(
            subject: "p", capabilities: Capabilities(subscribe: subscribe, publish: publish, cancel: cancel), expiresAt: nil)
    }

    // MARK: Authentication

    @Test func withAuthOffEveryCallerIsAnonymous() async throws {
        try await self.withControl { control in
            #expect(!control.requiresCredentials)
            let cached = try control.cachedAuthentication(token: nil)?.get()
            #expect(cached == .anonymous)
            let verified = try await control.authenticate(token: "anything").get()
            #expect(verified == .anonymous)
        }
    }

    @Test func withAuthOnTokensAreVerifiedAndCached() async throws {
        let token = try await self.tokens.token(subject: "alice", subscribe: ["chat:*"])
        try await self.withControl(auth: true) { control in
            let missing = await control.authenticate(token: nil)
            #expect(throws: ControlError(.unauthenticated, code: "unauthorized", message: AuthError.missingToken.message)) {
                try missing.get()
            }
            #expect(control.cachedAuthentication(token: token) == nil)  // never seen: must be verified
            let principal = try await control.authenticate(token: token).get()
            #expect(principal.subject == "alice")
            let cached = try control.cachedAuthentication(token: token)?.get()
            #expect(cached == principal)
            let bad = await control.authenticate(token: "a.b.c")
            #expect(throws: ControlError.self) { try bad.get() }
        }
    }

    @Test func anExpiredTokenIsTokenExpired() async throws {
        let token = try await self.tokens.token(subscribe: ["*"], expiresIn: -5)
        try await self.withControl(auth: true) { control in
            let result = await control.authenticate(token: token)
            let error = #expect(throws: ControlError.self) { try result.get() }
            #expect(error?.kind == .unauthenticated)
            #expect(error?.code == "token_expired")
        }
    }

    // MARK: Publish

    @Test func publishChecksTheNameTheRightAndTheBatch() async throws {
        try await self.withControl { control in
            let writer = self.principal(publish: ["chat:*"])
            let receipt = try await control.publish([.textDelta(TextDelta(text: "a"))], to: "chat:1", as: writer, from: "x")
            #expect(receipt.firstSeq == 1 && receipt.lastSeq == 1)
            await #expect(throws: ControlError.self) {
                try await control.publish([.textDelta(TextDelta(text: "a"))], to: "other", as: writer, from: "x")
            }
            let invalid = await #expect(throws: ControlError.self) {
                try await control.publish([.textDelta(TextDelta(text: "a"))], to: "bad name", as: writer, from: "x")
            }
            #expect(invalid?.code == "invalid_topic")
            let empty = await #expect(throws: ControlError.self) {
                try await control.publish([], to: "chat:1", as: writer, from: "x")
            }
            #expect(empty?.code == "invalid_event")
            // A refused publish creates no topic.
            #expect(control.hub.snapshot(ofTopic: "other") == nil)
        }
    }

    @Test func aPublishThatNeedsNoWaitIsDoneAtOnceWithTheSameChecksAndLimits() async throws {
        try await self.withControl(configure: {
            $0.publishEventsPerSecond = 0.001
            $0.publishBurst = 3
        }) { control in
            let writer = self.principal(publish: ["chat:*"])
            let a: [EventPayload] = [.textDelta(TextDelta(text: "a"))]
            let first = try control.publishAtOnce(a + a, to: "chat:1", as: writer, from: "x")
            #expect(first?.firstSeq == 1 && first?.lastSeq == 2)
            // The same sequence as the waiting path.
            let second = try await control.publish(a, to: "chat:1", as: writer, from: "x")
            #expect(second.firstSeq == 3)
            // The same refusals, thrown at once; a refused publish counts nothing.
            let forbidden = #expect(throws: ControlError.self) { try control.publishAtOnce(a, to: "other", as: writer, from: "y") }
            #expect(forbidden?.kind == .permissionDenied)
            let invalid = #expect(throws: ControlError.self) { try control.publishAtOnce(a, to: "bad name", as: writer, from: "y") }
            #expect(invalid?.code == "invalid_topic")
            let empty = #expect(throws: ControlError.self) { try control.publishAtOnce([], to: "chat:1", as: writer, from: "y") }
            #expect(empty?.code == "invalid_event")
            let window = #expect(throws: ControlError.self) {
                try control.publishAtOnce(a, to: "chat:1", as: writer, from: "y", flushInterval: .seconds(3600))
            }
            #expect(window?.code == "invalid_flush_interval")
            // The rate limit is shared with the waiting path: "x" spent its burst of 3 above.
            let limited = #expect(throws: ControlError.self) { try control.publishAtOnce(a, to: "chat:1", as: writer, from: "x") }
            #expect(limited?.code == "rate_limited")
            #expect(control.hub.snapshot(ofTopic: "other") == nil)
        }
    }

    @Test func withABrokerAPublishIsNeverDoneAtOnce() async throws {
        let broker = FakeBroker()
        try await self.withControl(broker: broker, configure: {
            $0.publishEventsPerSecond = 0.001
            $0.publishBurst = 1
        }) { control in
            broker.attach(control.hub)
            let a: [EventPayload] = [.textDelta(TextDelta(text: "a"))]
            // The broker sequences every node's events: the caller must take the waiting path, and the
            // declined attempt spent nothing of its rate limit.
            #expect(try control.publishAtOnce(a, to: "t", as: .anonymous, from: "x") == nil)
            #expect(broker.calls.isEmpty)
            let receipt = try await control.publish(a, to: "t", as: .anonymous, from: "x")
            #expect(receipt.firstSeq == 1)
            #expect(broker.calls == ["publish t"])
        }
    }

    @Test func thePublishRateLimitIsPerSubjectWithAuthAndPerAddressWithout() async throws {
        try await self.withControl(configure: {
            $0.publishEventsPerSecond = 1
            $0.publishBurst = 2
        }) { control in
            let events: [EventPayload] = [.textDelta(TextDelta(text: "a")), .textDelta(TextDelta(text: "b"))]
            _ = try await control.publish(events, to: "t", as: .anonymous, from: "10.0.0.1")
            let limited = await #expect(throws: ControlError.self) {
                try await control.publish(events, to: "t", as: .anonymous, from: "10.0.0.1")
            }
            #expect(limited?.kind == .rateLimited)
            #expect((limited?.retryAfterSeconds ?? 0) >= 1)
            // Another address has its own bucket.
            _ = try await control.publish(events, to: "t", as: .anonymous, from: "10.0.0.2")
        }
    }

    // MARK: Subscribe

    @Test func subscribeChecksTheRightAndAttachesOnTheSinksLoop() async throws {
        try await self.withControl { control in
            let hub = control.hub
            try hub.publish([.textDelta(TextDelta(text: "a")), .textDelta(TextDelta(text: "b"))], to: "chat:1")
            let loop = Self.group.next()
            let sink = try await loop.submit { RecordingSink(eventLoop: loop) }.get()
            let format = hub.format(named: "json")!
            let denied = await #expect(throws: ControlError.self) {
                try await control.subscribe(
                    SubscriptionRequest(topic: "chat:1"), as: self.principal(publish: ["*"]), format: format, sink: sink
                ).get()
            }
            #expect(denied?.kind == .permissionDenied)
            let subscriber = try await control.subscribe(
                SubscriptionRequest(topic: "chat:1", after: 1), as: self.principal(subscribe: ["chat:*"]), format: format,
                sink: sink
            ).get()
            #expect(subscriber.topic.name == "chat:1")
            let seqs = try await loop.submit { sink.events.compactMap(\.seq) }.get()
            #expect(seqs == [2])
            try await loop.submit { subscriber.cancel() }.get()
        }
    }

    @Test func aResumePointAtTheEndOfAnEndedTopicIsEnded() async throws {
        try await self.withControl { control in
            let hub = control.hub
            try hub.publish([.textDelta(TextDelta(text: "a")), .streamComplete(StreamComplete(finishReason: .stop))], to: "t")
            let loop = Self.group.next()
            let sink = try await loop.submit { RecordingSink(eventLoop: loop) }.get()
            let error = await #expect(throws: ControlError.self) {
                try await control.subscribe(
                    SubscriptionRequest(topic: "t", after: 2), as: .anonymous, format: hub.format(named: "json")!, sink: sink
                ).get()
            }
            #expect(error?.kind == .ended)
        }
    }

    @Test func aSubscriptionEndsWhenItsCallersTokenExpires() async throws {
        try await self.withControl { control in
            let loop = Self.group.next()
            let sink = try await loop.submit { RecordingSink(eventLoop: loop) }.get()
            let soon = Timestamp(millisecondsSince1970: Timestamp.now().millisecondsSince1970 + 150)
            let caller = Principal(subject: "s", capabilities: Capabilities(subscribe: ["*"]), expiresAt: soon)
            _ = try await control.subscribe(
                SubscriptionRequest(topic: "t"), as: caller, format: control.hub.format(named: "json")!, sink: sink
            ).get()
            try await Task.sleep(for: .milliseconds(400))
            let reason = try await loop.submit { sink.closeReason }.get()
            #expect(reason == .tokenExpired)
        }
    }

    @Test func aConnectionMayHoldAtMostTheConfiguredSubscriptions() async throws {
        try await self.withControl(configure: { $0.maxSubscriptionsPerConnection = 2 }) { control in
            try control.admitSubscription(alreadyHeld: 1)
            let error = #expect(throws: ControlError.self) { try control.admitSubscription(alreadyHeld: 2) }
            #expect(error?.kind == .limitReached)
            #expect(error?.code == "subscription_limit")
        }
    }

    @Test(arguments: ["0", "42", " 7", "7\t", " \t12  ", "007", "9223372036854775807"])
    func resumePoints(text: String) throws {
        #expect(try SubscriptionRequest.resumePoint(text) == Int(text.filter { $0 != " " && $0 != "\t" }))
    }

    @Test(arguments: [
        "", " ", "-1", "1 2", "1\t2", "1.5", "abc", "+3", "0x10", "9223372036854775808", "9999999999999999999",
        "12345678901234567890",
    ])
    func invalidResumePoints(text: String) {
        let error = #expect(throws: ControlError.self) { try SubscriptionRequest.resumePoint(text) }
        #expect(error?.code == "invalid_resume")
    }

    // MARK: Cancel and queries

    @Test func cancellingATopicEndsItAndIsIdempotent() async throws {
        try await self.withControl { control in
            let canceller = self.principal(cancel: ["t"])
            await #expect(throws: ControlError.self) { try await control.cancelTopic("t", as: canceller) }  // no topic
            try control.hub.publish(.textDelta(TextDelta(text: "a")), to: "t")
            let first = try await control.cancelTopic("t", as: canceller)
            #expect(first.topic.state == .ended)
            let again = try await control.cancelTopic("t", as: canceller)
            #expect(again.topic.state == .ended)
            let denied = await #expect(throws: ControlError.self) {
                try await control.cancelTopic("t", as: self.principal(subscribe: ["*"]))
            }
            #expect(denied?.kind == .permissionDenied)
        }
    }

    @Test func generationOperationsWithoutAGenerationServiceAreUnimplemented() async throws {
        try await self.withControl { control in
            let error = await #expect(throws: ControlError.self) { try await control.generation("g", as: .anonymous) }
            #expect(error?.kind == .unimplemented)
        }
    }

    @Test func topicsNeedsAdmin() async throws {
        try await self.withControl { control in
            #expect(throws: ControlError.self) { try control.topics(as: self.principal(subscribe: ["*"])) }
            let topics = try control.topics(as: .anonymous)
            #expect(topics.isEmpty)
        }
    }
}

/// The operator's console: who may use it, and what its snapshot holds.
@Suite(.timeLimit(.minutes(1))) struct AdminConsoleAccessTests {
    let base = ControlServiceTests()

    @Test func withAuthOffTheConsoleIsOffUnlessTurnedOn() async throws {
        try await self.base.withControl { control in
            #expect(!control.adminConsoleEnabled)
            #expect(throws: ControlService.adminConsoleDisabled) { try control.authorizeAdminConsole(.anonymous) }
            await #expect(throws: ControlService.adminConsoleDisabled) { _ = try await control.adminSnapshot(as: .anonymous) }
            #expect(ControlService.adminConsoleDisabled.message.contains("--admin-console"))
            #expect(ControlService.adminConsoleDisabled.kind == .permissionDenied)
        }
        try await self.base.withControl(configure: { $0.adminConsoleWithoutAuth = true }) { control in
            #expect(control.adminConsoleEnabled)
            try control.authorizeAdminConsole(.anonymous)
            try control.hub.publish(.error(StreamError(code: "boom", message: "m", retryable: false)), to: "t")
            let snapshot = try await control.adminSnapshot(as: .anonymous)
            #expect(snapshot.topics.map(\.topic.name) == ["t"])
            #expect(snapshot.topics.first?.subscribersByTransport.map(\.transport) == ["test"])
            #expect(snapshot.errors.map(\.code) == ["boom"])
            #expect(snapshot.generations.isEmpty)
        }
    }

    @Test func withAuthOnTheConsoleNeedsAdmin() async throws {
        try await self.base.withControl(auth: true) { control in
            #expect(control.adminConsoleEnabled)
            let viewer = self.base.principal(subscribe: ["*"], publish: ["*"], cancel: ["*"])
            let refusal = #expect(throws: ControlError.self) { try control.authorizeAdminConsole(viewer) }
            #expect(refusal?.code == "forbidden" && refusal?.kind == .permissionDenied)
            let admin = Principal(subject: "ops", capabilities: .all, expiresAt: nil)
            try control.authorizeAdminConsole(admin)
            _ = try await control.adminSnapshot(as: admin)
        }
    }
}
