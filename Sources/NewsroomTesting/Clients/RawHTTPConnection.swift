import NIOCore
import NIOPosix
import Synchronization

/// A plain TCP connection for tests that need to send exact bytes (malformed requests, slowloris
/// headers, stalled readers) and read the raw answer.
public struct RawHTTPConnection: Sendable {
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = Mutex<[UInt8]>([])
        let closed = Atomic<Bool>(false)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            self.received.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.closed.store(true, ordering: .relaxed)
        }
    }

    public let channel: any Channel
    let collector: Collector

    /// Connects to `127.0.0.1:port`.
    /// - Parameters:
    ///   - receiveBufferBytes: `SO_RCVBUF`, to make a non-reading client stall the server quickly.
    ///   - autoRead: `false` for a client that never reads (until ``resumeReading()``).
    public static func connect(
        port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, receiveBufferBytes: Int? = nil,
        autoRead: Bool = true
    ) async throws -> RawHTTPConnection {
        let collector = Collector()
        var bootstrap = ClientBootstrap(group: group)
            .channelOption(.autoRead, value: autoRead)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
        if let receiveBufferBytes {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferBytes))
        }
        let channel = try await bootstrap.connect(host: "127.0.0.1", port: port).get()
        return RawHTTPConnection(channel: channel, collector: collector)
    }

    /// Sends bytes.
    public func send(_ string: String) async throws {
        try await self.send(Array(string.utf8))
    }

    /// Sends bytes.
    public func send(_ bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Everything received so far, decoded leniently.
    public var received: String {
        String(decoding: self.collector.received.withLock { $0 }, as: UTF8.self)
    }

    /// Whether the server closed the connection.
    public var isClosed: Bool { self.collector.closed.load(ordering: .relaxed) }

    /// Waits until the received text contains `marker`; returns everything received.
    @discardableResult
    public func read(until marker: String, timeout: Duration = .seconds(10)) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !self.received.contains(marker) {
            if clock.now >= deadline { throw TestTimeout(what: "'\(marker)'", state: self.received) }
            try await Task.sleep(for: .milliseconds(5))
        }
        return self.received
    }

    /// Waits until the server closes the connection; returns everything received.
    @discardableResult
    public func readUntilClosed(timeout: Duration = .seconds(10)) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !self.isClosed {
            if clock.now >= deadline { throw TestTimeout(what: "close", state: self.received) }
            try await Task.sleep(for: .milliseconds(5))
        }
        return self.received
    }

    /// Starts reading from a connection made with `autoRead: false`.
    public func resumeReading() async throws {
        try await self.channel.setOption(.autoRead, value: true).get()
        self.channel.read()
    }

    public func close() async {
        try? await self.channel.close()
    }
}
