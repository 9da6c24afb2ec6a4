import GRPCCore
import NewsroomCore

/// Decides whether a call may do what it asks, from its metadata (typically `authorization: Bearer …`).
///
/// The gRPC module knows no token format: the composition root adapts its authenticator to this protocol
/// (as the HTTP listener does with its own). The service asks once per call, after it has read the topic
/// the call is about, and before it touches the hub. Reading a topic (`GetTopic`) or a generation
/// (`GetGeneration`) is asked as ``GRPCAccess/Action/subscribe`` on that topic, listing every topic as
/// ``GRPCAccess/Action/admin``, as on the HTTP API.
public protocol GRPCAuthorizer: Sendable {
    /// Authorizes one call.
    /// - Parameters:
    ///   - access: What the call asks for.
    ///   - metadata: The call's request metadata.
    /// - Returns: Who is calling and until when the permission holds; a subscription still open at
    ///   ``GRPCGrant/expiresAt`` ends with `UNAUTHENTICATED` (retryable with a fresh token: resume with `after`).
    /// - Throws: `RPCError` with `UNAUTHENTICATED` (missing, invalid or expired credentials) or
    ///   `PERMISSION_DENIED` (valid, but not allowed to do this).
    func authorize(_ access: GRPCAccess, metadata: Metadata) async throws(RPCError) -> GRPCGrant
}

/// What a call asks to do, for a ``GRPCAuthorizer``.
public struct GRPCAccess: Sendable, Hashable, CustomStringConvertible {
    /// A kind of access.
    public struct Action: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        /// Receive a topic's events, or read the state of a topic or of a generation.
        public static let subscribe = Action("subscribe")
        /// Publish events to a topic.
        public static let publish = Action("publish")
        /// Start a generation (into ``GRPCAccess/topic`` when the request names one).
        public static let generate = Action("generate")
        /// Cancel a generation running on a topic.
        public static let cancel = Action("cancel")
        /// The management view: every topic.
        public static let admin = Action("admin")
        public var description: String { self.name }
    }

    public var action: Action
    /// The topic concerned; `nil` when there is none (a generation into a new topic, a listing, a
    /// generation id the hub does not know).
    public var topic: String?
    /// The method (`Subscribe`, `Publish`, …), for logs and metrics.
    public var method: String

    public init(action: Action, topic: String?, method: String) {
        self.action = action
        self.topic = topic
        self.method = method
    }

    public var description: String { "\(self.method): \(self.action) \(self.topic ?? "-")" }
}

/// What a ``GRPCAuthorizer`` grants.
public struct GRPCGrant: Sendable, Hashable {
    /// Who is calling (a token's subject), used as a generation's owner; `nil` when anonymous.
    public var subject: String?
    /// When the permission ends (a token's expiry); `nil` for never.
    public var expiresAt: Timestamp?

    public init(subject: String? = nil, expiresAt: Timestamp? = nil) {
        self.subject = subject
        self.expiresAt = expiresAt
    }

    /// Everyone may do everything (no authorizer configured).
    public static let anonymous = GRPCGrant()
}

extension DisconnectReason {
    /// The subscriber's credentials expired while it was subscribed (`UNAUTHENTICATED`; refresh and resume).
    static let tokenExpired = DisconnectReason(
        code: "token_expired", message: "the token expired; refresh it and resume from the last received seq",
        retryable: true)
}
