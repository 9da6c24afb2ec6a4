import NewsroomProto
import NewsroomClient
import NewsroomCore
import NewsroomTesting
import Testing

/// A transport of the subscription tests; gRPC's port is known only once the server runs.
enum TestTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sse, webSocket, grpc

    var testDescription: String { self.rawValue }

    /// The client transport against `server`, with gRPC on `grpcPort` (default: the server's).
    func on(_ server: TestServer, grpcPort: Int? = nil) -> Subscription.Transport {
        self.on(grpcPort: grpcPort ?? server.grpcPort)
    }

    func on(grpcPort: Int) -> Subscription.Transport {
        switch self {
        case .sse: .sse
        case .webSocket: .webSocket
        case .grpc: .grpc(port: grpcPort)
        }
    }

    /// The port a proxy in front of `server` must forward to for this transport.
    func port(of server: TestServer) -> Int {
        self == .grpc ? server.grpcPort : server.port
    }
}

/// The transports every subscription test runs over.
let transports = TestTransport.allCases

/// Events of a test answer: `stream_start`, then `count` text deltas `t0 `, `t1 `, …
func answer(_ count: Int, from: Int = 0) -> [EventPayload] {
    (from..<from + count).map { .textDelta(TextDelta(text: "t\($0) ")) }
}

let end = EventPayload.streamComplete(StreamComplete(finishReason: .stop))

/// The concatenated text of the text deltas among `events`.
func text(of events: [Event]) -> String {
    events.compactMap { event -> String? in
        if case .textDelta(let delta) = event.payload { return delta.text }
        return nil
    }.joined()
}

/// Iterates until the sequence ends, ignoring heartbeats.
func collect(_ subscription: Subscription) async throws -> [Event] {
    var events: [Event] = []
    for try await event in subscription where event.type != .heartbeat {
        events.append(event)
    }
    return events
}

/// Checks that `events` are an exact answer: seqs strictly increasing up to `lastSeq` (a replay may
/// merge runs of deltas into one event carrying the run's last seq) and exactly `text`.
func expectExactAnswer(
    _ events: [Event], lastSeq: Int, text expected: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let seqs = events.compactMap(\.seq)
    #expect(seqs.count == events.count, "events without a seq", sourceLocation: sourceLocation)
    #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }, "seqs \(seqs)", sourceLocation: sourceLocation)
    #expect(seqs.last == lastSeq, sourceLocation: sourceLocation)
    #expect(text(of: events) == expected, sourceLocation: sourceLocation)
}
