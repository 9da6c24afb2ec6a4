import NIOCore
import NewsroomCore
import NewsroomWire

/// Anthropic Messages streaming (`POST {base}/v1/messages`).
///
/// Request: `"stream": true` is forced; the key goes in `x-api-key`, with `anthropic-version:
/// 2023-06-01` (a configured extra header of the same name replaces it).
///
/// Stream (PROVIDERS.md §3): `event: <type>` + JSON; ends with `message_stop`.
/// - `message_start` → `stream_start` (model) and the input token count.
/// - `content_block_start` `tool_use` starts a call keyed by the block index;
///   `input_json_delta.partial_json` appends; `content_block_stop` emits the `tool_call` (`{}` when the
///   tool took no arguments).
/// - `text_delta` → `text_delta`; `thinking_delta` → `reasoning_delta`; `signature_delta`,
///   `redacted_thinking` and `citations_delta` are opaque metadata, not text; `ping` is not forwarded.
/// - `message_delta` holds `stop_reason` and cumulative usage (replaced, not added); `message_stop` →
///   `stream_complete`.
/// - `event: error` (e.g. `overloaded_error`) → `error`, classified by the error's type.
public struct AnthropicAdapter: UpstreamAdapter {
    public var name: String { "anthropic" }

    /// The `anthropic-version` header sent unless configured otherwise.
    public static let apiVersion = "2023-06-01"

    public init() {}

    public func makeRequest(body: JSONValue, provider: UpstreamProvider) throws(GenerationError) -> UpstreamRequest {
        var object = try RequestBody.object(body)
        object["stream"] = .bool(true)
        var auth: [(String, String)] = [("anthropic-version", Self.apiVersion)]
        if let key = provider.apiKey, !key.isEmpty { auth.append(("x-api-key", key)) }
        return .json(
            url: provider.baseURL + "/v1/messages", body: .object(object), model: object["model"]?.nonEmptyString,
            accept: "text/event-stream", auth: auth, provider: provider)
    }

    public func makeDecoder(context: UpstreamStreamContext) -> any UpstreamDecoder {
        Decoder(context: context)
    }

    /// The per-stream state machine.
    struct Decoder: SSEStreamDecoding {
        var parser = SSEParser()
        var assembler: StreamAssembler
        var skippedChunks = 0
        private var stopReason: String?
        private var inputTokens: Int?
        private var outputTokens: Int?

        init(context: UpstreamStreamContext) {
            self.assembler = StreamAssembler(context: context)
        }

        mutating func handle(_ event: ServerSentEvent) {
            guard let object = self.json(event) else { return }
            let type = object["type"]?.stringValue ?? event.type
            switch type {
            case "message_start":
                let message = object["message"]
                self.assembler.start(model: message?["model"]?.nonEmptyString)
                self.takeUsage(message?["usage"])
            case "content_block_start":
                guard let block = object["content_block"]?.objectValue else { return }
                let index = object["index"]?.intValue ?? 0
                switch block["type"]?.stringValue {
                case "tool_use":  // `server_tool_use` runs at Anthropic: not a call for the client
                    self.assembler.beginToolCall(
                        key: index, index: self.assembler.toolCallCount, id: block["id"]?.stringValue,
                        name: block["name"]?.stringValue ?? "")
                case "text":
                    self.assembler.text(block["text"]?.stringValue ?? "")
                case "thinking":
                    self.assembler.reasoning(block["thinking"]?.stringValue ?? "")
                default:
                    self.assembler.start()
                }
            case "content_block_delta":
                guard let delta = object["delta"]?.objectValue else { return }
                let index = object["index"]?.intValue ?? 0
                switch delta["type"]?.stringValue {
                case "text_delta":
                    self.assembler.text(delta["text"]?.stringValue ?? "")
                case "thinking_delta":
                    self.assembler.reasoning(delta["thinking"]?.stringValue ?? "")
                case "input_json_delta":
                    self.assembler.toolArguments(key: index, fragment: delta["partial_json"]?.stringValue ?? "")
                default:
                    break  // signature_delta, citations_delta: opaque, not text
                }
            case "content_block_stop":
                self.assembler.endToolCall(key: object["index"]?.intValue ?? 0)
            case "message_delta":
                if let reason = object["delta"]?["stop_reason"]?.nonEmptyString { self.stopReason = reason }
                self.takeUsage(object["usage"])
            case "message_stop":
                self.assembler.complete(Self.normalize(self.stopReason), providerReason: self.stopReason)
            case "error":
                self.assembler.fail(UpstreamErrorClassifier.streamError(.object(object)))
            default:
                break  // ping, and event types added later
            }
        }

        private mutating func takeUsage(_ usage: JSONValue?) {
            guard let usage = usage?.objectValue else { return }
            if let input = usage["input_tokens"]?.intValue { self.inputTokens = input }
            if let output = usage["output_tokens"]?.intValue { self.outputTokens = output }
            self.assembler.usage = Usage(inputTokens: self.inputTokens, outputTokens: self.outputTokens)
        }

        static func normalize(_ reason: String?) -> FinishReason {
            switch reason {
            case "max_tokens", "model_context_window_exceeded": .length
            case "tool_use": .toolCalls
            case "refusal": .contentFilter
            default: .stop
            }
        }
    }
}
