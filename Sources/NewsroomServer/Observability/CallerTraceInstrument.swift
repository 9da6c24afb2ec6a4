import Tracing
import Logging

/// When no spans are exported, this instrument still carries the caller's W3C `traceparent` through the
/// hub (request → its answer → the generation and its upstream request), so that log lines carry the
/// caller's `trace_id` and the upstream request continues the caller's trace — at the cost of one header
/// lookup per request: no spans are made, recorded or queued.
///
/// With OTLP configured, swift-otel's tracer does this (and more) instead.
struct CallerTraceInstrument: Instrument {
    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let traceparent = extractor.extract(key: "traceparent", from: carrier), CallerTrace.traceID(of: traceparent) != nil
        else { return }
        context[CallerTrace.self] = traceparent
    }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        if let traceparent = context[CallerTrace.self] { injector.inject(traceparent, forKey: "traceparent", into: &carrier) }
    }

    /// Log metadata: `trace_id` (and the caller's `span_id` as `parent_span_id`) of the current context.
    static let metadataProvider = Logger.MetadataProvider {
        guard let traceparent = ServiceContext.current?[CallerTrace.self], let id = CallerTrace.traceID(of: traceparent)
        else { return [:] }
        return ["trace_id": "\(id)", "parent_span_id": "\(traceparent.split(separator: "-")[2])"]
    }
}

/// The caller's `traceparent` header, as received.
enum CallerTrace: ServiceContextKey {
    typealias Value = String

    /// The trace id of a valid `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), or `nil`.
    static func traceID(of traceparent: String) -> Substring? {
        let parts = traceparent.split(separator: "-")
        guard parts.count >= 4, parts[1].count == 32, parts[2].count == 16,
            parts[1].allSatisfy(\.isHexDigit), parts[2].allSatisfy(\.isHexDigit), parts[1].contains(where: { $0 != "0" })
        else { return nil }
        return parts[1]
    }
}
