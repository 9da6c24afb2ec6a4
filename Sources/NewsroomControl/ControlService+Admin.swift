import NewsroomAuth
import NewsroomCore

extension ControlService {
    /// What the operator's console shows: the whole hub at one moment.
    public struct AdminSnapshot: Sendable {
        /// One topic with its subscribers per transport.
        public struct TopicEntry: Sendable {
            public var topic: Topic.Snapshot
            /// Every transport of the hub in a fixed order (`sse`, `ws`, `grpc`, `grpc-web`), 0 when it has
            /// no subscriber of the topic.
            public var subscribersByTransport: [(transport: String, subscribers: Int)]
        }

        /// When the snapshot was taken (the hub's clock: ages are measured against it).
        public var time: Timestamp
        /// Every topic this node holds, sorted by name.
        public var topics: [TopicEntry]
        /// The generations this node runs, then the ones that ended most recently.
        public var generations: [GenerationInfo]
        /// The last errors the hub emitted, newest first.
        public var errors: [RecentErrors.Entry]
    }

    /// How many ended generations a snapshot lists after the running ones.
    static let endedGenerationsShown = 20

    /// Whether the operator's console may be served at all: with auth on it is (for `admin` tokens);
    /// with auth off only when ``Configuration/adminConsoleWithoutAuth`` turns it on.
    public var adminConsoleEnabled: Bool {
        self.requiresCredentials || self.configuration.adminConsoleWithoutAuth
    }

    /// Throws unless `principal` may use the operator's console: `admin_console_disabled`
    /// (``ControlError/Kind/permissionDenied``) when it is off, `forbidden` without `admin`.
    public func authorizeAdminConsole(_ principal: Principal) throws(ControlError) {
        guard self.adminConsoleEnabled else { throw Self.adminConsoleDisabled }
        try self.authorize(.administer, for: principal)
    }

    /// The refusal while the console is off.
    public static let adminConsoleDisabled = ControlError(
        .permissionDenied, code: "admin_console_disabled",
        message:
            "the operator's console is off because authentication is off (anyone who reaches the hub could cancel "
            + "every answer); start the hub with --admin-console to turn it on anyway, or turn authentication on "
            + "and open /admin?token=<a token with admin>")

    /// The operator's view of the hub (the console's `GET /v1/admin`).
    /// - Throws: `admin_console_disabled`, `forbidden` (see ``authorizeAdminConsole(_:)``).
    public func adminSnapshot(as principal: Principal) async throws(ControlError) -> AdminSnapshot {
        try self.authorizeAdminConsole(principal)
        let time = Timestamp.now()
        let topics = self.hub.snapshots().map { snapshot in
            AdminSnapshot.TopicEntry(topic: snapshot, subscribersByTransport: self.hub.subscribersByTransport(of: snapshot))
        }
        let generations = await self.generations?.recentGenerations(limit: Self.endedGenerationsShown) ?? []
        return AdminSnapshot(time: time, topics: topics, generations: generations, errors: self.hub.recentErrors.snapshot)
    }
}
