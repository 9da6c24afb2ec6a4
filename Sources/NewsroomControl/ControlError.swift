import NewsroomAuth
import NewsroomCore

/// Why the control service refused or could not complete an operation.
///
/// Every transport maps ``kind`` to its own form — an HTTP status, a WebSocket close code or error
/// reply, a gRPC status, a Socket.IO error — and passes ``code`` and ``message`` to the client as they
/// are: the code is a stable snake_case name (`invalid_topic`, `forbidden`, `rate_limited`, …), the
/// message is safe to show (it never holds a token or model output).
public struct ControlError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of an error, which decides each transport's status.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Wrapped: String, Hashable, Sendable {
            case invalidArgument = "invalid_argument"
            case unauthenticated
            case permissionDenied = "permission_denied"
            case notFound = "not_found"
            case conflict
            case ended
            case rateLimited = "rate_limited"
            case limitReached = "limit_reached"
            case unavailable
            case unimplemented
            case `internal`
        }
        let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The request is malformed or names something invalid (HTTP 400, gRPC `INVALID_ARGUMENT`).
        public static let invalidArgument = Kind(.invalidArgument)
        /// No valid credentials (HTTP 401, WebSocket 4001, gRPC `UNAUTHENTICATED`).
        public static let unauthenticated = Kind(.unauthenticated)
        /// Valid credentials without the capability (HTTP 403, WebSocket 4003, gRPC `PERMISSION_DENIED`).
        public static let permissionDenied = Kind(.permissionDenied)
        /// No such topic or generation (HTTP 404, gRPC `NOT_FOUND`).
        public static let notFound = Kind(.notFound)
        /// The state forbids it: the topic ended, a generation already runs there (HTTP 409,
        /// gRPC `FAILED_PRECONDITION`).
        public static let conflict = Kind(.conflict)
        /// A resume point at the very end of an ended topic: there is nothing more to send. Not a
        /// failure: HTTP 204, WebSocket close 1000, gRPC `OK` with no message.
        public static let ended = Kind(.ended)
        /// A rate limit; retry after ``ControlError/retryAfterSeconds`` (HTTP 429, gRPC `RESOURCE_EXHAUSTED`).
        public static let rateLimited = Kind(.rateLimited)
        /// A capacity limit of the hub (topics, subscribers, subscriptions per connection, running
        /// generations) (HTTP 503 or 429 with `Retry-After`, WebSocket 1013, gRPC `RESOURCE_EXHAUSTED`).
        public static let limitReached = Kind(.limitReached)
        /// The hub is shutting down or a dependency (the broker) is down (HTTP 503, gRPC `UNAVAILABLE`).
        public static let unavailable = Kind(.unavailable)
        /// The feature is not enabled on this hub (HTTP 501, gRPC `UNIMPLEMENTED`).
        public static let unimplemented = Kind(.unimplemented)
        /// A bug (HTTP 500, gRPC `INTERNAL`); the message says nothing more.
        public static let `internal` = Kind(.internal)

        public var description: String { self.wrapped.rawValue }
    }

    public var kind: Kind
    /// The snake_case code clients see.
    public var code: String
    /// A message safe to show to the client.
    public var message: String
    /// For ``Kind/rateLimited`` and ``Kind/limitReached``: when to try again.
    public var retryAfterSeconds: Int?

    public init(_ kind: Kind, code: String, message: String, retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(self.code): \(self.message)" }

    /// An invalid argument with code `bad_request` (or another code).
    public static func invalidArgument(_ message: String, code: String = "bad_request") -> ControlError {
        ControlError(.invalidArgument, code: code, message: message)
    }

    /// No such thing.
    public static func notFound(_ message: String) -> ControlError {
        ControlError(.notFound, code: "not_found", message: message)
    }

    /// An error nobody but the logs should see the details of.
    public static let internalError = ControlError(.internal, code: "internal", message: "internal error")

    /// The generation methods on a hub without a generation service.
    static let generationsDisabled = ControlError(
        .unimplemented, code: "unsupported", message: "generations are not enabled on this hub")
}

extension ControlError {
    /// The control view of a topic-layer error.
    public init(_ error: HubError) {
        let kind: Kind
        var retryAfter: Int?
        switch error.code {
        case .invalidTopicName, .invalidEvent: kind = .invalidArgument
        case .topicEnded, .notOwner: kind = .conflict
        case .nothingAfterEnd: kind = .ended
        case .topicNotFound: kind = .notFound
        case .topicLimitReached, .subscriberLimitReached:
            kind = .limitReached
            retryAfter = 5
        case .shuttingDown, .brokerUnavailable, .outOfSequence: kind = .unavailable
        case .overloaded:
            kind = .unavailable
            retryAfter = 1
        default: kind = .internal
        }
        self.init(kind, code: error.code.name, message: error.message, retryAfterSeconds: retryAfter)
    }

    /// The control view of a generation that could not be started.
    public init(_ error: GenerationError) {
        let kind: Kind
        switch error.code {
        case .unknownProvider, .badRequest, .providerNotConfigured: kind = .invalidArgument
        case .topicBusy: kind = .conflict
        case .tooManyGenerations: kind = .rateLimited
        case .shuttingDown: kind = .unavailable
        default: kind = .internal
        }
        self.init(
            kind, code: error.code.rawValue, message: error.message,
            retryAfterSeconds: error.code == .tooManyGenerations ? (error.retryAfterSeconds ?? 1) : nil)
    }

    /// The control view of a refused credential or capability.
    public init(_ error: AuthError) {
        if error.code == .forbidden {
            self.init(.permissionDenied, code: "forbidden", message: error.message)
        } else {
            self.init(
                .unauthenticated, code: error.reason == "token_expired" ? "token_expired" : "unauthorized",
                message: error.message)
        }
    }
}
