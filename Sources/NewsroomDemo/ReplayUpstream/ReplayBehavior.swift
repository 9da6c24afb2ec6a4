import NIOCore

/// How the ``ReplayUpstream`` misbehaves for one request.
///
/// Chosen per request with the `x-replay-behavior` header or a `"replay_behavior"` string in the JSON
/// body: comma-separated items.
///
/// | item | effect |
/// |---|---|
/// | `stall-after=N` | send N events, then nothing more (the connection stays open) |
/// | `cut-after=N` | send N events, then close the connection mid-response |
/// | `fail=S` or `fail=SxK` | answer the first K (default 1) attempts with HTTP status S and a JSON error, then serve the transcript. Attempts are counted per transcript name and behaviour string. |
/// | `retry-after=S` | with `fail`: send `retry-after: S` (seconds) |
/// | `retry-after-ms=MS` | with `fail`: send `retry-after-ms: MS` |
/// | `keepalive` or `keepalive=MS` | send a keep-alive (`:` comment for SSE, an empty line for NDJSON) every second (or MS) between events |
/// | `chunk=random` or `chunk=random:SEED` | write each event in random small pieces, flushed one by one |
/// | `delay=MS` | the delay between events (instead of the server's ``ReplayUpstream/Configuration/eventDelay``) |
/// | `first-byte-delay=MS` | send the response head at once but the first body byte only after MS |
///
/// Example: `x-replay-behavior: fail=429x1,retry-after=1` — the first attempt gets a 429 asking to wait
/// a second, the retry gets the transcript.
public struct ReplayBehavior: Sendable, Hashable {
    public var stallAfter: Int?
    public var cutAfter: Int?
    public var failStatus: Int?
    public var failCount = 1
    public var retryAfter: String?
    public var retryAfterMilliseconds: String?
    public var keepAlive: TimeAmount?
    public var randomChunks = false
    public var chunkSeed: UInt64?
    public var eventDelay: TimeAmount?
    public var firstByteDelay: TimeAmount?

    public init() {}

    /// Parses a behaviour string; unknown items are ignored.
    public init(parsing text: String) {
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
            let key = parts[0]
            let value = parts.count > 1 ? parts[1] : nil
            func milliseconds() -> TimeAmount? { value.flatMap { Int64($0) }.map { .milliseconds($0) } }
            switch key {
            case "stall-after": self.stallAfter = value.flatMap { Int($0) }
            case "cut-after": self.cutAfter = value.flatMap { Int($0) }
            case "fail":
                let spec = (value ?? "500").split(separator: "x")
                self.failStatus = Int(spec[0])
                if spec.count > 1 { self.failCount = Int(spec[1]) ?? 1 }
            case "retry-after": self.retryAfter = value
            case "retry-after-ms": self.retryAfterMilliseconds = value
            case "keepalive": self.keepAlive = milliseconds() ?? .seconds(1)
            case "chunk":
                self.randomChunks = true
                if let value, let colon = value.firstIndex(of: ":") {
                    self.chunkSeed = UInt64(value[value.index(after: colon)...])
                }
            case "delay": self.eventDelay = milliseconds()
            case "first-byte-delay": self.firstByteDelay = milliseconds()
            default: break
            }
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
