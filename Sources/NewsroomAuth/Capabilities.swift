import NewsroomCore

/// What a token allows, per topic pattern.
///
/// Topic lists hold exact names or prefixes ending in `*` (`chat:*` matches `chat:42`); a lone `*`
/// matches every topic. `admin` allows everything, including the management endpoints.
public struct Capabilities: Sendable, Hashable {
    public var subscribe: [String]
    public var publish: [String]
    public var cancel: [String]
    public var generate: Bool
    public var admin: Bool

    public init(subscribe: [String] = [], publish: [String] = [], cancel: [String] = [], generate: Bool = false, admin: Bool = false) {
        self.subscribe = subscribe
        self.publish = publish
        self.cancel = cancel
        self.generate = generate
        self.admin = admin
    }

    /// Everything (auth off, or an admin token).
    public static let all = Capabilities(subscribe: ["*"], publish: ["*"], cancel: ["*"], generate: true, admin: true)

    /// What a principal may do to a topic.
    public struct Action: Hashable, Sendable, CustomStringConvertible {
        let name: String
        private init(_ name: String) { self.name = name }
        public static let subscribe = Action("subscribe")
        public static let publish = Action("publish")
        public static let cancel = Action("cancel")
        public var description: String { self.name }
    }

    /// Whether `action` is allowed on `topic`.
    public func allows(_ action: Action, topic: String) -> Bool {
        if self.admin { return true }
        let patterns: [String] =
            switch action {
            case .subscribe: self.subscribe
            case .publish: self.publish
            default: self.cancel
            }
        return patterns.contains { Self.matches($0, topic) }
    }

    static func matches(_ pattern: String, _ topic: String) -> Bool {
        if pattern.hasSuffix("*") {
            return topic.hasPrefix(pattern.dropLast())
        }
        return pattern == topic
    }
}

/// Who made a request: the token's subject and what it allows.
public struct Principal: Sendable, Hashable {
    /// The `sub` claim (or `anonymous` when auth is off).
    public var subject: String
    public var capabilities: Capabilities
    /// When the token stops being accepted (`exp` plus the leeway); a live subscription is ended then.
    public var expiresAt: Timestamp?

    public init(subject: String, capabilities: Capabilities, expiresAt: Timestamp?) {
        self.subject = subject
        self.capabilities = capabilities
        self.expiresAt = expiresAt
    }

    /// The principal of every request when auth is off.
    public static let anonymous = Principal(subject: "anonymous", capabilities: .all, expiresAt: nil)
}

/// Why a request is not allowed. Transports map ``Code/unauthenticated`` to 401 / WebSocket close 4001
/// / gRPC `UNAUTHENTICATED`, and ``Code/forbidden`` to 403 / 4003 / `PERMISSION_DENIED`.
public struct AuthError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        let name: String
        private init(_ name: String) { self.name = name }
        /// No token, or a token that is malformed, badly signed, expired, not yet valid, or for another
        /// audience or issuer.
        public static let unauthenticated = Code("unauthenticated")
        /// A valid token without the capability.
        public static let forbidden = Code("forbidden")
    }

    public var code: Code
    /// Safe to show to the client (never contains the token).
    public var message: String
    /// A short machine-readable reason (`missing_token`, `invalid_token`, `token_expired`, …), a metric label.
    public var reason: String

    public init(code: Code, reason: String, message: String) {
        self.code = code
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(self.code.name): \(self.message)" }

    public static let missingToken = AuthError(
        code: .unauthenticated, reason: "missing_token",
        message: "a token is required: Authorization: Bearer <JWT> (or ?token= for EventSource and WebSocket)")

    public static func forbidden(_ action: Capabilities.Action, topic: String) -> AuthError {
        AuthError(code: .forbidden, reason: "forbidden", message: "the token does not allow \(action) on '\(topic)'")
    }

    public static func forbidden(_ what: String) -> AuthError {
        AuthError(code: .forbidden, reason: "forbidden", message: "the token does not allow \(what)")
    }
}
