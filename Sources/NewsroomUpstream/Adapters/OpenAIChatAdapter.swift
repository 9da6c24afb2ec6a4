import NIOCore
import NewsroomCore
import NewsroomWire

/// OpenAI Chat Completions streaming (`POST {base}/v1/chat/completions`), and every server that speaks
/// it: vLLM, TGI's Messages API, llama.cpp, LM Studio, OpenRouter.
///
/// Request: `"stream": true` and `stream_options.include_usage: true` are forced (other
/// `stream_options` keys are kept); the key goes in `Authorization: Bearer`.
///
/// Stream (PROVIDERS.md §1, §4, §5b): `data: <chunk>` events ending with `data: [DONE]`.
/// - `delta.content` and `delta.refusal` → `text_delta` (a refusal is what the viewer should read);
///   `delta.reasoning_content` / `delta.reasoning` → `reasoning_delta`.
/// - `delta.tool_calls[]` keyed by their own `index` (never by position): the first fragment (with `id`
///   and `function.name`) starts a call, later fragments append arguments; every call's `tool_call` is
///   emitted when the choice's `finish_reason` arrives (or at `[DONE]`), since calls may interleave.
/// - `finish_reason` is held until `[DONE]` so the usage chunk (`choices: []`) that follows it is
///   included; usage is replaced, never summed (vLLM's `continuous_usage_stats`).
/// - `{"error": …}` in a data line → `error` + `stream_complete(error)`.
/// - EOF without `[DONE]` → truncated.
public struct OpenAIChatAdapter: UpstreamAdapter {
    public var name: String { "openai" }

    public init() {}

    public func makeRequest(body: JSONValue, provider: UpstreamProvider) throws(GenerationError) -> UpstreamRequest {
        var object = try RequestBody.object(body)
        object["stream"] = .bool(true)
        var options = object["stream_options"]?.objectValue ?? [:]
        options["include_usage"] = .bool(true)
        object["stream_options"] = .object(options)
        return .json(
            url: provider.baseURL + "/v1/chat/completions", body: .object(object),
            model: object["model"]?.nonEmptyString, accept: "text/event-stream", auth: RequestBody.bearer(provider),
            provider: provider)
    }

    public func makeDecoder(context: UpstreamStreamContext) -> any UpstreamDecoder {
        Decoder(context: context)
    }

    /// The per-stream state machine.
    struct Decoder: SSEStreamDecoding {
        var parser = SSEParser()
        var assembler: StreamAssembler
        var skippedChunks = 0
        /// The finish reason of each choice, held until `[DONE]`.
        private var finishReasons: [Int: String] = [:]

        init(context: UpstreamStreamContext) {
            self.assembler = StreamAssembler(context: context)
        }

        mutating func handle(_ event: ServerSentEvent) {
            let data = event.data
            if data.hasPrefix("[DONE]") {
                self.done()
                return
            }
            guard let chunk = self.json(event) else { return }
            if chunk.hasError {
                self.assembler.fail(UpstreamErrorClassifier.streamError(.object(chunk)))
                return
            }
            if chunk["object"]?.stringValue == "error" {  // very old vLLM: flat error object
                self.assembler.fail(UpstreamErrorClassifier.streamError(.object(chunk)))
                return
            }
            self.assembler.start(model: chunk["model"]?.nonEmptyString)
            if let usage = chunk["usage"]?.objectValue {
                self.assembler.usage = Usage(
                    inputTokens: usage["prompt_tokens"]?.intValue, outputTokens: usage["completion_tokens"]?.intValue)
            }
            for choice in chunk["choices"]?.arrayValue ?? [] {
                self.handle(choice: choice)
            }
        }

        private mutating func handle(choice: JSONValue) {
            let choiceIndex = choice["index"]?.intValue ?? 0
            if let delta = choice["delta"]?.objectValue {
                if let reasoning = delta["reasoning_content"]?.nonEmptyString ?? delta["reasoning"]?.nonEmptyString {
                    self.assembler.reasoning(reasoning, index: choiceIndex)
                }
                if let text = delta["content"]?.nonEmptyString {
                    self.assembler.text(text, index: choiceIndex)
                }
                if let refusal = delta["refusal"]?.nonEmptyString {
                    self.assembler.text(refusal, index: choiceIndex)
                }
                for call in delta["tool_calls"]?.arrayValue ?? [] {
                    self.handle(toolCall: call, choiceIndex: choiceIndex)
                }
            }
            if let reason = choice["finish_reason"]?.nonEmptyString {
                self.finishReasons[choiceIndex] = reason
                // The choice's calls are complete: announce them now rather than at `[DONE]`.
                self.assembler.endToolCalls { $0 / 10_000 == choiceIndex }
                if reason == "error" {  // OpenRouter marks a failed choice so
                    self.assembler.fail(
                        StreamError(
                            code: UpstreamErrorCode.upstreamUnavailable,
                            message: "the upstream ended the choice with finish_reason 'error'", retryable: true),
                        providerReason: reason)
                }
            }
        }

        private mutating func handle(toolCall call: JSONValue, choiceIndex: Int) {
            let index = call["index"]?.intValue ?? 0
            let key = choiceIndex &* 10_000 &+ index  // wrapping: the indexes come from the upstream
            let function = call["function"]?.objectValue ?? [:]
            let arguments = function["arguments"]?.stringValue ?? ""
            if self.assembler.hasOpenToolCall(key: key) {
                self.assembler.toolArguments(key: key, fragment: arguments)
            } else {
                self.assembler.beginToolCall(
                    key: key, index: index, id: call["id"]?.stringValue,
                    name: function["name"]?.stringValue ?? "", arguments: arguments)
            }
        }

        private mutating func done() {
            let providerReason = self.finishReasons.sorted { $0.key < $1.key }.first?.value
            self.assembler.complete(Self.normalize(providerReason), providerReason: providerReason)
        }

        static func normalize(_ reason: String?) -> FinishReason {
            switch reason {
            case "length": .length
            case "tool_calls", "function_call": .toolCalls
            case "content_filter": .contentFilter
            default: .stop
            }
        }
    }
}
