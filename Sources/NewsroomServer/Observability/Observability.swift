import CoreMetrics
import Logging
import Metrics
import NIOCore
import NewsroomCore
import OTel
import Prometheus
import ServiceLifecycle
import Tracing

/// The process-wide observability backends, bootstrapped once by the executable (libraries only take a
/// `Logger` and use the swift-metrics and swift-distributed-tracing APIs):
///
/// - **Logs** (swift-log): human-readable lines by default, one JSON object per line with
///   `--log-format json`. Every line logged inside a span carries `trace_id` and `span_id` — the
///   caller's trace id when the request came with a `traceparent`, whether or not spans are exported
///   (without an exporter, ``CallerTraceInstrument`` carries it).
/// - **Metrics** (swift-metrics → swift-prometheus): every `newsroom_*` metric, rendered at `GET /metrics`
///   in the Prometheus text format.
/// - **Traces** (swift-distributed-tracing → swift-otel): off unless an OTLP endpoint is configured with
///   the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
///   `OTEL_TRACES_EXPORTER=otlp`); then spans are batched and exported over OTLP (`OTEL_EXPORTER_OTLP_PROTOCOL`
///   chooses `grpc` or `http/protobuf`), honouring `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, … The exporter
///   runs in the background: with no collector listening, requests never wait for it, and its failures
///   are logged at most at warning level by the exporter's own diagnostic logger.
public struct Observability: Sendable {
    /// The root logger.
    public let logger: Logger
    /// Where `/metrics` comes from; `nil` when metrics are off.
    public let registry: PrometheusCollectorRegistry?
    /// The OTel exporter service to run next to the application, when tracing is on.
    public let tracing: (any Service)?

    /// Bootstraps the three systems. Call once, before anything logs or records.
    public static func bootstrap(
        logFormat: NewsroomConfiguration.LogFormat, logLevel: Logger.Level, metricsEnabled: Bool = true,
        environment: [String: String]
    ) throws -> Observability {
        let tracingOn =
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
            || environment["OTEL_TRACES_EXPORTER"].map { $0 != "none" } == true
        var tracing: (any Service)?
        var metadataProvider: Logger.MetadataProvider
        if tracingOn {
            var configuration = OTel.Configuration.default
            configuration.serviceName = "newsroom"
            configuration.logs.enabled = false
            configuration.metrics.enabled = false
            configuration.traces.enabled = true
            configuration.diagnosticLogLevel = .warning
            tracing = try OTel.bootstrap(configuration: configuration, environment: environment)
            metadataProvider = OTel.makeLoggingMetadataProvider()
        } else {
            // No exporter: no spans, but the caller's trace id still reaches the log lines.
            InstrumentationSystem.bootstrap(CallerTraceInstrument())
            metadataProvider = CallerTraceInstrument.metadataProvider
        }

        LoggingSystem.bootstrap(
            { label, provider in
                switch logFormat {
                case .json:
                    var handler = JSONLogHandler(label: label, metadataProvider: provider)
                    handler.logLevel = logLevel
                    return handler
                case .text:
                    var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
                    handler.logLevel = logLevel
                    return handler
                }
            }, metadataProvider: metadataProvider)

        guard metricsEnabled else {
            return Observability(logger: Logger(label: "newsroom"), registry: nil, tracing: tracing)
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Delivery lag and upstream latencies: sub-millisecond to tens of seconds.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            .seconds(30), .seconds(60),
        ]
        MetricsSystem.bootstrap(factory)
        return Observability(logger: Logger(label: "newsroom"), registry: registry, tracing: tracing)
    }

    /// Renders `/metrics`: refreshes the gauges read at scrape time (topics per state), then emits the
    /// registry in the Prometheus text format.
    public static func metricsText(registry: PrometheusCollectorRegistry, hub: Hub) -> ByteBuffer {
        for (state, count) in hub.topicCounts() {
            Gauge(label: "newsroom_topics", dimensions: [("state", state.rawValue)]).record(count)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 << 10)
        registry.emit(into: &bytes)
        return ByteBuffer(bytes: bytes)
    }
}
