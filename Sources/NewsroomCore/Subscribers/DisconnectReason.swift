/// Why the hub ended a subscription. Each transport maps it to its own form: an SSE `error` event then
/// the end of the response, a WebSocket close code, a gRPC status.
public struct DisconnectReason: Hashable, Sendable, CustomStringConvertible {
    /// A snake_case code (the `code` of the `error` event a transport may send).
    public let code: String
    /// A human-readable explanation.
    public let message: String
    /// Whether the client may reconnect and resume from its last id.
    public let retryable: Bool
    /// Whether the subscription ended normally (its topic ended), so no error is reported.
    public let isNormal: Bool

    public init(code: String, message: String, retryable: Bool, isNormal: Bool = false) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.isNormal = isNormal
    }

    /// The topic ended (`stream_complete` or a terminal `error` was delivered).
    public static let streamEnded = DisconnectReason(
        code: "stream_ended", message: "the stream ended", retryable: false, isNormal: true)
    /// The subscriber's queue overflowed under the `disconnect` (or `coalesce`) policy.
    public static let slowConsumer = DisconnectReason(
        code: "slow_consumer", message: "the subscriber could not keep up; resume from the last received id",
        retryable: true)
    /// The hub is shutting down.
    public static let shutdown = DisconnectReason(
        code: "server_shutdown", message: "the server is shutting down; resume from the last received id",
        retryable: true)
    /// The topic was removed from the hub (retention expired or the hub ran out of history space).
    public static let topicRemoved = DisconnectReason(
        code: "topic_removed", message: "the topic was removed", retryable: false)
    /// The shared history was lost (the broker's store restarted empty): reconnect to learn where to
    /// resume from.
    public static let historyLost = DisconnectReason(
        code: "history_lost", message: "the topic's shared history was lost; reconnect", retryable: true)
    /// The subscriber's credentials expired while it was subscribed: refresh them and resume.
    public static let tokenExpired = DisconnectReason(
        code: "token_expired", message: "the token expired; refresh it and resume from the last received id",
        retryable: true)
    /// The client ended the subscription (closed the connection, reset the stream, unsubscribed).
    public static let clientGone = DisconnectReason(
        code: "client_gone", message: "the client went away", retryable: false, isNormal: true)

    public var description: String { self.code }
}
