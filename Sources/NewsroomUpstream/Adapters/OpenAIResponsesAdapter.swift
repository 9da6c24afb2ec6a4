import NIOCore
import NewsroomCore
import NewsroomWire

/// OpenAI Responses API streaming (`POST {base}/v1/responses`).
///
/// Request: `"stream": true` is forced; the key goes in `Authorization: Bearer`.
///
/// Stream (PROVIDERS.md §2): typed events `event: <type>` whose JSON repeats `type`; no `[DONE]`.
/// - `response.output_text.delta`, `response.refusal.delta` → `text_delta`;
///   `response.reasoning_summary_text.delta`, `response.reasoning_text.delta` → `reasoning_delta`.
/// - `response.output_item.added` with a `function_call` item starts a call (id = the item's `call_id`,
///   which is what a client returns; deltas reference the item's `id`, so both are mapped);
///   `response.function_call_arguments.delta` appends; `.done` (or `output_item.done`) ends it with the
///   restated complete arguments.
/// - `response.completed` → `stream_complete` (`stop`, or `tool_calls` after function calls) with
///   `response.usage`; `response.incomplete` → `length` / `content_filter` from
///   `incomplete_details.reason`; `response.failed` and `error` (flat or nested) → `error`.
/// - `*.done` events never append text (they restate it); unknown event types are ignored.
public struct OpenAIResponsesAdapter: UpstreamAdapter {
    public var name: String { "openai-responses" }

    public init() {}

    public func makeRequest(body: JSONValue, provider: UpstreamProvider) throws(GenerationError) -> UpstreamRequest {
        var object = try RequestBody.object(body)
        object["stream"] = .bool(true)
        return .json(
            url: provider.baseURL + "/v1/responses", body: .object(object), model: object["model"]?.nonEmptyString,
            accept: "text/event-stream", auth: RequestBody.bearer(provider), provider: provider)
    }

    public func makeDecoder(context: UpstreamStreamContext) -> any UpstreamDecoder {
        Decoder(context: context)
    }

    /// The per-stream state machine.
    struct Decoder: SSEStreamDecoding {
        var parser = SSEParser()
        var assembler: StreamAssembler
        var skippedChunks = 0
        /// Function-call item id → the assembler key (its `output_index`).
        private var callKeys: [String: Int] = [:]

        init(context: UpstreamStreamContext) {
            self.assembler = StreamAssembler(context: context)
        }

        mutating func handle(_ event: ServerSentEvent) {
            guard let object = self.json(event) else { return }
            let type = object["type"]?.stringValue ?? event.type
            switch type {
            case "response.created", "response.in_progress", "response.queued":
                self.assembler.start(model: object["response"]?["model"]?.nonEmptyString)
            case "response.output_text.delta", "response.refusal.delta":
                self.assembler.text(object["delta"]?.stringValue ?? "")
            case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
                self.assembler.reasoning(object["delta"]?.stringValue ?? "")
            case "response.output_item.added":
                guard let item = object["item"]?.objectValue, item["type"]?.stringValue == "function_call" else {
                    return
                }
                let key = object["output_index"]?.intValue ?? self.callKeys.count
                if let itemID = item["id"]?.stringValue { self.callKeys[itemID] = key }
                self.assembler.beginToolCall(
                    key: key, index: self.assembler.toolCallCount,
                    id: item["call_id"]?.stringValue ?? item["id"]?.stringValue, name: item["name"]?.stringValue ?? "",
                    arguments: item["arguments"]?.stringValue ?? "")
            case "response.function_call_arguments.delta":
                guard let key = self.key(object) else { return }
                self.assembler.toolArguments(key: key, fragment: object["delta"]?.stringValue ?? "")
            case "response.function_call_arguments.done":
                guard let key = self.key(object) else { return }
                self.assembler.endToolCall(key: key, arguments: object["arguments"]?.stringValue)
            case "response.output_item.done":
                guard let item = object["item"]?.objectValue, item["type"]?.stringValue == "function_call",
                    let key = self.key(object)
                else { return }
                self.assembler.endToolCall(key: key, arguments: item["arguments"]?.stringValue)
            case "response.completed":
                self.takeUsage(object["response"])
                self.assembler.complete(.stop, providerReason: "completed")
            case "response.incomplete":
                self.takeUsage(object["response"])
                let reason = object["response"]?["incomplete_details"]?["reason"]?.stringValue
                let normalized: FinishReason = reason == "content_filter" ? .contentFilter : .length
                self.assembler.complete(normalized, providerReason: reason ?? "incomplete")
            case "response.failed":
                self.takeUsage(object["response"])
                let error = object["response"]?["error"] ?? .object([:])
                self.assembler.fail(
                    UpstreamErrorClassifier.streamError(.object(["error": error])), providerReason: "failed")
            case "error":
                self.assembler.fail(UpstreamErrorClassifier.streamError(.object(object)))
            default:
                break
            }
        }

        private func key(_ object: [String: JSONValue]) -> Int? {
            if let itemID = object["item_id"]?.stringValue ?? object["item"]?["id"]?.stringValue,
                let key = self.callKeys[itemID]
            {
                return key
            }
            return object["output_index"]?.intValue
        }

        private mutating func takeUsage(_ response: JSONValue?) {
            guard let usage = response?["usage"]?.objectValue else { return }
            self.assembler.usage = Usage(
                inputTokens: usage["input_tokens"]?.intValue, outputTokens: usage["output_tokens"]?.intValue)
        }
    }
}
