// The transcripts the replay upstream serves when given no directory (used by `newsroom demo`).
// Copies of files in Tests/NewsroomUpstreamTests/Transcripts, where each has its expected events;
// regenerate this file when those change. Multi-line literals hold LF line ends, so CRLF transcripts
// are marked and converted when loaded.

extension ReplayUpstream {
    /// A default set of transcripts, one or more per provider: text, tool calls, reasoning, a
    /// mid-stream error and an HTTP error (see the list in the source).
    public static let embeddedTranscripts: [ReplayTranscript] = embeddedSources.compactMap { source in
        var text = source.text
        if source.crlf { text = text.replacing("\n", with: "\r\n") }
        return ReplayTranscript.parse(name: source.name, fileExtension: source.fileExtension, bytes: Array(text.utf8))
    }

    private struct EmbeddedSource {
        var name: String
        var fileExtension: String
        var crlf: Bool
        var text: String
    }

    private static let embeddedSources: [EmbeddedSource] = [
        EmbeddedSource(
            name: "openai/text", fileExtension: "sse", crlf: false,
            text: #"""
data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":"The"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" capital"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" of"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" France"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" is"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" Paris"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" —"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" “la"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" Ville"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" Lumière”"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" ☀️"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Ue","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[],"usage":{"prompt_tokens":14,"completion_tokens":12,"total_tokens":26,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"x7Q"}

data: [DONE]


"""#),
        EmbeddedSource(
            name: "openai/parallel_tool_calls", fileExtension: "sse", crlf: false,
            text: #"""
data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_qZ4mYbV1xKp7sT2nHd9cLw0e","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \""}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"Edinb"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"urgh\", \"c"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ountry\": \""}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"UK\", \"u"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"nits\": \"c\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_Hn3rG8wQ5tY1uI6oP2aS7dF4","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"ci"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"ty\": \""}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"New York"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":" City\", "}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"country\": \""}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"US\", \"units\": \"f\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kV2pLr9dXcM4vHy7tAq0bNs8Wf","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[],"usage":{"prompt_tokens":88,"completion_tokens":61,"total_tokens":149,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"x7Q"}

data: [DONE]


"""#),
        EmbeddedSource(
            name: "openai/refusal", fileExtension: "sse", crlf: false,
            text: #"""
data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":"I'm"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":" sorry"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":","},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":" I"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":" can't"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":" assist"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":" with"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":" that"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":" request"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"refusal":"."},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kX5hTn2bVcQ8wEr4yUi7oPa1Sd","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[],"usage":{"prompt_tokens":79,"completion_tokens":11,"total_tokens":90,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"x7Q"}

data: [DONE]


"""#),
        EmbeddedSource(
            name: "openai/midstream_error", fileExtension: "sse", crlf: false,
            text: #"""
data: {"id":"chatcmpl-Cg1kZ8jKm3nBvC9xWe5rTy2uIo6Pa","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kZ8jKm3nBvC9xWe5rTy2uIo6Pa","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":"Here"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kZ8jKm3nBvC9xWe5rTy2uIo6Pa","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" is"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kZ8jKm3nBvC9xWe5rTy2uIo6Pa","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"id":"chatcmpl-Cg1kZ8jKm3nBvC9xWe5rTy2uIo6Pa","object":"chat.completion.chunk","created":1764077908,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_cbf1785567","choices":[{"index":0,"delta":{"content":" first"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Q"}

data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}

data: [DONE]


"""#),
        EmbeddedSource(
            name: "openai/http_error_429", fileExtension: "http", crlf: false,
            text: #"""
HTTP/1.1 429 Too Many Requests
content-type: application/json; charset=utf-8
retry-after: 1
retry-after-ms: 200
x-request-id: req_5f2b7c9e1a3d4f60

{
    "error": {
        "message": "Rate limit reached for gpt-4o in organization org-Xq2 on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.",
        "type": "requests",
        "param": null,
        "code": "rate_limit_exceeded"
    }
}

"""#),
        // Non-streaming answers (`"stream"` absent or false): served instead of `<name>` as `<name>_json`.
        EmbeddedSource(
            name: "openai/text_json", fileExtension: "http", crlf: false,
            text: #"""
HTTP/1.1 200 OK
content-type: application/json
x-request-id: req_8c1d2e3f4a5b6c7d

{"id":"chatcmpl-Cg1kQ7mZbT2xVwY8nR4sLp0aHd3Uf","object":"chat.completion","created":1764077908,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris — “la Ville Lumière” ☀️.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":12,"total_tokens":26},"service_tier":"default","system_fingerprint":"fp_cbf1785567"}

"""#),
        EmbeddedSource(
            name: "openai/parallel_tool_calls_json", fileExtension: "http", crlf: false,
            text: #"""
HTTP/1.1 200 OK
content-type: application/json

{"id":"chatcmpl-Cg2ToolsJson","object":"chat.completion","created":1764077990,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_weather_paris","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},{"id":"call_weather_tokyo","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Tokyo\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":80,"completion_tokens":40,"total_tokens":120}}

"""#),
        EmbeddedSource(
            name: "openai-responses/text_json", fileExtension: "http", crlf: false,
            text: #"""
HTTP/1.1 200 OK
content-type: application/json

{"id":"resp_68b1f7a2c3d4e5f60718293a4b5c6d7f","object":"response","created_at":1764078200,"status":"completed","error":null,"incomplete_details":null,"model":"gpt-4.1-2025-04-14","output":[{"id":"msg_68b1f7a3d4e6","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hello! How can I help you today?"}]}],"usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":10,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":22}}

"""#),
        EmbeddedSource(
            name: "anthropic/text_json", fileExtension: "http", crlf: false,
            text: #"""
HTTP/1.1 200 OK
content-type: application/json
request-id: req_011CVqJson

{"id":"msg_01HqZ8vK3mT7wY2nB5cR9dLy","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hello! I'm Claude, an AI assistant. Ça va? 👋"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":21,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":15,"service_tier":"standard"}}

"""#),
        EmbeddedSource(
            name: "anthropic/tool_use_json", fileExtension: "http", crlf: false,
            text: #"""
HTTP/1.1 200 OK
content-type: application/json

{"id":"msg_01Tq4nJ8xV2bK6mW9cY3sPy","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"I'll look up the weather and the time."},{"type":"tool_use","id":"toolu_01Abc7XyZq3Wm9Kp2Lr5Tn8v","name":"get_weather","input":{"location":"San Francisco, CA","unit":"fahrenheit"}},{"type":"tool_use","id":"toolu_01Def4UvW8Rs1Nq6Ho3Jm2Kc","name":"get_time","input":{}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":412,"output_tokens":89}}

"""#),
        EmbeddedSource(
            name: "vllm/reasoning", fileExtension: "sse", crlf: false,
            text: #"""
data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":"The"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" user"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" asks"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" for"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" 9.11"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" vs"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" 9.8"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":"."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" Compare"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" decimals"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":":"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" 0.80"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":" > 0.11"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":"."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning_content":"\n","content":"9.8"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":" is"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":" larger"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":" than"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":" 9.11"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}

data: {"id":"chatcmpl-4f0b6a1c9e2d47b38a5c1e7f90d2b6a4","object":"chat.completion.chunk","created":1764078001,"model":"Qwen/Qwen3-8B","choices":[],"usage":{"prompt_tokens":18,"total_tokens":53,"completion_tokens":35}}

data: [DONE]


"""#),
        EmbeddedSource(
            name: "vllm/tool_calls", fileExtension: "sse", crlf: false,
            text: #"""
data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"tool_calls":[{"id":"chatcmpl-tool-3c8e1a9f0b7d4e2c","type":"function","index":0,"function":{"name":"get_current_weather"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \""}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"Dallas"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\", \"state\": \""}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"TX"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\", \"unit\": \""}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"fahrenheit"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"}"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"tool_calls","stop_reason":null}]}

data: {"id":"chatcmpl-9a7c3e1f5b2d48e6a0c4f8b2d6e1a3c5","object":"chat.completion.chunk","created":1764078001,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[],"usage":{"prompt_tokens":240,"total_tokens":272,"completion_tokens":32}}

data: [DONE]


"""#),
        EmbeddedSource(
            name: "tgi-chat/text", fileExtension: "sse", crlf: false,
            text: #"""
data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":"Deep"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":" learning"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":" is"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":" a"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":" subset"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":" of"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":" machine"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":" learning"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":"."},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1764078100,"model":"HuggingFaceH4/zephyr-7b-beta","system_fingerprint":"3.1.2-dev0-native","choices":[],"usage":{"prompt_tokens":21,"completion_tokens":10,"total_tokens":31}}

data:[DONE]


"""#),
        EmbeddedSource(
            name: "openai-responses/text", fileExtension: "sse", crlf: false,
            text: #"""
event: response.created
data: {"type":"response.created","response":{"id":"resp_68b1f7a2c3d4e5f60718293a4b5c6d7e","object":"response","created_at":1764078200,"status":"in_progress","error":null,"incomplete_details":null,"model":"gpt-4.1-2025-04-14","output":[],"usage":null},"sequence_number":0}

event: response.in_progress
data: {"type":"response.in_progress","response":{"id":"resp_68b1f7a2c3d4e5f60718293a4b5c6d7e","object":"response","created_at":1764078200,"status":"in_progress","error":null,"incomplete_details":null,"model":"gpt-4.1-2025-04-14","output":[],"usage":null},"sequence_number":1}

event: response.output_item.added
data: {"type":"response.output_item.added","output_index":0,"item":{"id":"msg_68b1f7a3d4e5","type":"message","status":"in_progress","content":[],"role":"assistant"},"sequence_number":2}

event: response.content_part.added
data: {"type":"response.content_part.added","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""},"sequence_number":3}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":"Hello","logprobs":[],"obfuscation":"Qz","sequence_number":4}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":"!","logprobs":[],"obfuscation":"Qz","sequence_number":5}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":" How","logprobs":[],"obfuscation":"Qz","sequence_number":6}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":" can","logprobs":[],"obfuscation":"Qz","sequence_number":7}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":" I","logprobs":[],"obfuscation":"Qz","sequence_number":8}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":" help","logprobs":[],"obfuscation":"Qz","sequence_number":9}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":" you","logprobs":[],"obfuscation":"Qz","sequence_number":10}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":" today","logprobs":[],"obfuscation":"Qz","sequence_number":11}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"delta":"?","logprobs":[],"obfuscation":"Qz","sequence_number":12}

event: response.output_text.done
data: {"type":"response.output_text.done","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"text":"Hello! How can I help you today?","logprobs":[],"sequence_number":13}

event: response.content_part.done
data: {"type":"response.content_part.done","item_id":"msg_68b1f7a3d4e5","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":"Hello! How can I help you today?"},"sequence_number":14}

event: response.output_item.done
data: {"type":"response.output_item.done","output_index":0,"item":{"id":"msg_68b1f7a3d4e5","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hello! How can I help you today?"}],"role":"assistant"},"sequence_number":15}

event: response.completed
data: {"type":"response.completed","response":{"id":"resp_68b1f7a2c3d4e5f60718293a4b5c6d7e","object":"response","created_at":1764078200,"status":"completed","error":null,"incomplete_details":null,"model":"gpt-4.1-2025-04-14","output":[{"id":"msg_68b1f7a3d4e5","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hello! How can I help you today?"}],"role":"assistant"}],"usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":10,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":22}},"sequence_number":16}


"""#),
        EmbeddedSource(
            name: "openai-responses/function_call", fileExtension: "sse", crlf: false,
            text: #"""
event: response.created
data: {"type":"response.created","response":{"id":"resp_68b1f7a2c3d4e5f60718293a4b5c6d7e","object":"response","created_at":1764078200,"status":"in_progress","error":null,"incomplete_details":null,"model":"gpt-4.1-2025-04-14","output":[],"usage":null},"sequence_number":0}

event: response.in_progress
data: {"type":"response.in_progress","response":{"id":"resp_68b1f7a2c3d4e5f60718293a4b5c6d7e","object":"response","created_at":1764078200,"status":"in_progress","error":null,"incomplete_details":null,"model":"gpt-4.1-2025-04-14","output":[],"usage":null},"sequence_number":1}

event: response.output_item.added
data: {"type":"response.output_item.added","output_index":0,"item":{"id":"rs_68b1f8","type":"reasoning","summary":[]},"sequence_number":2}

event: response.reasoning_summary_part.added
data: {"type":"response.reasoning_summary_part.added","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""},"sequence_number":3}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":"**Checking","sequence_number":4}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":" the","sequence_number":5}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":" weather**","sequence_number":6}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":"\n\nThe","sequence_number":7}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":" user","sequence_number":8}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":" wants","sequence_number":9}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":" Paris","sequence_number":10}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":" weather","sequence_number":11}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"delta":".","sequence_number":12}

event: response.reasoning_summary_text.done
data: {"type":"response.reasoning_summary_text.done","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"text":"**Checking the weather**\n\nThe user wants Paris weather.","sequence_number":13}

event: response.reasoning_summary_part.done
data: {"type":"response.reasoning_summary_part.done","item_id":"rs_68b1f8","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":"**Checking the weather**\n\nThe user wants Paris weather."},"sequence_number":14}

event: response.output_item.done
data: {"type":"response.output_item.done","output_index":0,"item":{"id":"rs_68b1f8","type":"reasoning","summary":[{"type":"summary_text","text":"**Checking the weather**\n\nThe user wants Paris weather."}]},"sequence_number":15}

event: response.output_item.added
data: {"type":"response.output_item.added","output_index":1,"item":{"id":"fc_68b1f9a0","type":"function_call","status":"in_progress","arguments":"","call_id":"call_Tk3nW7qB1xZ9vL5m","name":"get_weather"},"sequence_number":16}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"{\"","obfuscation":"k","sequence_number":17}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"location","obfuscation":"k","sequence_number":18}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"\":\"","obfuscation":"k","sequence_number":19}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"Paris","obfuscation":"k","sequence_number":20}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":",","obfuscation":"k","sequence_number":21}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":" France","obfuscation":"k","sequence_number":22}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"\",\"","obfuscation":"k","sequence_number":23}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"unit","obfuscation":"k","sequence_number":24}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"\":\"","obfuscation":"k","sequence_number":25}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"celsius","obfuscation":"k","sequence_number":26}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_68b1f9a0","output_index":1,"delta":"\"}","obfuscation":"k","sequence_number":27}

event: response.function_call_arguments.done
data: {"type":"response.function_call_arguments.done","item_id":"fc_68b1f9a0","output_index":1,"arguments":"{\"location\":\"Paris, France\",\"unit\":\"celsius\"}","sequence_number":28}

event: response.output_item.done
data: {"type":"response.output_item.done","output_index":1,"item":{"id":"fc_68b1f9a0","type":"function_call","status":"completed","arguments":"{\"location\":\"Paris, France\",\"unit\":\"celsius\"}","call_id":"call_Tk3nW7qB1xZ9vL5m","name":"get_weather"},"sequence_number":29}

event: response.completed
data: {"type":"response.completed","response":{"id":"resp_68b1f7a2c3d4e5f60718293a4b5c6d7e","object":"response","created_at":1764078200,"status":"completed","error":null,"incomplete_details":null,"model":"gpt-4.1-2025-04-14","output":[{"id":"fc_68b1f9a0","type":"function_call","status":"completed","arguments":"{\"location\":\"Paris, France\",\"unit\":\"celsius\"}","call_id":"call_Tk3nW7qB1xZ9vL5m","name":"get_weather"}],"usage":{"input_tokens":75,"input_tokens_details":{"cached_tokens":0},"output_tokens":83,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":158}},"sequence_number":30}


"""#),
        EmbeddedSource(
            name: "anthropic/text", fileExtension: "sse", crlf: false,
            text: #"""
event: message_start
data: {"type":"message_start","message":{"id":"msg_01HqZ8vK3mT7wY2nB5cR9dLx","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"! I'm Claude"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", an AI assistant."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" Ça va? 👋"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}


"""#),
        EmbeddedSource(
            name: "anthropic/tool_use", fileExtension: "sse", crlf: false,
            text: #"""
event: message_start
data: {"type":"message_start","message":{"id":"msg_01Tq4nJ8xV2bK6mW9cY3sPz","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":412,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I'll look up"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the weather and the time."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01Abc7XyZq3Wm9Kp2Lr5Tn8v","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"locat"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ion\": \"San Fra"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ncisco, CA\""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":", \"unit\": \"fahrenheit\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01Def4UvW8Rs1Nq6Ho3Jm2Kc","name":"get_time","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}


"""#),
        EmbeddedSource(
            name: "anthropic/thinking", fileExtension: "sse", crlf: false,
            text: #"""
event: message_start
data: {"type":"message_start","message":{"id":"msg_01Kx7Pq2Vn9Wb4Ty6Rm3Sd8","type":"message","role":"assistant","model":"claude-opus-4-1-20250805","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":36,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"I need to find the GCD of 1071 and 462."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"\n\n1071 = 2 × 462 + 147"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"\n462 = 3 × 147 + 21"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"\n147 = 7 × 21 + 0"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds0Wv9R1Tn5Ci5dQ8dq"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"The greatest common divisor"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" of 1071 and 462 is **21**."}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":36,"output_tokens":117}}

event: message_stop
data: {"type":"message_stop"}


"""#),
        EmbeddedSource(
            name: "anthropic/overloaded", fileExtension: "sse", crlf: false,
            text: #"""
event: message_start
data: {"type":"message_start","message":{"id":"msg_01Zr5Lm8Qc2Xv7Ny4Bp1Tw6","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me explain"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" photosynthesis:"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" plants"}}

event: error
data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


"""#),
        EmbeddedSource(
            name: "tgi/generate_stream", fileExtension: "sse", crlf: false,
            text: #"""
:

data:{"index":1,"token":{"id":1014,"text":"Deep","logprob":-0.61,"special":false},"generated_text":null,"details":null}

data:{"index":2,"token":{"id":6509,"text":" learning","logprob":-0.02,"special":false},"generated_text":null,"details":null}

data:{"index":3,"token":{"id":349,"text":" is","logprob":-0.11,"special":false},"generated_text":null,"details":null}

data:{"index":4,"token":{"id":264,"text":" a","logprob":-0.4,"special":false},"generated_text":null,"details":null}

data:{"index":5,"token":{"id":19804,"text":" subset","logprob":-0.9,"special":false},"generated_text":null,"details":null}

data:{"index":6,"token":{"id":302,"text":" of","logprob":-0.001,"special":false},"generated_text":null,"details":null}

data:{"index":7,"token":{"id":5599,"text":" machine","logprob":-0.03,"special":false},"generated_text":null,"details":null}

data:{"index":8,"token":{"id":5168,"text":" learning","logprob":-0.0004,"special":false},"generated_text":null,"details":null}

data:{"index":9,"token":{"id":28723,"text":".","logprob":-0.2,"special":false},"generated_text":null,"details":null}

data:{"index":10,"token":{"id":2,"text":"</s>","logprob":-0.08,"special":true},"generated_text":"Deep learning is a subset of machine learning.","details":{"finish_reason":"eos_token","generated_tokens":10,"seed":null,"input_length":7}}


"""#),
        EmbeddedSource(
            name: "ollama/chat", fileExtension: "ndjson", crlf: false,
            text: #"""
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.105300Z","message":{"role":"assistant","content":"","thinking":"The"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.136300Z","message":{"role":"assistant","content":"","thinking":" user"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.167300Z","message":{"role":"assistant","content":"","thinking":" greets"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.198300Z","message":{"role":"assistant","content":"","thinking":"."},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.229300Z","message":{"role":"assistant","content":"Hello"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.260300Z","message":{"role":"assistant","content":"!"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.291300Z","message":{"role":"assistant","content":" How"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.322300Z","message":{"role":"assistant","content":" can"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.353300Z","message":{"role":"assistant","content":" I"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.384300Z","message":{"role":"assistant","content":" help"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.415300Z","message":{"role":"assistant","content":" \u003cyou\u003e"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.446300Z","message":{"role":"assistant","content":"?"},"done":false}
{"model":"qwen3:8b","created_at":"2025-11-25T13:40:01.498812Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":16,"eval_duration":4535599000}

"""#),
        EmbeddedSource(
            name: "ollama/tool_calls", fileExtension: "ndjson", crlf: false,
            text: #"""
{"model":"llama3.2","created_at":"2025-11-25T13:41:10.0001Z","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_k3j9x2m1","function":{"index":0,"name":"get_current_weather","arguments":{"format":"celsius","location":"Paris, FR"}}},{"id":"call_p7q4w8n5","function":{"index":1,"name":"get_current_weather","arguments":{"format":"celsius","location":"Toronto, CA"}}}]},"done":false}
{"model":"llama3.2","created_at":"2025-11-25T13:41:10.2311Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":885095291,"load_duration":3753500,"prompt_eval_count":122,"prompt_eval_duration":328493000,"eval_count":33,"eval_duration":552222000}

"""#),
        EmbeddedSource(
            name: "gemini/text_crlf", fileExtension: "sse", crlf: true,
            text: #"""
data: {"candidates": [{"content": {"parts": [{"text": "**Considering the question**\n\nThe user asks about the sky's colour.", "thought": true}], "role": "model"}, "index": 0}], "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 41, "thoughtsTokenCount": 32}, "modelVersion": "gemini-2.5-flash", "responseId": "mK8lZ9v4LqXg6c8Pz5yQ"}

data: {"candidates": [{"content": {"parts": [{"text": "The sky looks blue because of Rayleigh scattering"}], "role": "model"}, "index": 0}], "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 8, "totalTokenCount": 49, "thoughtsTokenCount": 32}, "modelVersion": "gemini-2.5-flash", "responseId": "mK8lZ9v4LqXg6c8Pz5yQ"}

data: {"candidates": [{"content": {"parts": [{"text": ": air molecules scatter short (blue) wavelengths of sunlight\nmore than long (red) ones — “blue” wins. 🌤"}], "role": "model"}, "index": 0}], "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 29, "totalTokenCount": 70, "thoughtsTokenCount": 32}, "modelVersion": "gemini-2.5-flash", "responseId": "mK8lZ9v4LqXg6c8Pz5yQ"}

data: {"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "index": 0, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 29, "totalTokenCount": 70, "thoughtsTokenCount": 32}, "modelVersion": "gemini-2.5-flash", "responseId": "mK8lZ9v4LqXg6c8Pz5yQ"}


"""#),
        EmbeddedSource(
            name: "gemini/function_call", fileExtension: "sse", crlf: true,
            text: #"""
data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "set_light_values", "args": {"brightness": 25, "color_temp": "warm"}}, "thoughtSignature": "CiQB0e2Kb3Zp"}, {"functionCall": {"name": "get_time", "args": {}}}], "role": "model"}, "index": 0, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 24, "totalTokenCount": 144}, "modelVersion": "gemini-2.5-flash", "responseId": "nA3fQ1w8RkYc2t5Vx9bL"}


"""#),
    ]
}
