import GRPCCore
import NewsroomControl
import NewsroomCore

/// How the control service's errors and the hub's disconnect reasons become gRPC statuses (the table in
/// the `.proto`'s service comment). The hub's snake_case code travels in the trailing metadata
/// ``RPCError/newsroomCodeKey`` so clients can tell, say, a slow consumer from a topic limit.
extension RPCError {
    /// Trailing-metadata key holding the hub's snake_case code (`slow_consumer`, `topic_ended`, …).
    public static let newsroomCodeKey = "newsroom-code"

    init(code: RPCError.Code, newsroomCode: String, message: String) {
        var metadata = Metadata()
        metadata.addString(newsroomCode, forKey: Self.newsroomCodeKey)
        self.init(code: code, message: message, metadata: metadata)
    }

    /// The status for a control-service error: its kind decides the code.
    init(_ error: ControlError) {
        let code: RPCError.Code
        switch error.kind {
        case .invalidArgument: code = .invalidArgument
        case .unauthenticated: code = .unauthenticated
        case .permissionDenied: code = .permissionDenied
        case .notFound: code = .notFound
        case .conflict: code = .failedPrecondition
        case .rateLimited, .limitReached: code = .resourceExhausted
        case .unavailable: code = .unavailable
        case .unimplemented: code = .unimplemented
        default: code = .internalError
        }
        var metadata = Metadata()
        metadata.addString(error.code, forKey: Self.newsroomCodeKey)
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
