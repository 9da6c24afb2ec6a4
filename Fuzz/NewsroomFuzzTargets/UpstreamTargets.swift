// The upstream adapters' stream decoders. Compiled only when NewsroomFuzzTargets depends on
// NewsroomUpstream and defines NEWSROOM_FUZZ_UPSTREAM (see docs/fuzzing.md, "Upstream decoders").
#if NEWSROOM_FUZZ_UPSTREAM
import NIOCore
import NewsroomCore
import NewsroomUpstream
import NewsroomWire

/// The adapter whose decoder an upstream target fuzzes.
func upstreamAdapter(_ target: FuzzTarget) -> (any UpstreamAdapter)? {
    switch target {
    case .upstreamOpenAI: OpenAIChatAdapter()
    case .upstreamOpenAIResponses: OpenAIResponsesAdapter()
    case .upstreamAnthropic: AnthropicAdapter()
    case .upstreamGemini: GeminiAdapter()
    case .upstreamOllama: OllamaAdapter()
    case .upstreamTGI: TGIAdapter()
    default: nil
    }
}

private let fuzzContext = UpstreamStreamContext(generation: "gen_fuzz", provider: "fuzz", requestedModel: "model-fuzz")

/// Runs a fresh decoder over `buffers` (one `decode` per read), then `finish()`.
private func runDecoder(_ adapter: any UpstreamAdapter, _ buffers: [ByteBuffer], _ data: UnsafeRawBufferPointer)
    -> [EventPayload]
{
    var decoder = adapter.makeDecoder(context: fuzzContext)
    var events: [EventPayload] = []
    for buffer in buffers {
        let wasFinished = decoder.isFinished
        let batch = decoder.decode(buffer)
        check(!wasFinished || batch.isEmpty, "\(adapter.name): events after stream_complete; input \(describe(data))")
        events += batch
    }
    let wasFinished = decoder.isFinished
    let last = decoder.finish()
    check(!wasFinished || last.isEmpty, "\(adapter.name): finish() added events after stream_complete")
    events += last
    check(decoder.isFinished, "\(adapter.name): not finished after finish(); input \(describe(data))")
    check(
        decoder.decode(ByteBuffer(string: "data: {}\n\n{}\n")).isEmpty && decoder.finish().isEmpty,
        "\(adapter.name): a finished decoder still produced events; input \(describe(data))")
    return events
}

/// Fuzzes one adapter's stream decoder with an upstream response body: the events must be the same
/// however the body is chunked (whole, derived chunkings, one byte per read), and form a valid stream:
/// `stream_start` first and once, naming the context; exactly one `stream_complete`, last; an `error`
/// only right before a `stream_complete(error)`; a stream with tool calls never ends with plain `stop`;
/// every streamed tool call is closed by a `tool_call` unless the stream failed; and every event is one
/// the hub's own decoder accepts (``checkPublishableRoundTrip(_:_:_:)``), so clients can read it.
public func fuzzUpstreamDecoder(_ adapter: any UpstreamAdapter, _ data: UnsafeRawBufferPointer) {
    let data = capped(data)
    let events = runDecoder(adapter, [ByteBuffer(bytes: data)], data)
    var variants = [("chunked", runDecoder(adapter, Chunking.derived(data), data))]
    if let bytewise = Chunking.bytewise(data, limit: 512) {
        variants.append(("bytewise", runDecoder(adapter, bytewise, data)))
    }
    for (name, other) in variants {
        check(
            other == events,
            "\(adapter.name) (\(name)) decoded \(other.count) events, \(events.count) whole; input \(describe(data))")
    }

    let name = adapter.name
    guard case .streamStart(let start)? = events.first else {
        fatalError("fuzz invariant violated: \(name): the stream does not begin with stream_start; input \(describe(data))")
    }
    check(
        start.generation == fuzzContext.generation && start.provider == fuzzContext.provider,
        "\(name): stream_start does not name the generation and provider; input \(describe(data))")
    check(
        events.filter({ $0.type == .streamStart }).count == 1,
        "\(name): more than one stream_start; input \(describe(data))")
    guard case .streamComplete(let complete)? = events.last else {
        fatalError("fuzz invariant violated: \(name): the stream does not end with stream_complete; input \(describe(data))")
    }
    check(
        events.filter({ $0.type == .streamComplete }).count == 1,
        "\(name): more than one stream_complete; input \(describe(data))")
    let errors = events.indices.filter { events[$0].type == .error }
    check(
        errors.isEmpty || (errors == [events.count - 2] && complete.finishReason == .error),
        "\(name): an error event not right before stream_complete(error); input \(describe(data))")
    let hasToolCalls = events.contains { $0.type == .toolCall || $0.type == .toolCallDelta }
    check(
        !(hasToolCalls && complete.finishReason == .stop),
        "\(name): a stream with tool calls ended with finish_reason stop; input \(describe(data))")
    if complete.finishReason != .error {
        var open = 0
        for event in events {
            if case .toolCallDelta(let delta) = event, delta.name != nil { open += 1 }
            if case .toolCall = event { open -= 1 }
        }
        check(open <= 0, "\(name): \(open) streamed tool calls never got their tool_call; input \(describe(data))")
    }
    for event in events {
        checkPublishableRoundTrip(event, "\(name) decoder", data)
    }
}
#endif
