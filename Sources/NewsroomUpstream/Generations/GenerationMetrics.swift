import CoreMetrics
import NIOCore

/// The generation runner's metric handles, created once per manager for the configured providers and
/// the fixed outcome and error-code sets (never per generation or per chunk).
///
/// | name | type | labels |
/// |---|---|---|
/// | `newsroom_generations_total` | counter | `provider`, `outcome` (completed, cancelled, failed) |
/// | `newsroom_generations_running` | meter | — |
/// | `newsroom_upstream_ttft_seconds` | timer | `provider` (start → first delta) |
/// | `newsroom_upstream_duration_seconds` | timer | `provider` (start → end) |
/// | `newsroom_upstream_retries_total` | counter | `provider` |
/// | `newsroom_errors_total` | counter | `code` (the `error` event codes of upstream failures) |
struct GenerationMetrics: Sendable {
    static let outcomes = ["completed", "cancelled", "failed"]

    let generations: [String: [String: Counter]]
    let running: Meter
    let ttft: [String: CoreMetrics.Timer]
    let duration: [String: CoreMetrics.Timer]
    let retries: [String: Counter]
    let errors: [String: Counter]

    init(providers: [String], factory: any MetricsFactory) {
        var generations: [String: [String: Counter]] = [:]
        var ttft: [String: CoreMetrics.Timer] = [:]
        var duration: [String: CoreMetrics.Timer] = [:]
        var retries: [String: Counter] = [:]
        for provider in providers {
            var byOutcome: [String: Counter] = [:]
            for outcome in Self.outcomes {
                byOutcome[outcome] = Counter(
                    label: "newsroom_generations_total", dimensions: [("provider", provider), ("outcome", outcome)],
                    factory: factory)
            }
            generations[provider] = byOutcome
            ttft[provider] = CoreMetrics.Timer(
                label: "newsroom_upstream_ttft_seconds", dimensions: [("provider", provider)],
                preferredDisplayUnit: .seconds, factory: factory)
            duration[provider] = CoreMetrics.Timer(
                label: "newsroom_upstream_duration_seconds", dimensions: [("provider", provider)],
                preferredDisplayUnit: .seconds, factory: factory)
            retries[provider] = Counter(
                label: "newsroom_upstream_retries_total", dimensions: [("provider", provider)], factory: factory)
        }
        self.generations = generations
        self.ttft = ttft
        self.duration = duration
        self.retries = retries
        self.running = Meter(label: "newsroom_generations_running", factory: factory)
        var errors: [String: Counter] = [:]
        for code in UpstreamErrorCode.all {
            errors[code] = Counter(label: "newsroom_errors_total", dimensions: [("code", code)], factory: factory)
        }
        self.errors = errors
    }
}
