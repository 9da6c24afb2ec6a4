import NIOCore
import NewsroomCore
import NewsroomWire

/// Google Gemini streaming (`POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`).
///
/// Request: the model comes from the body's `model` field (a leading `models/` is dropped), which is
/// removed from the body; `alt=sse` is always requested (without it the endpoint streams one JSON
/// array). The key goes in `x-goog-api-key`, never in the URL.
///
/// Stream (PROVIDERS.md §6b): `data: <GenerateContentResponse>` events, often CRLF-framed; no
/// terminator — the end of the body ends the stream.
/// - `parts[].text` → `text_delta`, or `reasoning_delta` when `thought: true`.
/// - `parts[].functionCall {name, args}` arrives complete: one `tool_call` (Gemini gives no id unless
///   it does; `call_<index>` otherwise).
/// - `finishReason` is held until the end of the body (older models repeat it on every chunk);
///   `usageMetadata` is cumulative (the last wins; output = candidates + thoughts tokens).
/// - `promptFeedback.blockReason` with no candidates → `content_filter`.
/// - EOF without any `finishReason` → truncated; `{"error": …}` → `error`.
public struct GeminiAdapter: UpstreamAdapter {
    public var name: String { "gemini" }

    public init() {}

    public func makeRequest(body: JSONValue, provider: UpstreamProvider) throws(GenerationError) -> UpstreamRequest {
        var object = try RequestBody.object(body)
        guard var model = object.removeValue(forKey: "model")?.nonEmptyString else {
            throw GenerationError(
                code: .badRequest, message: "'request.model' is required for gemini (it names the URL)")
        }
        if model.hasPrefix("models/") { model.removeFirst("models/".count) }
        guard
            model.utf8.allSatisfy({ byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
                    true
                default: false
                }
            }), model.utf8.count <= 128
        else {
            throw GenerationError(code: .badRequest, message: "'request.model' may only hold A-Z a-z 0-9 . _ -")
        }
        var auth: [(String, String)] = []
        if let key = provider.apiKey, !key.isEmpty { auth.append(("x-goog-api-key", key)) }
        return .json(
            url: provider.baseURL + "/v1beta/models/\(model):streamGenerateContent?alt=sse", body: .object(object),
            model: model, accept: "text/event-stream", auth: auth, provider: provider)
    }

    public func makeDecoder(context: UpstreamStreamContext) -> any UpstreamDecoder {
        Decoder(context: context)
    }

    /// The per-stream state machine.
    struct Decoder: SSEStreamDecoding {
        var parser = SSEParser()
        var assembler: StreamAssembler
        var skippedChunks = 0
        private var finishReason: String?
        private var blockReason: String?

        init(context: UpstreamStreamContext) {
            self.assembler = StreamAssembler(context: context)
        }

        mutating func handle(_ event: ServerSentEvent) {
            guard let object = self.json(event) else { return }
            if object.hasError {
                self.assembler.fail(UpstreamErrorClassifier.streamError(.object(object)))
                return
            }
            self.assembler.start(model: object["modelVersion"]?.nonEmptyString)
            for candidate in object["candidates"]?.arrayValue ?? [] {
                let index = candidate["index"]?.intValue ?? 0
                for part in candidate["content"]?["parts"]?.arrayValue ?? [] {
                    if let call = part["functionCall"]?.objectValue {
                        let arguments = call["args"].map { $0 == .null ? "{}" : $0.jsonString } ?? "{}"
                        self.assembler.completeToolCall(
                            index: self.assembler.toolCallCount, id: call["id"]?.stringValue,
                            name: call["name"]?.stringValue ?? "", arguments: arguments)
                    } else if let text = part["text"]?.stringValue {
                        if part["thought"]?.boolValue == true {
                            self.assembler.reasoning(text, index: index)
                        } else {
                            self.assembler.text(text, index: index)
                        }
                    }
                }
                if let reason = candidate["finishReason"]?.nonEmptyString { self.finishReason = reason }
            }
            if let reason = object["promptFeedback"]?["blockReason"]?.nonEmptyString { self.blockReason = reason }
            if let usage = object["usageMetadata"]?.objectValue {
                let candidates = usage["candidatesTokenCount"]?.intValue
                let thoughts = usage["thoughtsTokenCount"]?.intValue
                let output: Int? = candidates == nil && thoughts == nil ? nil : (candidates ?? 0) &+ (thoughts ?? 0)
                self.assembler.usage = Usage(inputTokens: usage["promptTokenCount"]?.intValue, outputTokens: output)
            }
        }

        mutating func endOfStream() {
            if let reason = self.finishReason {
                self.assembler.complete(Self.normalize(reason), providerReason: reason)
            } else if let reason = self.blockReason {
                self.assembler.complete(.contentFilter, providerReason: reason)
            } else {
                self.assembler.truncated()
            }
        }

        static func normalize(_ reason: String) -> FinishReason {
            switch reason {
            case "MAX_TOKENS": .length
            case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY": .contentFilter
            default: .stop
            }
        }
    }
}
