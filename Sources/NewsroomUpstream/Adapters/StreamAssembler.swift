import NewsroomCore

/// The provider-independent half of every decoder: turns "the provider said X" into standard events
/// in the right order, and keeps the invariants every stream must satisfy.
///
/// - `stream_start` comes first, exactly once (emitted lazily before the first other event).
/// - A tool call is announced with a `tool_call_delta` carrying its id and name, grows with further
///   `tool_call_delta`s, and ends with exactly one `tool_call` holding the complete arguments (`{}` when
///   none were sent).
/// - Exactly one `stream_complete` ends the stream, preceded by an `error` when it failed. Once it has
///   been emitted, everything else is ignored.
///
/// A value type driven by one decoder; ``drain()`` hands the accumulated events to the caller.
struct StreamAssembler {
    /// A tool call whose arguments are still streaming.
    private struct OpenToolCall {
        var index: Int
        var callID: String
        var name: String
        var arguments: String
    }

    let context: UpstreamStreamContext
    private var events: [EventPayload] = []
    private(set) var started = false
    private(set) var isFinished = false
    /// The model the provider reported (or the requested one).
    private(set) var model: String?
    /// The latest usage the provider reported; providers send cumulative counts, so it is replaced.
    /// A negative count (a broken upstream) is dropped: events must stay valid for the hub's clients.
    var usage: Usage? {
        didSet {
            if let count = self.usage?.inputTokens, count < 0 { self.usage?.inputTokens = nil }
            if let count = self.usage?.outputTokens, count < 0 { self.usage?.outputTokens = nil }
        }
    }
    /// Open tool calls by the decoder's key, in the order they started.
    private var openCalls: [Int: OpenToolCall] = [:]
    private var openOrder: [Int] = []
    /// Whether any tool call was made (for the "plain stop means tool_calls" rule).
    private(set) var sawToolCalls = false
    private(set) var toolCallCount = 0

    init(context: UpstreamStreamContext) {
        self.context = context
        self.model = context.requestedModel
    }

    /// An upstream's choice or tool-call index as events carry it: 0 when it is out of the range
    /// `EventDecoder` accepts (0...1_000_000), so a broken upstream cannot make the hub publish events
    /// its clients reject.
    static func eventIndex(_ index: Int) -> Int {
        (0...1_000_000).contains(index) ? index : 0
    }

    /// Hands over the events made since the last call.
    mutating func drain() -> [EventPayload] {
        defer { self.events.removeAll(keepingCapacity: true) }
        return self.events
    }

    /// Emits `stream_start` if it has not been emitted, naming `model` (the stream's, if it says).
    mutating func start(model: String? = nil) {
        guard !self.started, !self.isFinished else { return }
        if let model, !model.isEmpty { self.model = model }
        self.started = true
        self.events.append(
            .streamStart(
                StreamStart(generation: self.context.generation, provider: self.context.provider, model: self.model)))
    }

    mutating func text(_ text: String, index: Int = 0) {
        guard !text.isEmpty, !self.isFinished else { return }
        self.start()
        self.events.append(.textDelta(TextDelta(text: text, index: Self.eventIndex(index))))
    }

    mutating func reasoning(_ text: String, index: Int = 0) {
        guard !text.isEmpty, !self.isFinished else { return }
        self.start()
        self.events.append(.reasoningDelta(ReasoningDelta(text: text, index: Self.eventIndex(index))))
    }

    /// Whether a tool call with this key is streaming.
    func hasOpenToolCall(key: Int) -> Bool { self.openCalls[key] != nil }

    /// Starts a streamed tool call and announces it with a `tool_call_delta` (id, name, first fragment).
    /// - Parameters:
    ///   - key: The decoder's key for the call (tool-call index, content block index, item id hash…).
    ///   - index: The tool call's index in the event.
    ///   - id: The provider's call id; `call_<index>` when the provider gives none.
    mutating func beginToolCall(key: Int, index: Int, id: String?, name: String, arguments: String = "") {
        guard !self.isFinished else { return }
        if self.openCalls[key] != nil { self.endToolCall(key: key) }
        self.start()
        let index = Self.eventIndex(index)
        let callID = (id?.isEmpty == false ? id! : "call_\(index)")
        self.openCalls[key] = OpenToolCall(index: index, callID: callID, name: name, arguments: arguments)
        self.openOrder.append(key)
        self.sawToolCalls = true
        self.toolCallCount += 1
        self.events.append(
            .toolCallDelta(ToolCallDelta(index: index, callID: callID, name: name, argumentsDelta: arguments)))
    }

    /// Appends a fragment of a streaming call's arguments; ignored for an unknown key.
    mutating func toolArguments(key: Int, fragment: String) {
        guard !self.isFinished, !fragment.isEmpty, var call = self.openCalls[key] else { return }
        call.arguments += fragment
        self.openCalls[key] = call
        self.events.append(
            .toolCallDelta(ToolCallDelta(index: call.index, callID: call.callID, argumentsDelta: fragment)))
    }

    /// Ends a streaming call: emits its `tool_call` with the complete arguments.
    /// - Parameter arguments: The complete arguments when the provider restates them (they win).
    mutating func endToolCall(key: Int, arguments: String? = nil) {
        guard !self.isFinished, let call = self.openCalls.removeValue(forKey: key) else { return }
        self.openOrder.removeAll { $0 == key }
        var complete = arguments ?? call.arguments
        if complete.allSatisfy(\.isWhitespace) { complete = "{}" }
        self.events.append(
            .toolCall(ToolCall(index: call.index, callID: call.callID, name: call.name, arguments: complete)))
    }

    /// Ends every streaming call, in the order they started.
    mutating func endAllToolCalls() {
        self.endToolCalls { _ in true }
    }

    /// Ends the streaming calls whose key matches, in the order they started.
    mutating func endToolCalls(where matches: (Int) -> Bool) {
        for key in self.openOrder where matches(key) { self.endToolCall(key: key) }
    }

    /// Emits a tool call that arrived complete (Ollama, Gemini): one `tool_call`, no deltas.
    mutating func completeToolCall(index: Int, id: String?, name: String, arguments: String) {
        guard !self.isFinished else { return }
        self.start()
        self.sawToolCalls = true
        self.toolCallCount += 1
        let index = Self.eventIndex(index)
        let callID = (id?.isEmpty == false ? id! : "call_\(index)")
        self.events.append(
            .toolCall(
                ToolCall(
                    index: index, callID: callID, name: name,
                    arguments: arguments.allSatisfy(\.isWhitespace) ? "{}" : arguments)))
    }

    /// Ends the stream normally: closes open tool calls, then emits `stream_complete`.
    ///
    /// A plain `stop` after tool calls is reported as `tool_calls` (Gemini `STOP`, Ollama `stop`, TGI
    /// chat), keeping the provider's own word in `provider_finish_reason`.
    mutating func complete(_ reason: FinishReason, providerReason: String?) {
        guard !self.isFinished else { return }
        self.start()
        self.endAllToolCalls()
        let normalized = (reason == .stop && self.sawToolCalls) ? .toolCalls : reason
        self.isFinished = true
        self.events.append(
            .streamComplete(
                StreamComplete(finishReason: normalized, providerFinishReason: providerReason, usage: self.usage)))
    }

    /// Ends the stream with an error: `error`, then `stream_complete(error)`. Open tool calls are dropped
    /// (their arguments are incomplete); the output before stays in the topic.
    mutating func fail(_ error: StreamError, providerReason: String? = nil) {
        guard !self.isFinished else { return }
        self.start()
        self.isFinished = true
        self.openCalls.removeAll()
        self.openOrder.removeAll()
        self.events.append(.error(error))
        self.events.append(
            .streamComplete(
                StreamComplete(finishReason: .error, providerFinishReason: providerReason, usage: self.usage)))
    }

    /// Ends a stream that stopped before its success terminator.
    mutating func truncated() {
        self.fail(
            StreamError(
                code: UpstreamErrorCode.upstreamProtocol,
                message: "the upstream stream ended before its end marker (truncated); the output so far is kept",
                retryable: true))
    }
}

/// The `error` codes of upstream failures.
public enum UpstreamErrorCode {
    /// 429, `rate_limit_error`, `RESOURCE_EXHAUSTED`.
    public static let rateLimited = "rate_limited"
    /// 529, `overloaded_error`, TGI `overloaded`.
    public static let overloaded = "overloaded"
    /// 401, 403: the key is missing, wrong or lacks permission.
    public static let authFailed = "auth_failed"
    /// Other 4xx: the provider rejected the request.
    public static let badRequest = "bad_request"
    /// 5xx, connection refused or lost, a provider's internal error.
    public static let upstreamUnavailable = "upstream_unavailable"
    /// A connect, first-byte, idle or total timeout.
    public static let upstreamTimeout = "upstream_timeout"
    /// The stream broke its own format: truncated, or not the expected content type.
    public static let upstreamProtocol = "upstream_protocol"

    /// Every code, for metrics.
    public static let all = [
        rateLimited, overloaded, authFailed, badRequest, upstreamUnavailable, upstreamTimeout, upstreamProtocol,
    ]
}
