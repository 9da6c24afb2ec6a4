import Tracing

/// Server spans of gRPC calls, continuing the caller's `traceparent` metadata (OpenTelemetry RPC
/// semantic conventions: `rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`).
enum GRPCTracing {
    static func startSpan(method: GRPCMethod, headers: [(String, String)]) -> any Span {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: PairsExtractor())
        let span = InstrumentationSystem.tracer.startAnySpan(
            "\(method.service)/\(method.name)", context: context, ofKind: .server)
        span.attributes["rpc.system"] = "grpc"
        span.attributes["rpc.service"] = method.service
        span.attributes["rpc.method"] = method.name
        return span
    }

    struct PairsExtractor: Extractor {
        func extract(key: String, from carrier: [(String, String)]) -> String? {
            carrier.first { $0.0 == key }?.1
        }
    }
}
