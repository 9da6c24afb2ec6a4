import AsyncHTTPClient
import GRPCCore
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The hub could not be reached, or the connection to it was lost, before it answered.
///
/// Thrown by ``HubClient`` when a request gets no answer, and by a ``Subscription`` that gives up
/// reconnecting (after ``SubscriptionOptions/maxRetries`` consecutive failed attempts) or meets a
/// failure that retrying would not heal (the hub's certificate is not trusted). Its ``description``
/// names the URL and the cause in a few words: `cannot reach http://127.0.0.1:8080/v1/topics/t/events:
/// connection refused`.
public struct HubConnectionError: Error, Sendable, CustomStringConvertible {
    /// The URL tried.
    public var url: String
    /// The cause in a few words (`connection refused`, `TLS handshake failed: …`, `connect timed out`).
    public var reason: String
    /// How many consecutive attempts failed (1 when nothing was retried).
    public var attempts: Int
    /// The error of the last attempt, as the networking library reported it.
    public var underlying: any Error

    public init(url: String, underlying: any Error, attempts: Int = 1) {
        self.url = url
        self.underlying = underlying
        self.reason = ConnectionFailure.describe(underlying)
        self.attempts = attempts
    }

    public var description: String {
        let retried = self.attempts > 1 ? " (after \(self.attempts) attempts)" : ""
        return "cannot reach \(self.url)\(retried): \(self.reason)"
    }
}

/// What the client library knows about connection failures: how to say them, and which ones a retry
/// cannot heal.
enum ConnectionFailure {
    /// The cause of `error` in a few words, looking through the wrappers of NIO, NIOSSL,
    /// AsyncHTTPClient and grpc-swift.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HubConnectionError:
            return error.reason
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return self.describe(first.error) }
            if let dns = error.dnsAError ?? error.dnsAAAAError {
                return "cannot resolve \(error.host): \(self.describe(dns))"
            }
            return "cannot connect to \(error.host):\(error.port)"
        case let error as IOError:
            return self.errnoDescription(error.errnoCode)
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return "connect timed out"
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return "the connection closed"
            default: return "\(error)"
            }
        case let error as NIOSSLError:
            switch error {
            case .handshakeFailed(let cause): return "TLS handshake failed: \(cause)"
            case .uncleanShutdown: return "the TLS connection closed without a close_notify"
            case .failedToLoadCertificate, .noSuchFilesystemObject:
                return "cannot load the trusted certificates (\(error))"
            default: return "TLS: \(error)"
            }
        case let error as NIOSSLExtraError:
            return "TLS: \(error)"
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout: return "connect timed out"
            case .remoteConnectionClosed: return "the hub closed the connection"
            case .readTimeout, .deadlineExceeded: return "no answer in time"
            default: return "\(error)"
            }
        case let error as RPCError:
            if let cause = error.cause { return self.describe(cause) }
            return "gRPC \(error.code): \(error.message)"
        case let error as SSEClientError:
            switch error {
            case .connectionClosed: return "the response ended before the topic's end"
            case .unexpectedStatus(let status): return "HTTP \(status)"
            case .errorResponse(let status, let body): return SubscriptionError(status: status, body: body).description
            }
        default:
            return "\(error)"
        }
    }

    /// Whether retrying cannot heal `error`: the hub's certificate is not trusted (or it does not speak
    /// TLS at all), or the trust roots cannot be loaded.
    static func isPermanent(_ error: any Error) -> Bool {
        switch error {
        case let error as NIOConnectionError:
            return error.connectionErrors.first.map { self.isPermanent($0.error) } ?? false
        case let error as NIOSSLError:
            switch error {
            case .handshakeFailed, .failedToLoadCertificate, .noSuchFilesystemObject, .unableToValidateCertificate,
                .noCertificateToValidate:
                return true
            default:
                return false
            }
        case is NIOSSLExtraError:
            return true
        case let error as RPCError:
            return error.cause.map(self.isPermanent) ?? false
        default:
            return false
        }
    }

    /// `connection refused`, `connection reset by peer`… (`strerror`, lowercased).
    private static func errnoDescription(_ code: CInt) -> String {
        guard let text = strerror(code).map({ String(cString: $0) }), !text.isEmpty else { return "errno \(code)" }
        return text.prefix(1).lowercased() + text.dropFirst()
    }
}
