import NIOCore
import NewsroomCore
import NewsroomWire

/// Ollama chat streaming (`POST {base}/api/chat`, NDJSON).
///
/// Request: `"stream": true` is forced; a key, when configured (a proxy in front of Ollama, Ollama's
/// cloud), goes in `Authorization: Bearer`.
///
/// Stream (PROVIDERS.md §6a): one JSON object per line.
/// - `message.content` → `text_delta`; `message.thinking` → `reasoning_delta`.
/// - `message.tool_calls[]` arrive complete (arguments are a JSON object): one `tool_call` each, no
///   deltas; the id is Ollama's when it sends one, else `call_<index>`.
/// - `"done": true` → `stream_complete` with `done_reason` (`stop` → `tool_calls` after tool calls,
///   `length`) and usage `prompt_eval_count` / `eval_count`.
/// - `{"error": "…"}` → `error`. EOF without a `done` line → truncated.
public struct OllamaAdapter: UpstreamAdapter {
    public var name: String { "ollama" }

    public init() {}

    public func makeRequest(body: JSONValue, provider: UpstreamProvider) throws(GenerationError) -> UpstreamRequest {
        var object = try RequestBody.object(body)
        object["stream"] = .bool(true)
        return .json(
            url: provider.baseURL + "/api/chat", body: .object(object), model: object["model"]?.nonEmptyString,
            accept: "application/x-ndjson", auth: RequestBody.bearer(provider), provider: provider)
    }

    public func makeDecoder(context: UpstreamStreamContext) -> any UpstreamDecoder {
        Decoder(context: context)
    }

    /// The per-stream state machine.
    struct Decoder: NDJSONStreamDecoding {
        var parser = NDJSONParser()
        var assembler: StreamAssembler
        var skippedChunks = 0

        init(context: UpstreamStreamContext) {
            self.assembler = StreamAssembler(context: context)
        }

        mutating func handle(_ object: [String: JSONValue]) {
            if object.hasError {
                self.assembler.fail(UpstreamErrorClassifier.streamError(.object(object)))
                return
            }
            self.assembler.start(model: object["model"]?.nonEmptyString)
            if let message = object["message"]?.objectValue {
                self.assembler.reasoning(message["thinking"]?.stringValue ?? "")
                self.assembler.text(message["content"]?.stringValue ?? "")
                for call in message["tool_calls"]?.arrayValue ?? [] {
                    let function = call["function"]?.objectValue ?? [:]
                    let arguments: String
                    switch function["arguments"] {
                    case .string(let string)?: arguments = string
                    case let value? where value != .null: arguments = value.jsonString
                    default: arguments = "{}"
                    }
                    self.assembler.completeToolCall(
                        index: function["index"]?.intValue ?? self.assembler.toolCallCount, id: call["id"]?.stringValue,
                        name: function["name"]?.stringValue ?? "", arguments: arguments)
                }
            }
            guard object["done"]?.boolValue == true else { return }
            self.assembler.usage = Usage(
                inputTokens: object["prompt_eval_count"]?.intValue, outputTokens: object["eval_count"]?.intValue)
            let reason = object["done_reason"]?.nonEmptyString
            self.assembler.complete(reason == "length" ? .length : .stop, providerReason: reason)
        }
    }
}
