import NIOCore
import NIOHTTP1
import NIOPosix
import NewsroomCore
import Synchronization

/// Publishes `rate` events per second to each topic for a duration, one event per request, each stamped
/// with a ``PayloadMarker``.
///
/// Topics are spread over up to 32 keep-alive connections; each connection sends one request at a time,
/// in the order the events fall due. A server that answers slowly (nchan answers a publish only after
/// delivering it; a saturated hub answers late) therefore gets a lower rate than asked for: nothing is sent
/// after the duration, and the result reports the rate achieved, which is the one to compare at. A rejected
/// publish is retried with the same sequence number, so the numbers stay dense; a connection the server
/// closes (nginx's `keepalive_requests`) is reopened. The whole phase is bounded: 15 s after the duration,
/// requests still waiting for an answer are abandoned (and their events not counted).
struct Publisher: Sendable {
    let configuration: LoadTestRunner.Configuration
    let server: SocketAddress
    let hostHeader: String
    let tls: LoadTLS?
    let group: any EventLoopGroup

    /// The outcome of publishing.
    struct Outcome: Sendable {
        /// The last sequence number published per topic.
        var published: [Int]
        var errors: Int
        var seconds: Double
    }

    /// What has been published so far (read by the progress line, and at the end).
    let live: LivePublished

    final class LivePublished: Sendable {
        let total = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let perTopic: Mutex<[Int]>

        init(topics: Int) {
            self.perTopic = Mutex(Array(repeating: 0, count: topics))
        }
    }

    private enum Finished: Sendable {
        case connection
        case deadline
    }

    /// Publishes until `duration` seconds have passed.
    func run(duration: Double) async throws -> Outcome {
        let topics = self.configuration.topics
        let connections = min(topics, 32)
        let start = WallClock.monotonicNanoseconds()
        try await withThrowingTaskGroup(of: Finished.self) { group in
            for c in 0..<connections {
                let mine = Array(stride(from: c, to: topics, by: connections))
                group.addTask {
                    try await self.runConnection(topics: mine, start: start, duration: duration)
                    return .connection
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64((duration + 15) * 1000)))
                return .deadline
            }
            var remaining = connections
            while remaining > 0, let finished = try await group.next() {
                switch finished {
                case .connection: remaining -= 1
                case .deadline: remaining = 0
                }
            }
            group.cancelAll()
        }
        let seconds = Double(WallClock.monotonicNanoseconds() - start) / 1e9
        return Outcome(
            published: self.live.perTopic.withLock { $0 }, errors: self.live.errors.load(ordering: .relaxed),
            seconds: seconds)
    }

    private func runConnection(topics: [Int], start: Int64, duration: Double) async throws {
        guard self.configuration.rate > 0, !topics.isEmpty else { return }
        let interval = 1e9 / self.configuration.rate
        let end = start + Int64(duration * 1e9)
        let flavor = self.configuration.server
        let payloadBytes = self.configuration.payloadBytes
        let paths = topics.map { flavor.publishPath(topic: self.configuration.topicName($0)) }
        // Events per request: the hub takes NDJSON batches (each written to a subscriber with one flush);
        // nchan takes one message per request.
        let batch = flavor.kind == .newsroom ? max(1, self.configuration.publishBatch) : 1
        // Topic t's event n (1-based) falls due at start + (n - 1) * interval, staggered per topic.
        var next = Array(repeating: 1, count: topics.count)
        let stagger = interval / Double(max(1, topics.count))
        var reconnects = 0
        var failedConnects = 0
        while WallClock.monotonicNanoseconds() < end, !Task.isCancelled {
            let connection: ControlConnection
            do {
                connection = try await ControlConnection.connect(
                    to: self.server, hostHeader: self.hostHeader, tls: self.tls, group: self.group)
            } catch {
                failedConnects += 1
                // A node restarting is back within seconds (100 tries, 10 s); one that stays away ends the run.
                if failedConnects > 100 { throw LoadTestError.serverUnavailable("cannot connect to publish: \(error)") }
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            failedConnects = 0
            do {
                try await connection.run { send in
                    while !Task.isCancelled {
                        // The slot whose next event falls due first.
                        var slot = 0
                        var due = Int64.max
                        for i in 0..<topics.count {
                            // A batch goes out when its last event falls due.
                            let at = start + Int64(Double(next[i] + batch - 2) * interval + Double(i) * stagger)
                            if at < due {
                                due = at
                                slot = i
                            }
                        }
                        if due >= end { return }
                        let now = WallClock.monotonicNanoseconds()
                        if now >= end { return }  // late: nothing is sent after the duration
                        if due > now { try await Task.sleep(for: .nanoseconds(due - now)) }
                        let sentAt = WallClock.nanoseconds()
                        var body = ByteBuffer()
                        let contentType: String
                        switch flavor.kind {
                        case .newsroom:
                            for offset in 0..<batch {
                                body.writeStaticString(#"{"type":"text_delta","text":""#)
                                body.writeString(
                                    PayloadMarker.text(sentAt: sentAt, sequence: next[slot] + offset, size: payloadBytes))
                                body.writeStaticString(batch > 1 ? "\"}\n" : "\"}")
                            }
                            contentType = batch > 1 ? "application/x-ndjson" : "application/json"
                        case .nchan:
                            body.writeString(PayloadMarker.text(sentAt: sentAt, sequence: next[slot], size: payloadBytes))
                            contentType = "text/plain"
                        }
                        let response = try await send(.POST, paths[slot], body, contentType)
                        if (200..<300).contains(response.status) {
                            let sequence = next[slot] + batch - 1
                            let topic = topics[slot]
                            self.live.perTopic.withLock { $0[topic] = sequence }
                            next[slot] += batch
                            self.live.total.add(batch, ordering: .relaxed)
                        } else {
                            let errors = self.live.errors.add(1, ordering: .relaxed).newValue
                            if errors > 1_000 {
                                throw LoadTestError.serverUnavailable(
                                    "publishing failed: HTTP \(response.status) \(String(buffer: response.body).prefix(200))")
                            }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                }
                return
            } catch where Self.isConnectionLevel(error) {
                // The server closed the keep-alive connection, reset it or went away (a node restarting):
                // open another one and go on. The event in flight is sent again — counted by the hub's seq,
                // a repeat is a new event, never a duplicate delivery.
                reconnects += 1
                if reconnects > 1_000 { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Errors of the connection rather than of the request: the publisher reconnects after them.
    private static func isConnectionLevel(_ error: any Error) -> Bool {
        if let error = error as? LoadTestError { return error.isConnectionClosed }
        return error is ChannelError || error is IOError || error is NIOConnectionError
    }
}
