/// The fuzz targets: one per parser that reads bytes from the network or from an upstream.
///
/// Each target takes arbitrary bytes, feeds them to its parser (whole, and re-chunked at positions
/// derived from the bytes), and checks invariants that must hold for every input; a violation stops the
/// process with `fatalError` so libFuzzer records the input as a crash. The same functions replay the
/// seed corpus and every crash kept as a regression in the normal test run (`NewsroomFuzzTests`).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `SSEParser`: whole vs. chunked vs. byte-by-byte, and against a plain reading of the WHATWG rules.
    case sse
    /// `NDJSONParser`: whole vs. chunked, against a reference splitter, and against
    /// `EventDecoder.decodeBody(ndjson: true)`'s own splitting.
    case ndjson
    /// `EventDecoder`: accepted events survive `EventJSON.writePublishable` → decode unchanged, and as
    /// a broadcast event through `EventJSON.write` → `decodeBroadcast`; rejections have short messages.
    case event
    /// `JSONValue.parse`: never crashes, rejects invalid UTF-8, round-trips through `JSONValue.write`.
    case json
    /// `WebSocketCommand.decode`: never crashes; a decoded command re-encodes to one that decodes the
    /// same; replies echo any `id` as valid JSON.
    case wscommand
    #if NEWSROOM_FUZZ_UPSTREAM
    /// The upstream adapters' stream decoders (`fuzzUpstreamDecoder`): chunking-independent, a valid
    /// event stream, every event publishable. Only with the NewsroomUpstream dependency.
    case upstreamOpenAI = "upstream-openai"
    case upstreamOpenAIResponses = "upstream-openai-responses"
    case upstreamAnthropic = "upstream-anthropic"
    case upstreamGemini = "upstream-gemini"
    case upstreamOllama = "upstream-ollama"
    case upstreamTGI = "upstream-tgi"
    #endif

    /// Runs the target on one input.
    public func run(_ data: UnsafeRawBufferPointer) {
        switch self {
        case .sse: fuzzSSEParser(data)
        case .ndjson: fuzzNDJSONParser(data)
        case .event: fuzzEventDecoder(data)
        case .json: fuzzJSONValue(data)
        case .wscommand: fuzzWebSocketCommand(data)
        #if NEWSROOM_FUZZ_UPSTREAM
        case .upstreamOpenAI, .upstreamOpenAIResponses, .upstreamAnthropic, .upstreamGemini, .upstreamOllama,
            .upstreamTGI:
            fuzzUpstreamDecoder(upstreamAdapter(self)!, data)
        #endif
        }
    }

    /// Runs the target on one input.
    public func run(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.run($0) }
    }
}

/// Inputs longer than this are cut: every check is linear or near-linear in the input, but the
/// byte-by-byte replays and re-encodings multiply it, and longer inputs find nothing shorter ones don't.
public let fuzzMaxInputLength = 64 * 1024

/// The input, cut to ``fuzzMaxInputLength``.
func capped(_ data: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
    data.count <= fuzzMaxInputLength ? data : UnsafeRawBufferPointer(rebasing: data[0..<fuzzMaxInputLength])
}

/// Stops the process (so libFuzzer keeps the input) when an invariant does not hold.
@inline(__always)
func check(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() {
        fatalError("fuzz invariant violated: \(message())", file: file, line: line)
    }
}

/// A short, escaped rendering of bytes for failure messages.
func describe(_ bytes: some Collection<UInt8>, limit: Int = 200) -> String {
    var out = ""
    for byte in bytes.prefix(limit) {
        switch byte {
        case 0x20...0x7E where byte != UInt8(ascii: "\\"): out.unicodeScalars.append(Unicode.Scalar(byte))
        case UInt8(ascii: "\n"): out += "\\n"
        case UInt8(ascii: "\r"): out += "\\r"
        default:
            let hex = Array("0123456789abcdef")
            out += "\\x\(hex[Int(byte >> 4)])\(hex[Int(byte & 0xF)])"
        }
    }
    if bytes.count > limit { out += "…(\(bytes.count) bytes)" }
    return out
}
