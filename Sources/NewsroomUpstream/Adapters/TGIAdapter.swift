import NIOCore
import NewsroomCore
import NewsroomWire

/// Hugging Face Text Generation Inference, native API (`POST {base}/generate_stream`).
///
/// Request: the endpoint always streams, so the body is passed through, except that
/// `parameters.details` is set to `true` when the client did not set it: without it the last event has
/// no `finish_reason` and no token counts. A key, when configured, goes in `Authorization: Bearer`
/// (Inference Endpoints).
///
/// Stream (PROVIDERS.md §5a): `data:<json>` (axum, no space) per token; no `[DONE]`.
/// - `token.text` → `text_delta`, unless `token.special` (EOS tokens such as `</s>` are not text).
/// - The event with a non-null `generated_text` is the last: `details.finish_reason` (`length`,
///   `eos_token`, `stop_sequence`) and `details.generated_tokens` / `input_length` go into
///   `stream_complete`.
/// - `{"error": "…", "error_type": "…"}` → `error`.
public struct TGIAdapter: UpstreamAdapter {
    public var name: String { "tgi" }

    public init() {}

    public func makeRequest(body: JSONValue, provider: UpstreamProvider) throws(GenerationError) -> UpstreamRequest {
        var object = try RequestBody.object(body)
        var parameters = object["parameters"]?.objectValue ?? [:]
        if parameters["details"] == nil {
            parameters["details"] = .bool(true)
            object["parameters"] = .object(parameters)
        }
        return .json(
            url: provider.baseURL + "/generate_stream", body: .object(object), model: object["model"]?.nonEmptyString,
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

        init(context: UpstreamStreamContext) {
            self.assembler = StreamAssembler(context: context)
        }

        mutating func handle(_ event: ServerSentEvent) {
            guard let object = self.json(event) else { return }
            if object.hasError {
                self.assembler.fail(UpstreamErrorClassifier.streamError(.object(object)))
                return
            }
            self.assembler.start()
            if let token = object["token"]?.objectValue, token["special"]?.boolValue != true {
                self.assembler.text(token["text"]?.stringValue ?? "")
            }
            guard let generated = object["generated_text"], generated != .null else { return }
            let details = object["details"]?.objectValue
            if let details {
                self.assembler.usage = Usage(
                    inputTokens: details["input_length"]?.intValue, outputTokens: details["generated_tokens"]?.intValue)
            }
            let reason = details?["finish_reason"]?.stringValue
            self.assembler.complete(reason == "length" ? .length : .stop, providerReason: reason)
        }
    }
}
