import NIOCore
import NewsroomCore
import NewsroomWire

/// The events of a non-streaming answer: a provider's whole JSON response (a proxied request made
/// without `"stream": true`), in the order a stream of the same answer would have produced them —
/// `stream_start`, reasoning, text, complete tool calls, `stream_complete` with the usage.
enum CompleteResponses {
    /// The events of `json`, an answer of the API that `adapter` reads (`openai`, `openai-responses`,
    /// `anthropic`). An error object (or an unknown shape) gives `error` and `stream_complete(error)`.
    static func events(adapter: String, json: JSONValue, context: UpstreamStreamContext) -> [EventPayload] {
        var assembler = StreamAssembler(context: context)
        guard let object = json.objectValue, !object.hasError else {
            assembler.fail(UpstreamErrorClassifier.streamError(json))
            return assembler.drain()
        }
        switch adapter {
        case "openai": self.chatCompletion(object, into: &assembler)
        case "openai-responses": self.response(object, into: &assembler)
        case "anthropic": self.message(object, into: &assembler)
        default:
            assembler.fail(
                StreamError(
                    code: UpstreamErrorCode.upstreamProtocol, message: "no decoder for a '\(adapter)' answer",
                    retryable: false))
        }
        if !assembler.isFinished {
            assembler.fail(
                StreamError(
                    code: UpstreamErrorCode.upstreamProtocol, message: "the upstream's answer has an unknown shape",
                    retryable: false))
        }
        return assembler.drain()
    }

    /// `chat.completion`: the first choice's message (reasoning, content or refusal, tool calls).
    private static func chatCompletion(_ object: [String: JSONValue], into assembler: inout StreamAssembler) {
        guard let choice = object["choices"]?.arrayValue?.first?.objectValue,
            let message = choice["message"]?.objectValue
        else { return }
        assembler.start(model: object["model"]?.nonEmptyString)
        let reasoning = message["reasoning_content"]?.nonEmptyString ?? message["reasoning"]?.nonEmptyString
        if let reasoning { assembler.reasoning(reasoning) }
        if let text = message["content"]?.nonEmptyString ?? message["refusal"]?.nonEmptyString { assembler.text(text) }
        for (position, call) in (message["tool_calls"]?.arrayValue ?? []).enumerated() {
            guard let call = call.objectValue, let function = call["function"]?.objectValue else { continue }
            assembler.completeToolCall(
                index: position, id: call["id"]?.nonEmptyString, name: function["name"]?.nonEmptyString ?? "",
                arguments: function["arguments"]?.stringValue ?? "{}")
        }
        if let usage = object["usage"]?.objectValue {
            assembler.usage = Usage(
                inputTokens: usage["prompt_tokens"]?.intValue, outputTokens: usage["completion_tokens"]?.intValue)
        }
        let reason = choice["finish_reason"]?.nonEmptyString
        assembler.complete(OpenAIChatAdapter.Decoder.normalize(reason), providerReason: reason)
    }

    /// `response` (Responses API): output items in order — reasoning summaries, message text, function
    /// calls; `incomplete` ends with its reason.
    private static func response(_ object: [String: JSONValue], into assembler: inout StreamAssembler) {
        guard let output = object["output"]?.arrayValue else { return }
        assembler.start(model: object["model"]?.nonEmptyString)
        var calls = 0
        for item in output {
            guard let item = item.objectValue else { continue }
            switch item["type"]?.stringValue {
            case "reasoning":
                for part in item["summary"]?.arrayValue ?? [] {
                    if let text = part["text"]?.nonEmptyString { assembler.reasoning(text) }
                }
            case "message":
                for part in item["content"]?.arrayValue ?? [] {
                    if let text = part["text"]?.nonEmptyString ?? part["refusal"]?.nonEmptyString { assembler.text(text) }
                }
            case "function_call":
                assembler.completeToolCall(
                    index: calls, id: item["call_id"]?.nonEmptyString, name: item["name"]?.nonEmptyString ?? "",
                    arguments: item["arguments"]?.stringValue ?? "{}")
                calls += 1
            default:
                break
            }
        }
        if let usage = object["usage"]?.objectValue {
            assembler.usage = Usage(
                inputTokens: usage["input_tokens"]?.intValue, outputTokens: usage["output_tokens"]?.intValue)
        }
        switch object["status"]?.stringValue {
        case "incomplete":
            let reason = object["incomplete_details"]?["reason"]?.nonEmptyString
            assembler.complete(reason == "content_filter" ? .contentFilter : .length, providerReason: reason)
        case "failed":
            assembler.fail(UpstreamErrorClassifier.streamError(object["error"] ?? .object(object)))
        default:
            assembler.complete(calls > 0 ? .toolCalls : .stop, providerReason: object["status"]?.nonEmptyString)
        }
    }

    /// `message` (Anthropic): content blocks in order — thinking, text, tool use.
    private static func message(_ object: [String: JSONValue], into assembler: inout StreamAssembler) {
        guard let content = object["content"]?.arrayValue else { return }
        assembler.start(model: object["model"]?.nonEmptyString)
        var calls = 0
        for block in content {
            guard let block = block.objectValue else { continue }
            switch block["type"]?.stringValue {
            case "thinking":
                if let text = block["thinking"]?.nonEmptyString { assembler.reasoning(text) }
            case "text":
                if let text = block["text"]?.nonEmptyString { assembler.text(text) }
            case "tool_use":
                var arguments = ByteBuffer()
                (block["input"] ?? .object([:])).write(to: &arguments)
                assembler.completeToolCall(
                    index: calls, id: block["id"]?.nonEmptyString, name: block["name"]?.nonEmptyString ?? "",
                    arguments: String(buffer: arguments))
                calls += 1
            default:
                break
            }
        }
        if let usage = object["usage"]?.objectValue {
            assembler.usage = Usage(
                inputTokens: usage["input_tokens"]?.intValue, outputTokens: usage["output_tokens"]?.intValue)
        }
        let reason = object["stop_reason"]?.nonEmptyString
        assembler.complete(AnthropicAdapter.Decoder.normalize(reason), providerReason: reason)
    }
}
