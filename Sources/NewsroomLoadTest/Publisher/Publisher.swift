import NIOCore
import NIOHTTP1
import NewsroomCore
import Synchronization

/// Publishes `rate` events per second to each topic for a duration, one event per request, each stamped
/// with a ``PayloadMarker``.
///
/// Topics are spread over up to 32 keep-alive connections; each connection sends one request at a time,
/// in the order the events fall due. A server that answers slowly (nchan answers a publish only after
/// delivering it) therefore gets a lower rate than asked for: the result reports the rate achieved, which
/// is the one to compare at. A rejected publish is retried with the same sequence number, so the numbers
/// stay dense.
struct Publisher: Sendable {
    let configuration: LoadTestRunner.Configuration
    let server: SocketAddress
    let hostHeader: String
    let group: any EventLoopGroup

    /// The outcome of publishing.
    struct Outcome: Sendable {
        /// The last sequence number published per topic.
        var published: [Int]
        var errors: Int
        var seconds: Double
    }

    /// What has been published so far (for the progress line).
    let live: LivePublished

    final class LivePublished: Sendable {
        let total = Atomic<Int>(0)
    }

    /// Publishes until `duration` seconds have passed (events due after that are not sent).
    func run(duration: Double) async throws -> Outcome {
        let topics = self.configuration.topics
        let connections = min(topics, 32)
        let start = WallClock.monotonicNanoseconds()
        let outcomes = try await withThrowingTaskGroup(of: (published: [(Int, Int)], errors: Int).self) { group in
            for c in 0..<connections {
                let mine = Array(stride(from: c, to: topics, by: connections))
                group.addTask {
                    try await self.runConnection(topics: mine, start: start, duration: duration)
                }
            }
            var published = Array(repeating: 0, count: topics)
            var errors = 0
            for try await outcome in group {
                for (topic, last) in outcome.published { published[topic] = last }
                errors += outcome.errors
            }
            return (published, errors)
        }
        let seconds = Double(WallClock.monotonicNanoseconds() - start) / 1e9
        return Outcome(published: outcomes.0, errors: outcomes.1, seconds: seconds)
    }

    private func runConnection(topics: [Int], start: Int64, duration: Double) async throws -> (
        published: [(Int, Int)], errors: Int
    ) {
        guard self.configuration.rate > 0, !topics.isEmpty else { return (topics.map { ($0, 0) }, 0) }
        let connection = try await ControlConnection.connect(
            to: self.server, hostHeader: self.hostHeader, group: self.group)
        let interval = 1e9 / self.configuration.rate
        let end = start + Int64(duration * 1e9)
        let flavor = self.configuration.server
        let payloadBytes = self.configuration.payloadBytes
        return try await connection.run { send in
            // Topic t's event n (1-based) falls due at start + (n - 1) * interval, staggered per topic.
            var next = Array(repeating: 1, count: topics.count)
            var errors = 0
            let stagger = interval / Double(max(1, topics.count))
            let paths = topics.map { flavor.publishPath(topic: self.configuration.topicName($0)) }
            while true {
                // The slot whose next event falls due first.
                var slot = 0
                var due = Int64.max
                for i in 0..<topics.count {
                    let at = start + Int64(Double(next[i] - 1) * interval + Double(i) * stagger)
                    if at < due {
                        due = at
                        slot = i
                    }
                }
                if due >= end { break }
                let now = WallClock.monotonicNanoseconds()
                if due > now { try await Task.sleep(for: .nanoseconds(due - now)) }
                let text = PayloadMarker.text(sentAt: WallClock.nanoseconds(), sequence: next[slot], size: payloadBytes)
                var body = ByteBuffer()
                let contentType: String
                switch flavor.kind {
                case .newsroom:
                    body.writeStaticString(#"{"type":"text_delta","text":""#)
                    body.writeString(text)
                    body.writeStaticString(#""}"#)
                    contentType = "application/json"
                case .nchan:
                    body.writeString(text)
                    contentType = "text/plain"
                }
                let response = try await send(.POST, paths[slot], body, contentType)
                if (200..<300).contains(response.status) {
                    next[slot] += 1
                    self.live.total.add(1, ordering: .relaxed)
                } else {
                    errors += 1
                    if errors > 1_000 {
                        throw LoadTestError.serverUnavailable(
                            "publishing failed: HTTP \(response.status) \(String(buffer: response.body).prefix(200))")
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            return (zip(topics, next).map { ($0, $1 - 1) }, errors)
        }
    }
}
