import NewsroomControl
import NewsroomCore

/// A gRPC status (gRPC's `doc/statuscodes.md`) with the hub's snake_case code in the `newsroom-code`
/// trailer, so clients can tell, say, a slow consumer from a topic limit.
struct GRPCStatus: Error, Hashable, Sendable {
    /// The canonical status codes.
    enum Code: Int, Sendable {
        case ok = 0, cancelled, unknown, invalidArgument, deadlineExceeded, notFound, alreadyExists
        case permissionDenied, resourceExhausted, failedPrecondition, aborted, outOfRange, unimplemented
        case `internal`, unavailable, dataLoss, unauthenticated

        /// The lower-case canonical name (`resource_exhausted`), a metric label.
        var name: String {
            switch self {
            case .ok: "ok"
            case .cancelled: "cancelled"
            case .unknown: "unknown"
            case .invalidArgument: "invalid_argument"
            case .deadlineExceeded: "deadline_exceeded"
            case .notFound: "not_found"
            case .alreadyExists: "already_exists"
            case .permissionDenied: "permission_denied"
            case .resourceExhausted: "resource_exhausted"
            case .failedPrecondition: "failed_precondition"
            case .aborted: "aborted"
            case .outOfRange: "out_of_range"
            case .unimplemented: "unimplemented"
            case .internal: "internal"
            case .unavailable: "unavailable"
            case .dataLoss: "data_loss"
            case .unauthenticated: "unauthenticated"
            }
        }
    }

    /// The trailer holding the hub's snake_case code.
    static let newsroomCodeKey = "newsroom-code"

    var code: Code
    var message: String
    /// Extra trailers (`newsroom-code`, `grpc-retry-pushback-ms`, `newsroom-last-seq`, …).
    var metadata: [(String, String)]

    init(_ code: Code, _ message: String = "", metadata: [(String, String)] = []) {
        self.code = code
        self.message = message
        self.metadata = metadata
    }

    static let ok = GRPCStatus(.ok)

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.message)
    }

    /// The status for a control-service error: its kind decides the code.
    init(_ error: ControlError) {
        let code: Code
        switch error.kind {
        case .invalidArgument: code = .invalidArgument
        case .unauthenticated: code = .unauthenticated
        case .permissionDenied: code = .permissionDenied
        case .notFound: code = .notFound
        case .conflict: code = .failedPrecondition
        case .ended: code = .ok
        case .rateLimited, .limitReached: code = .resourceExhausted
        case .unavailable: code = .unavailable
        case .unimplemented: code = .unimplemented
        default: code = .internal
        }
        var metadata = [(Self.newsroomCodeKey, error.code)]
        if let seconds = error.retryAfterSeconds {
            // gRFC A6's server pushback, in milliseconds: a client that retries waits this long.
            metadata.append(("grpc-retry-pushback-ms", String(seconds * 1000)))
        }
        self.init(code, error.message, metadata: metadata)
    }

    /// The status that ends a `Subscribe` call the hub closed for `reason` (OK for the topic's end).
    init(_ reason: DisconnectReason) {
        let code: Code
        switch reason {
        case .streamEnded: code = .ok
        case .slowConsumer: code = .resourceExhausted
        case .shutdown: code = .unavailable
        case .topicRemoved: code = .notFound
        case .tokenExpired: code = .unauthenticated
        default: code = reason.isNormal ? .ok : reason.retryable ? .unavailable : .aborted
        }
        self.init(code, code == .ok ? "" : reason.message, metadata: code == .ok ? [] : [(Self.newsroomCodeKey, reason.code)])
    }

    /// The trailers that carry the status: `grpc-status`, `grpc-message` (percent-encoded, gRPC over
    /// HTTP/2 "Status-Message"), then the metadata.
    var trailers: [(String, String)] {
        var trailers = [("grpc-status", String(self.code.rawValue))]
        if !self.message.isEmpty { trailers.append(("grpc-message", Self.percentEncoded(self.message))) }
        return trailers + self.metadata
    }

    /// Percent-encodes a status message: bytes outside printable ASCII (0x20–0x7E) and `%` become
    /// `%XX` of their UTF-8 bytes.
    static func percentEncoded(_ message: String) -> String {
        var result = ""
        result.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "%") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }
}
