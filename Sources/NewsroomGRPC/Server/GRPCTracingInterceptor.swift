import GRPCCore
import Tracing

/// A server span per call, continuing the caller's W3C trace context (`traceparent`/`tracestate`
/// metadata), with the OpenTelemetry RPC attributes (`rpc.system`, `rpc.service`, `rpc.method`,
/// `rpc.grpc.status_code`). The call's handler runs inside the span's context, so a generation started
/// by `StartGeneration` and its upstream request are its children.
///
/// Hand-written because grpc-swift's tracing interceptors live in grpc-swift-extras, which is not among
/// the project's dependencies; this one is the part the hub needs. A streaming call's span ends when its
/// response stream ends. With no tracer bootstrapped (the default), spans are no-ops.
struct GRPCTracingInterceptor: ServerInterceptor {
    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        var parent = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.metadata, into: &parent, using: MetadataExtractor())
        let descriptor = context.descriptor
        let span = startSpan(descriptor.fullyQualifiedMethod, context: parent, ofKind: .server)
        span.attributes["rpc.system"] = "grpc"
        span.attributes["rpc.service"] = descriptor.service.fullyQualifiedService
        span.attributes["rpc.method"] = descriptor.method
        var response: StreamingServerResponse<Output>
        do {
            response = try await ServiceContext.withValue(span.context) { try await next(request, context) }
        } catch {
            Self.end(span, with: error)
            throw error
        }
        switch response.accepted {
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await ServiceContext.withValue(span.context) { try await producer(writer) }
                    span.attributes["rpc.grpc.status_code"] = 0
                    span.end()
                    return trailers
                } catch {
                    Self.end(span, with: error)
                    throw error
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            Self.end(span, with: error)
        }
        return response
    }

    static func end(_ span: any Span, with error: any Error) {
        let code = GRPCMetricsInterceptor.code(of: error)
        span.attributes["rpc.grpc.status_code"] = code.rawValue
        // OpenTelemetry: a server span is an error for these codes only.
        if [.unknown, .deadlineExceeded, .unimplemented, .internalError, .unavailable, .dataLoss].contains(code) {
            span.setStatus(SpanStatus(code: .error))
        }
        span.end()
    }
}

/// Reads W3C trace headers from gRPC metadata.
struct MetadataExtractor: Extractor {
    func extract(key: String, from carrier: Metadata) -> String? {
        carrier[stringValues: key].first(where: { _ in true })
    }
}
