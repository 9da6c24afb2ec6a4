import GRPCCore
import NewsroomCore

/// How the hub's errors and disconnect reasons become gRPC statuses (the table in the `.proto`'s
/// service comment). The hub's snake_case code travels in the trailing metadata
/// ``RPCError/newsroomCodeKey`` so clients can tell, say, a slow consumer from a topic limit.
extension RPCError {
    /// Trailing-metadata key holding the hub's snake_case code (`slow_consumer`, `topic_ended`, …).
    public static let newsroomCodeKey = "newsroom-code"

    init(code: RPCError.Code, newsroomCode: String, message: String) {
        var metadata = Metadata()
        metadata.addString(newsroomCode, forKey: Self.newsroomCodeKey)
        self.init(code: code, message: message, metadata: metadata)
    }

    /// The status for a topic-layer error.
    init(_ error: HubError) {
        let code: RPCError.Code
        switch error.code {
        case .invalidTopicName, .invalidEvent: code = .invalidArgument
        case .topicEnded, .nothingAfterEnd: code = .failedPrecondition
        case .topicLimitReached, .subscriberLimitReached: code = .resourceExhausted
        case .topicNotFound: code = .notFound
        case .shuttingDown, .brokerUnavailable: code = .unavailable
        case .notOwner: code = .failedPrecondition
        case .outOfSequence: code = .aborted
        default: code = .internalError
        }
        self.init(code: code, newsroomCode: error.code.name, message: error.message)
    }

    /// The status for a generation that could not be started.
    init(_ error: GenerationError) {
        let code: RPCError.Code
        switch error.code {
        case .unknownProvider, .badRequest: code = .invalidArgument
        case .topicBusy: code = .failedPrecondition
        case .tooManyGenerations: code = .resourceExhausted
        case .shuttingDown: code = .unavailable
        default: code = .internalError
        }
        var metadata = Metadata()
        metadata.addString(error.code.rawValue, forKey: Self.newsroomCodeKey)
        if let seconds = error.retryAfterSeconds {
            // gRFC A6's server pushback, in milliseconds: a client that retries waits this long.
            metadata.addString(String(seconds * 1000), forKey: "grpc-retry-pushback-ms")
        }
        self.init(code: code, message: error.message, metadata: metadata)
    }

    /// The status that ends a `Subscribe` call the hub closed for `reason` (not a normal end).
    init(_ reason: DisconnectReason) {
        let code: RPCError.Code
        switch reason {
        case .slowConsumer: code = .resourceExhausted
        case .shutdown: code = .unavailable
        case .topicRemoved: code = .notFound
        case .tokenExpired: code = .unauthenticated
        default: code = reason.retryable ? .unavailable : .aborted
        }
        self.init(code: code, newsroomCode: reason.code, message: reason.message)
    }
}
