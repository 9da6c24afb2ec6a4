import NIOCore
import NIOHTTP1
import NIOPosix
import NewsroomClient
import NewsroomCore
import NewsroomWire
import Synchronization

/// An SSE connection for tests that keeps every event it receives and can be awaited.
public final class CollectingSSEClient: Sendable {
    public struct State: Sendable {
        public var status: Int?
        public var headers: [(String, String)] = []
        public var events: [ServerSentEvent] = []
        public var ended = false
        public var endError: String?
        public var retry: Int?
    }

    private let state = Mutex(State())
    public let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects and starts the SSE request.
    public static func connect(
        port: Int, path: String, lastEventID: String? = nil, headers: [(String, String)] = [],
        group: any EventLoopGroup, receiveBufferBytes: Int? = nil, autoRead: Bool = true
    ) async throws -> CollectingSSEClient {
        let box = Box()
        let channel = try await SSEClient.connect(
            host: "127.0.0.1", port: port, path: path, lastEventID: lastEventID, headers: headers, group: group,
            receiveBufferBytes: receiveBufferBytes, autoRead: autoRead
        ) { update in
            box.client?.record(update) ?? box.early.append(update)
        }.get()
        let client = CollectingSSEClient(channel: channel)
        try await channel.eventLoop.submit {
            box.client = client
            for update in box.early { client.record(update) }
            box.early.removeAll()
        }.get()
        return client
    }

    /// Holds updates that arrive before the client object exists (loop-confined).
    private final class Box: @unchecked Sendable {
        var client: CollectingSSEClient?
        var early: [SSEClientHandler.Update] = []
    }

    private func record(_ update: SSEClientHandler.Update) {
        self.state.withLock { state in
            switch update {
            case .head(let head):
                state.status = Int(head.status.code)
                state.headers = head.headers.map { ($0.name.lowercased(), $0.value) }
            case .event(let event):
                state.events.append(event)
            case .end(let error):
                state.ended = true
                state.endError = error.map { "\($0)" }
            }
        }
    }

    public var snapshot: State { self.state.withLock { $0 } }
    public var events: [ServerSentEvent] { self.state.withLock { $0.events } }
    public var status: Int? { self.state.withLock { $0.status } }
    public var ended: Bool { self.state.withLock { $0.ended } }

    /// The broadcast events (decoded `data`), without heartbeats unless asked.
    public func decodedEvents(includeHeartbeats: Bool = false) -> [Event] {
        self.events.map { Event.decodedForTest(Array($0.data.utf8)) }
            .filter { includeHeartbeats || $0.type != .heartbeat }
    }

    /// Waits until `condition` holds for the collected state, or throws after `timeout`.
    public func wait(
        timeout: Duration = .seconds(10), _ what: String = "condition", until condition: (State) -> Bool
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !self.state.withLock({ condition($0) }) {
            if clock.now >= deadline { throw TestTimeout(what: what, state: "\(self.snapshot.events.count) events, ended: \(self.ended)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits until at least `count` events (of any type) arrived.
    public func wait(forEvents count: Int, timeout: Duration = .seconds(10)) async throws {
        try await self.wait(timeout: timeout, "\(count) events") { $0.events.count >= count }
    }

    /// Waits for the response to end.
    public func waitForEnd(timeout: Duration = .seconds(10)) async throws {
        try await self.wait(timeout: timeout, "end") { $0.ended }
    }

    public func close() async {
        try? await self.channel.close()
    }
}

/// A wait in a test took too long.
public struct TestTimeout: Error, CustomStringConvertible {
    public var what: String
    public var state: String
    public var description: String { "timed out waiting for \(self.what) (\(self.state))" }
}

extension Event {
    /// A broadcast event decoded for a test's assertions. Bytes that do not decode are not dropped (a
    /// test comparing events would then pass without them): they become an `error` event with code
    /// `undecodable_in_test` and the decoder's message, which no expected list contains.
    public static func decodedForTest(_ bytes: some Collection<UInt8>) -> Event {
        do {
            return try EventDecoder.decodeBroadcast(bytes)
        } catch {
            return Event(
                seq: nil, topic: "", timestamp: Timestamp(millisecondsSince1970: 0),
                payload: .error(
                    StreamError(
                        code: "undecodable_in_test", message: "\(error.message): \(String(decoding: Array(bytes), as: UTF8.self))",
                        retryable: false)))
        }
    }
}
