import NewsroomAuth
import Testing

/// What a token's topic patterns allow: exact names, `prefix*` patterns, a lone `*`, `admin`, and
/// one list per action.
@Suite("Capabilities")
struct CapabilitiesTests {
    /// One pattern against one topic.
    struct MatchCase: Sendable, CustomTestStringConvertible {
        let pattern: String
        let topic: String
        let matches: Bool
        var testDescription: String { "'\(self.pattern)' \(self.matches ? "matches" : "does not match") '\(self.topic)'" }
    }

    static let matchCases: [MatchCase] = [
        // Exact names: the whole name, case-sensitive.
        MatchCase(pattern: "chat:42", topic: "chat:42", matches: true),
        MatchCase(pattern: "chat:42", topic: "chat:421", matches: false),
        MatchCase(pattern: "chat:42", topic: "chat:4", matches: false),
        MatchCase(pattern: "chat:42", topic: "Chat:42", matches: false),
        MatchCase(pattern: "demo", topic: "demo2", matches: false),
        // `prefix*`: every topic that starts with the prefix.
        MatchCase(pattern: "chat:*", topic: "chat:42", matches: true),
        MatchCase(pattern: "chat:*", topic: "chat:42:thread", matches: true),
        MatchCase(pattern: "chat:*", topic: "chat", matches: false),
        MatchCase(pattern: "chat:*", topic: "chatroom", matches: false),
        MatchCase(pattern: "chat:*", topic: "xchat:1", matches: false),
        MatchCase(pattern: "chat:*", topic: "CHAT:1", matches: false),
        // The documented prefix rule is a plain string prefix, not a segment match: `chat*` covers
        // `chatroom` as well as `chat` itself.
        MatchCase(pattern: "chat*", topic: "chatroom", matches: true),
        MatchCase(pattern: "chat*", topic: "chat", matches: true),
        MatchCase(pattern: "chat*", topic: "cha", matches: false),
        // Only a trailing `*` is a wildcard; one elsewhere is a literal character.
        MatchCase(pattern: "a*b", topic: "axxb", matches: false),
        MatchCase(pattern: "a*b", topic: "a*b", matches: true),
        // A lone `*`: every topic.
        MatchCase(pattern: "*", topic: "chat:42", matches: true),
        MatchCase(pattern: "*", topic: "x", matches: true),
        MatchCase(pattern: "*", topic: "gen_abc-123.ok", matches: true),
    ]

    static let actions: [Capabilities.Action] = [.subscribe, .publish, .cancel]

    /// Capabilities with `patterns` in `action`'s list only.
    static func only(_ action: Capabilities.Action, _ patterns: [String]) -> Capabilities {
        switch action {
        case .subscribe: Capabilities(subscribe: patterns)
        case .publish: Capabilities(publish: patterns)
        default: Capabilities(cancel: patterns)
        }
    }

    @Test("a pattern in an action's list", arguments: matchCases, actions)
    func patternMatching(_ c: MatchCase, action: Capabilities.Action) {
        let capabilities = Self.only(action, [c.pattern])
        #expect(capabilities.allows(action, topic: c.topic) == c.matches)
    }

    @Test("a topic is allowed when any of the patterns matches", arguments: actions)
    func anyPatternOfSeveral(_ action: Capabilities.Action) {
        let capabilities = Self.only(action, ["demo", "chat:*", "room-7"])
        #expect(capabilities.allows(action, topic: "demo"))
        #expect(capabilities.allows(action, topic: "chat:1"))
        #expect(capabilities.allows(action, topic: "room-7"))
        #expect(!capabilities.allows(action, topic: "room-8"))
        #expect(!capabilities.allows(action, topic: "demo:1"))
    }

    @Test("empty lists deny everything, whatever the other flags", arguments: [
        Capabilities(),
        Capabilities(generate: true),
        Capabilities(subscribe: [], publish: [], cancel: [], generate: true, admin: false),
    ], actions)
    func emptyListsDeny(_ capabilities: Capabilities, action: Capabilities.Action) {
        for topic in ["x", "chat:42", "*", ""] {
            #expect(!capabilities.allows(action, topic: topic), "topic '\(topic)'")
        }
    }

    @Test("admin allows every action on every topic, even with empty lists", arguments: [
        Capabilities(admin: true),
        Capabilities(subscribe: ["only-this"], publish: [], cancel: [], generate: false, admin: true),
        Capabilities.all,
    ], actions)
    func adminAllowsEverything(_ capabilities: Capabilities, action: Capabilities.Action) {
        for topic in ["x", "chat:42", "other", "gen_1"] {
            #expect(capabilities.allows(action, topic: topic), "topic '\(topic)'")
        }
    }

    /// Each action reads its own list and no other.
    struct ListCase: Sendable, CustomTestStringConvertible {
        let action: Capabilities.Action
        let topic: String
        let allowed: Bool
        var testDescription: String { "\(self.action) on '\(self.topic)' → \(self.allowed ? "allowed" : "denied")" }
    }

    static let separate = Capabilities(subscribe: ["s"], publish: ["p"], cancel: ["c"], generate: true)

    @Test("each action reads its own list", arguments: [
        ListCase(action: .subscribe, topic: "s", allowed: true),
        ListCase(action: .subscribe, topic: "p", allowed: false),
        ListCase(action: .subscribe, topic: "c", allowed: false),
        ListCase(action: .publish, topic: "s", allowed: false),
        ListCase(action: .publish, topic: "p", allowed: true),
        ListCase(action: .publish, topic: "c", allowed: false),
        ListCase(action: .cancel, topic: "s", allowed: false),
        ListCase(action: .cancel, topic: "p", allowed: false),
        ListCase(action: .cancel, topic: "c", allowed: true),
    ])
    func eachActionReadsItsOwnList(_ c: ListCase) {
        #expect(Self.separate.allows(c.action, topic: c.topic) == c.allowed)
    }

    @Test("a lone * in one list does not leak into the others", arguments: actions)
    func wildcardStaysInItsList(_ action: Capabilities.Action) {
        let capabilities = Self.only(action, ["*"])
        for other in Self.actions {
            #expect(capabilities.allows(other, topic: "anything") == (other == action), "\(other)")
        }
    }

    @Test("Capabilities.all and the anonymous principal allow everything")
    func allAndAnonymous() {
        let all = Capabilities.all
        #expect(all.admin && all.generate)
        #expect(all.subscribe == ["*"] && all.publish == ["*"] && all.cancel == ["*"])
        #expect(Principal.anonymous.subject == "anonymous")
        #expect(Principal.anonymous.capabilities == .all)
        #expect(Principal.anonymous.expiresAt == nil)
    }

    @Test("action names and forbidden errors name the action and the topic", arguments: [
        (Capabilities.Action.subscribe, "subscribe"), (.publish, "publish"), (.cancel, "cancel"),
    ])
    func actionNamesAndForbiddenErrors(_ action: Capabilities.Action, name: String) {
        #expect(action.description == name)
        let error = AuthError.forbidden(action, topic: "secret")
        #expect(error.code == .forbidden)
        #expect(error.reason == "forbidden")
        #expect(error.message == "the token does not allow \(name) on 'secret'")
    }

    @Test("the missing-token error is unauthenticated, not forbidden")
    func missingToken() {
        #expect(AuthError.missingToken.code == .unauthenticated)
        #expect(AuthError.missingToken.reason == "missing_token")
        #expect(AuthError.forbidden("listing topics").code == .forbidden)
        #expect(AuthError.forbidden("listing topics").message == "the token does not allow listing topics")
    }
}
