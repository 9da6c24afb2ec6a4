import NewsroomCore

/// Why the hub ended a subscription for good: it refused it (an HTTP status, a WebSocket close code, a
/// gRPC status that retrying will not heal), or it sent a notice that is not retryable.
public struct SubscriptionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The HTTP status (or its equivalent for a WebSocket close code or a gRPC status) when the hub
    /// refused the subscription; `nil` for a notice.
    public var status: Int?
    /// The hub's error code (`forbidden`, `invalid_topic`, `topic_removed`…), when it sent one.
    public var code: String?
    /// The hub's explanation.
    public var message: String

    public init(status: Int?, code: String? = nil, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// A refusal whose body may be the hub's `{"error":{"code","message"}}`.
    init(status: Int, body: String) {
        let parsed = HubErrorBody(body)
        self.init(status: status, code: parsed.code, message: parsed.message)
    }

    /// A notice without a `seq` (an `error` event about this connection).
    init(notice: StreamError) {
        self.init(status: nil, code: notice.code, message: notice.message)
    }

    /// `403 forbidden: …`, `400: …` or `topic_removed: …`.
    public var description: String {
        let head = [self.status.map(String.init), self.code].compactMap { $0 }.joined(separator: " ")
        return head.isEmpty ? self.message : "\(head): \(self.message)"
    }

    /// Whether an HTTP status refuses for good: a client error other than 408 (timeout) and 429 (too
    /// many requests). Server errors (a hub limit's 503, a proxy's 502 while the hub restarts) are retried.
    static func isPermanent(status: Int) -> Bool {
        (400..<500).contains(status) && status != 408 && status != 429
    }
}

/// A WebSocket subscription's connection closed before the topic ended, with a close code that a
/// retry may heal (1001 shutdown or missed pongs, 1013 a hub limit, 4008 slow consumer), or dropped.
public struct WebSocketSubscriptionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The close code the hub sent, or `nil` when the connection dropped without a close frame.
    public var closeCode: Int?
    /// The close frame's reason, if any.
    public var reason: String = ""

    public var description: String {
        guard let closeCode = self.closeCode else { return "the WebSocket connection dropped" }
        return "the WebSocket closed with \(closeCode)" + (self.reason.isEmpty ? "" : " (\(self.reason))")
    }
}

/// The hub's error body, `{"error":{"code":"…","message":"…"}}` (README, "HTTP API"); anything else is
/// kept as the message.
struct HubErrorBody {
    var code: String?
    var message: String

    init(_ body: String) {
        if let json = try? JSONValue.parse(Array(body.utf8)), let error = json["error"],
            let message = error["message"]?.stringValue
        {
            self.code = error["code"]?.stringValue
            self.message = message
        } else {
            self.code = nil
            let trimmed = body.trimmingWhitespace()
            self.message = trimmed.count > 300 ? String(trimmed.prefix(300)) + "…" : trimmed
        }
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = self.firstIndex(where: { !isSpace($0) }), let last = self.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(self[first...last])
    }
}
