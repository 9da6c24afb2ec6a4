import NIOHTTP1
import Tracing

/// Reads W3C trace-context headers (`traceparent`, `tracestate`) from a request.
struct HTTPHeadersExtractor: Extractor {
    func extract(key: String, from carrier: HTTPHeaders) -> String? {
        carrier.first(name: key)
    }
}

/// Writes trace-context headers into a list, to hand a span's context to the generation runner.
struct TraceHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(String, String)]) {
        carrier.append((key, value))
    }
}

enum RequestTracing {
    /// Starts a server span for a request, continuing the caller's trace if it sent `traceparent`.
    static func startSpan(_ name: String, head: HTTPRequestHead, route: String) -> any Span {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(head.headers, into: &context, using: HTTPHeadersExtractor())
        let span = InstrumentationSystem.tracer.startAnySpan(name, context: context, ofKind: .server)
        // Attributes only for a span that is recorded (an exporter is configured): building them is
        // most of this function's cost, and it runs for every request.
        guard span.isRecording else { return span }
        span.attributes["http.request.method"] = head.method.rawValue
        span.attributes["http.route"] = route
        span.attributes["url.path"] = String(Substring(head.uri.utf8.prefix { $0 != UInt8(ascii: "?") }))
        span.attributes["network.protocol.version"] = head.version.major == 2 ? "2" : "1.1"
        return span
    }

    /// The trace headers that continue `span` downstream; the caller's own headers when tracing is off.
    static func propagationHeaders(for span: any Span, fallback: [(String, String)]) -> [(String, String)] {
        var headers: [(String, String)] = []
        InstrumentationSystem.instrument.inject(span.context, into: &headers, using: TraceHeadersInjector())
        return headers.isEmpty ? fallback : headers
    }
}
