import CoreMetrics
import Logging
import NIOCore
import NewsroomAuth
import NewsroomCore

/// The one control service every transport calls: publish, subscribe, cancel, generations, queries.
///
/// HTTP, WebSocket, gRPC and every later transport only parse their wire format, call this service, and
/// map its ``ControlError`` to their own status codes. Each rule and each limit is written here once:
/// - who may do what (``AccessPolicy``, from the token's capabilities; ``authenticate(token:)``),
/// - the publish rate limit and the subscriptions-per-connection limit,
/// - validation of topic names, resume points, policies and generation requests,
/// - whether a topic is sequenced by this node's ``Hub`` or shared through the ``Broker``.
///
/// The service holds no connection state; it is `Sendable` and shared by every connection. Methods that
/// may wait (a broker round trip, the generation service, a first sight of a token) are `async`;
/// ``subscribe(_:as:format:sink:)`` returns a future completed on the sink's event loop, because a
/// subscriber must be attached there.
public final class ControlService: Sendable {
    /// The topic layer.
    public let hub: Hub
    /// Runs generations; `nil` answers the generation operations with ``ControlError/Kind/unimplemented``.
    public let generations: (any GenerationService)?
    /// Shares topics with other nodes; `nil` for a single node.
    public let broker: (any Broker)?
    /// The settings.
    public let configuration: Configuration
    /// Who may do what.
    public let policy: AccessPolicy
    let authenticator: Authenticator?
    let publishRate: RateLimiter
    let metrics: ControlMetrics
    let logger: Logger

    /// Creates the service.
    /// - Parameters:
    ///   - hub: The topic layer.
    ///   - generations: The generation runner, or `nil` when generations are off.
    ///   - broker: The cross-node broker, or `nil` for a single node.
    ///   - authenticator: Verifies bearer tokens; `nil` turns auth off (every caller is
    ///     ``Principal/anonymous``).
    ///   - configuration: Limits and rules.
    ///   - logger: Where the service logs (never tokens or event content).
    ///   - metricsFactory: Where refusals are counted; the process-wide factory by default.
    public init(
        hub: Hub, generations: (any GenerationService)? = nil, broker: (any Broker)? = nil,
        authenticator: Authenticator? = nil, configuration: Configuration = .defaults,
        logger: Logger = Logger(label: "newsroom.control"), metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.hub = hub
        self.generations = generations
        self.broker = broker
        self.authenticator = authenticator
        self.configuration = configuration
        self.policy = AccessPolicy(metricsRequireAdmin: configuration.metricsRequireAdmin)
        self.publishRate = RateLimiter(rate: configuration.publishEventsPerSecond, burst: configuration.publishBurst)
        self.metrics = ControlMetrics(factory: metricsFactory ?? MetricsSystem.factory)
        self.logger = logger
    }

    // MARK: Access

    /// Whether callers must present a token (auth is on).
    public var requiresCredentials: Bool { self.authenticator != nil }

    /// The caller of a token verified before, without waiting: `nil` when the token must be verified
    /// with ``authenticate(token:)`` first. With auth off every caller is ``Principal/anonymous``.
    public func cachedAuthentication(token: String?) -> Result<Principal, ControlError>? {
        guard let authenticator = self.authenticator else { return .success(.anonymous) }
        guard let token else { return self.refused(.missingToken) }
        guard let result = authenticator.cachedResult(for: token) else { return nil }
        return result.mapError { self.refusal($0) }
    }

    /// The caller of a bearer token (`nil`: none was sent). With auth off every caller is
    /// ``Principal/anonymous``; with auth on a missing, invalid or expired token is
    /// ``ControlError/Kind/unauthenticated``.
    public func authenticate(token: String?) async -> Result<Principal, ControlError> {
        if let cached = self.cachedAuthentication(token: token) { return cached }
        guard let authenticator = self.authenticator, let token else { return self.refused(.missingToken) }
        return await authenticator.verify(token).mapError { self.refusal($0) }
    }

    private func refused(_ error: AuthError) -> Result<Principal, ControlError> {
        .failure(self.refusal(error))
    }

    private func refusal(_ error: AuthError) -> ControlError {
        self.metrics.authFailed(error.reason)
        return ControlError(error)
    }

    /// Throws ``ControlError/Kind/permissionDenied`` unless `principal` may do `operation` (and counts
    /// the refusal).
    public func authorize(_ operation: Operation, for principal: Principal) throws(ControlError) {
        do {
            try self.policy.check(operation, for: principal)
        } catch {
            self.metrics.authFailed("forbidden")
            throw error
        }
    }

    /// Throws unless `name` is a valid topic name.
    public static func validateTopic(_ name: String) throws(ControlError) {
        guard TopicName.isValid(name) else {
            throw ControlError(HubError.invalidTopicName(name))
        }
    }

    /// Checks a conversation id and the caller's right to announce on its topic (`generate` on
    /// `conversation:<id>`, as on the answer's topic).
    func authorizeConversation(_ id: String?, for principal: Principal) throws(ControlError) {
        guard let id else { return }
        guard TopicName.isValid(Conversation.topic(id)) else {
            throw ControlError.invalidArgument(
                "a conversation id is 1 to \(128 - "conversation:".count) characters of A-Z a-z 0-9 . _ : -",
                code: "invalid_conversation")
        }
        try self.authorize(.startGeneration(into: Conversation.topic(id)), for: principal)
    }

    /// Counts a refusal by a limit that a transport enforces itself (open connections).
    public func recordLimitRejection(_ limit: String) {
        self.metrics.limitRejected(limit)
    }

    /// Counts a refusal that a transport decides itself (a browser origin that may not open WebSockets).
    public func recordAuthFailure(_ reason: String) {
        self.metrics.authFailed(reason)
    }
}

extension ControlService {
    /// Verifies a token ahead of use, so that a later ``cachedAuthentication(token:)`` answers without
    /// waiting (a WebSocket upgrade verifies before the socket's handler exists). Counts nothing: the
    /// later lookup does.
    public func prepareAuthentication(token: String?) async {
        guard let authenticator = self.authenticator, let token else { return }
        _ = await authenticator.verify(token)
    }
}
