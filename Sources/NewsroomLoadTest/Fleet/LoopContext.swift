import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What every viewer of a run shares (immutable).
struct FleetShared: Sendable {
    /// The server's address, resolved once.
    var server: SocketAddress
    /// The `Host` header.
    var hostHeader: String
    /// The SSE request target per topic.
    var ssePaths: [String]
    /// The WebSocket request target per topic (resuming adds `after=`).
    var webSocketPaths: [String]
    /// Which transport each viewer uses.
    var transport: TransportMix
    /// The hub's gRPC port (same host as ``server``), for gRPC viewers.
    var grpcServer: SocketAddress?
    /// The `:authority` of gRPC requests.
    var grpcAuthority: String
    /// The serialized `SubscribeRequest` per topic, without `after` (a resume appends it: protobuf
    /// fields may come in any order).
    var grpcRequests: [ByteBuffer]
    /// Source addresses to spread viewers over (empty: let the kernel choose).
    var sourceAddresses: [SocketAddress]
    /// Viewers per source address.
    var viewersPerSourceAddress: Int
    /// The sequence number comes from the `id:` field and the send time from `ts` (generations), rather
    /// than from the ``PayloadMarker``.
    var sequenceFromEventID: Bool
    /// Bytes per second a slow viewer reads (0: stalled).
    var slowReadBytesPerSecond: Int
    var topics: Int
    /// TLS for an `https://` URL, `nil` in cleartext.
    var tls: LoadTLS?

    func sourceAddress(for index: Int) -> SocketAddress? {
        guard !self.sourceAddresses.isEmpty else { return nil }
        return self.sourceAddresses[(index / self.viewersPerSourceAddress) % self.sourceAddresses.count]
    }
}

/// The viewers of one event loop and their measurements.
///
/// - Important: Confined to ``eventLoop``: every method and property is used only on it (``Fleet`` hops
///   there with `submit`), which is why it is `@unchecked Sendable`. Latencies and counters are
///   recorded here without locks and merged once at the end.
final class LoopContext: @unchecked Sendable {
    let eventLoop: any EventLoop
    let shared: FleetShared
    private(set) var clients: [LoadClient] = []
    private var slowClients: [LoadClient] = []
    private var slowTicker: RepeatedTask?

    /// Whether dropped viewers reconnect (off once the run stops).
    var running = true
    var report = FleetReport()
    var storm = StormReport()
    var stormHappened = false
    /// Events published in [start, end) (wall clock, ns) count towards the storm's live latency.
    var stormWindowStart: Int64 = .max
    var stormWindowEnd: Int64 = .max
    /// How long after the drop events count as published "during the storm".
    static let stormWindow: Int64 = 5_000_000_000
    var established = 0
    var received = 0
    var fastLatency = LatencyHistogram()
    var slowLatency = LatencyHistogram()
    /// The largest sequence number any viewer of this loop received, per topic.
    var topicHeads: [Int]
    private var retiredFast = GroupReport()
    private var retiredSlow = GroupReport()

    init(eventLoop: any EventLoop, shared: FleetShared) {
        self.eventLoop = eventLoop
        self.shared = shared
        self.topicHeads = Array(repeating: 0, count: shared.topics)
    }

    // MARK: Connecting

    /// Creates the viewers `indices` and connects them.
    func start(_ viewers: [(index: Int, topic: Int, slow: Bool)]) {
        for viewer in viewers {
            let client = LoadClient(
                index: viewer.index, topic: viewer.topic, isSlow: viewer.slow,
                transport: self.shared.transport.transport(viewer: viewer.index), loop: self)
            self.clients.append(client)
            if viewer.slow { self.slowClients.append(client) }
            self.report.attempted += 1
            self.connect(client, resume: false)
        }
        if !self.slowClients.isEmpty, self.slowTicker == nil {
            self.slowTicker = self.eventLoop.scheduleRepeatedTask(
                initialDelay: .milliseconds(100), delay: .milliseconds(100)
            ) { _ in self.tickSlowReaders() }
        }
    }

    /// Opens a connection for `client`, resuming from its last id if `resume`.
    func connect(_ client: LoadClient, resume: Bool) {
        client.state = .connecting
        client.attempt += 1
        let attempt = client.attempt
        if client.transport == .grpc {
            self.connectGRPC(client, resume: resume, attempt: attempt)
            return
        }
        var request = ByteBuffer()
        if client.usesWebSocket {
            // RFC 6455 section 4.1; the key is fixed (the load tester does not check the accept value).
            let path = self.shared.webSocketPaths[client.topic]
            request.writeString("GET \(path)")
            if resume, !client.lastEventID.isEmpty {
                request.writeString(path.contains("?") ? "&after=" : "?after=")
                request.writeBytes(client.lastEventID)
            }
            request.writeString(" HTTP/1.1\r\nHost: \(self.shared.hostHeader)\r\n")
            request.writeStaticString("Upgrade: websocket\r\nConnection: Upgrade\r\n")
            request.writeStaticString("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        } else {
            request.writeString("GET \(self.shared.ssePaths[client.topic]) HTTP/1.1\r\nHost: \(self.shared.hostHeader)\r\n")
            request.writeStaticString("Accept: text/event-stream\r\nCache-Control: no-cache\r\n")
            if resume, !client.lastEventID.isEmpty {
                request.writeStaticString("Last-Event-ID: ")
                request.writeBytes(client.lastEventID)
                request.writeStaticString("\r\n")
            }
            request.writeStaticString("\r\n")
        }
        let finalRequest = request
        let tls = self.shared.tls
        self.open(client, attempt: attempt, to: self.shared.server) { channel, client in
            try tls?.addHandler(to: channel)
            try channel.pipeline.syncOperations.addHandler(LoadConnectionHandler(client: client, request: finalRequest))
        }
    }

    /// Connects `client`'s socket to `server` (slow viewers read in small, paced pieces) and sets up its
    /// pipeline with `configure`; a failed connect counts for the attempt.
    private func open(
        _ client: LoadClient, attempt: Int, to server: SocketAddress,
        configure: @escaping (any Channel, LoadClient) throws -> Void
    ) {
        let bound = NIOLoopBound(client, eventLoop: self.eventLoop)
        let configureBound = NIOLoopBound(configure, eventLoop: self.eventLoop)
        var bootstrap = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configureBound.value(channel, bound.value)
                }
            }
        if client.isSlow {
            let chunk = self.shared.slowReadBytesPerSecond > 0 ? max(64, self.shared.slowReadBytesPerSecond / 10) : 1024
            bootstrap = bootstrap.channelOption(.autoRead, value: false)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: chunk))
                .channelOption(.socketOption(.so_rcvbuf), value: 4096)
        }
        if let source = self.shared.sourceAddress(for: client.index) {
            bootstrap = bootstrap.bind(to: source)
        }
        bootstrap.connect(to: server).whenFailure { error in
            let client = bound.value
            guard client.attempt == attempt, client.closedAttempt != attempt else { return }
            client.lastError = Self.reason(for: error)
            client.connectionClosed(attempt: attempt)
        }
    }

    /// Opens an HTTP/2 connection for a gRPC viewer and its one `Subscribe` call.
    private func connectGRPC(_ client: LoadClient, resume: Bool, attempt: Int) {
        guard let server = self.shared.grpcServer else { return }
        var message = self.shared.grpcRequests[client.topic]
        if resume, client.numericID > 0 {
            // Field 2 (`after`), varint.
            message.writeInteger(UInt8(2 << 3))
            var value = UInt64(client.numericID)
            while value >= 0x80 {
                message.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            message.writeInteger(UInt8(value))
        }
        let call = GRPCViewerCall(authority: self.shared.grpcAuthority, message: message)
        let tls = self.shared.tls
        self.open(client, attempt: attempt, to: server) { channel, client in
            try tls?.addHandler(to: channel, h2: true)
            try GRPCViewerCall.configure(channel, client: client, call: call)
        }
    }

    /// Viewers still waiting for their first answer (every attempt ends as established or failed).
    var pending: Int {
        self.report.attempted - self.established - self.report.failed
    }

    /// Gives up on viewers that never got an answer (counted as failed, `no_response`).
    func expirePending() {
        for client in self.clients where client.state == .connecting && !client.everEstablished {
            client.lastError = "no_response"
            client.intent = .none
            client.state = .ended
            self.report.failed += 1
            self.report.failures["no_response", default: 0] += 1
            if let channel = client.channel {
                client.intent = .stop
                channel.close(promise: nil)
            }
        }
    }

    /// Called when a viewer's connection closed or failed to open.
    func connectionClosed(_ client: LoadClient) {
        client.channel = nil
        let intent = client.intent
        client.intent = .none
        switch intent {
        case .stop:
            client.state = .stopped
            return
        case .storm:
            self.connect(client, resume: true)
            return
        case .churn:
            self.retire(client)
            self.report.churnJoined += 1
            self.connect(client, resume: false)
            return
        case .none:
            break
        }
        let wasEstablished = client.state == .established
        if !client.everEstablished {
            if client.state != .ended || client.lastError != nil {
                self.report.failed += 1
                self.report.failures[client.lastError ?? "closed", default: 0] += 1
            }
            client.state = .ended
            return
        }
        if client.state == .ended || !self.running {
            if client.state != .ended { client.state = .stopped }
            return
        }
        // A drop (or a failed reconnection): resume like an EventSource would, after a short delay.
        if wasEstablished { self.report.drops += 1 } else {
            self.report.failures["reconnect_" + (client.lastError ?? "closed"), default: 0] += 1
        }
        client.state = .connecting
        let bound = NIOLoopBound(client, eventLoop: self.eventLoop)
        self.eventLoop.scheduleTask(in: .milliseconds(Int64.random(in: 250...750))) {
            let client = bound.value
            guard self.running, client.state == .connecting, client.channel == nil else { return }
            self.report.reconnects += 1
            self.connect(client, resume: true)
        }
    }

    // MARK: Slow readers

    private func tickSlowReaders() {
        for client in self.slowClients {
            guard let channel = client.channel else { continue }
            // A stalled viewer reads only until its response head arrived.
            if self.shared.slowReadBytesPerSecond > 0 || client.state != .established {
                channel.read()
            }
        }
    }

    // MARK: Scenarios

    /// Drops every established viewer at once; each reconnects at once with `Last-Event-ID` and counts as
    /// recovered (live again) once its new subscription is answered and it holds every event up to the
    /// highest one delivered on this loop by then; the time until it receives an event newer than
    /// `heads[topic]` (published after the drop) is reported beside it.
    func stormDrop(heads: [Int], at time: Int64) {
        self.stormHappened = true
        self.stormWindowStart = time
        self.stormWindowEnd = time &+ Self.stormWindow
        for client in self.clients where client.state == .established {
            guard let channel = client.channel else { continue }
            client.intent = .storm
            client.inStorm = true
            client.stormDroppedAt = time
            client.stormHead = heads[client.topic]
            client.stormCatchUpTarget = .max
            self.storm.dropped += 1
            channel.close(promise: nil)
        }
    }

    /// `count` random established viewers leave; a new viewer joins from the start in each one's place.
    func churn(_ count: Int) {
        guard !self.clients.isEmpty else { return }
        var left = 0
        var attempts = 0
        while left < count, attempts < count * 4 {
            attempts += 1
            let client = self.clients[Int.random(in: 0..<self.clients.count)]
            guard client.state == .established, client.intent == .none, let channel = client.channel else { continue }
            client.intent = .churn
            self.report.churnLeft += 1
            channel.close(promise: nil)
            left += 1
        }
    }

    /// Folds a leaving viewer's accounting into the retired totals (it is expected to have received
    /// everything up to the last number it saw) and resets it as a new viewer.
    private func retire(_ client: LoadClient) {
        let tracker = client.tracker
        var group = GroupReport()
        group.clients = 1
        group.expected = tracker.expected(through: tracker.highest)
        group.received = tracker.unique
        group.lost = tracker.lost(through: tracker.highest)
        group.duplicated = tracker.duplicates
        group.republished = tracker.republished
        group.outOfOrder = tracker.outOfOrder
        if client.isSlow { self.retiredSlow.merge(group) } else { self.retiredFast.merge(group) }
        client.tracker = SequenceTracker()
        client.lastEventID = []
        client.numericID = -1
        client.eventSeq = -1
        client.highestHubSeq = 0
        client.inStorm = false
        client.stormCatchUpTarget = -1
        // The new viewer's replay of the history is not live: latency counts from the next event on.
        client.latencyFrom = self.topicHeads[client.topic] + 1
    }

    // MARK: Reporting

    func progress() -> FleetProgress {
        FleetProgress(
            established: self.clients.reduce(0) { $0 + ($1.state == .established ? 1 : 0) },
            failed: self.report.failed, received: self.received,
            p99Milliseconds: self.fastLatency.milliseconds(atPercentile: 99))
    }

    /// Fast live viewers that have not yet received everything up to `published[topic]`.
    func lagging(published: [Int]) -> Int {
        var count = 0
        for client in self.clients where !client.isSlow && client.isLive {
            if client.tracker.highest < published[client.topic] || client.tracker.unique < client.tracker.expected(through: published[client.topic]) {
                count += 1
            }
        }
        return count
    }

    /// Stops reconnecting and closes every connection.
    func stop() -> EventLoopFuture<Void> {
        self.running = false
        self.slowTicker?.cancel()
        self.slowTicker = nil
        var futures: [EventLoopFuture<Void>] = []
        for client in self.clients {
            if let channel = client.channel {
                client.intent = .stop
                futures.append(channel.close().recover { _ in })
            } else if client.state == .connecting {
                client.state = .stopped
            }
        }
        return EventLoopFuture.andAllComplete(futures, on: self.eventLoop)
    }

    /// The loop's report; `published[topic]` is the last sequence number each topic reached.
    func finish(published: [Int]) -> FleetReport {
        var report = self.report
        report.established = self.established
        var fast = self.retiredFast
        var slow = self.retiredSlow
        for client in self.clients where client.everEstablished {
            let tracker = client.tracker
            var group = GroupReport()
            group.clients = 1
            let last = max(published[client.topic], 0)
            group.expected = tracker.expected(through: last)
            group.received = tracker.unique
            group.lost = tracker.lost(through: last)
            group.duplicated = tracker.duplicates
        group.republished = tracker.republished
            group.outOfOrder = tracker.outOfOrder
            if client.isSlow { slow.merge(group) } else { fast.merge(group) }
        }
        // Retired viewers were counted as viewers in their own right; report distinct slots only.
        fast.clients = self.clients.reduce(0) { $0 + (!$1.isSlow && $1.everEstablished ? 1 : 0) }
        slow.clients = self.clients.reduce(0) { $0 + ($1.isSlow && $1.everEstablished ? 1 : 0) }
        fast.latency = self.fastLatency
        slow.latency = self.slowLatency
        report.fast = fast
        report.slow = slow
        if self.stormHappened { report.storm = self.storm }
        return report
    }

    // MARK: Errors

    /// A short, stable name for a connection error (the keys of `failures`).
    static func reason(for error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            if error.dnsAAAAError != nil || error.dnsAError != nil { return "dns" }
            if let first = error.connectionErrors.first { return Self.reason(for: first.error) }
            return "connect_failed"
        }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout: return "connect_timeout"
            case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof: return "closed"
            default: return "channel_error"
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "refused"
            case ECONNRESET: return "reset"
            case EADDRNOTAVAIL, EADDRINUSE: return "no_source_port"
            case EMFILE, ENFILE: return "fd_limit"
            case ETIMEDOUT: return "timeout"
            case EPIPE: return "broken_pipe"
            default: return "errno_\(error.errnoCode)"
            }
        }
        return String(describing: type(of: error))
    }
}

extension LoadClient {
    /// The connection closed (or never opened); the loop decides whether to reconnect.
    func connectionClosed(attempt: Int) {
        guard attempt == self.attempt, self.closedAttempt != attempt else { return }
        self.closedAttempt = attempt
        self.loop.connectionClosed(self)
    }
}
