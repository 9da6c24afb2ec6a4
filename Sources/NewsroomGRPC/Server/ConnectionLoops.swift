import CoreMetrics
import NIOCore
import Synchronization

/// The event loop of each open connection, by the peer string grpc-swift reports in
/// `ServerContext.remotePeer` (`ipv4:host:port`, `ipv6:[host]:port`).
///
/// A `Subscribe` call puts its subscription on its connection's loop (see ``EventLoopTaskExecutor``).
/// grpc-swift does not hand the channel to a service, so the server learns the loop when it accepts the
/// connection (a channel callback that only reads the address and watches for the close). A peer it does
/// not know — a format it does not recognize, a race with the close — just gets a loop of the group.
final class ConnectionLoops: Sendable {
    private let loops = Mutex<[String: any EventLoop]>([:])
    private let metrics: GRPCMetrics?

    init(metrics: GRPCMetrics? = nil) {
        self.metrics = metrics
    }

    /// Records `channel`'s loop until the channel closes.
    func register(_ channel: any Channel) -> EventLoopFuture<Void> {
        if let metrics = self.metrics {
            metrics.connections.increment()
            channel.closeFuture.whenComplete { _ in metrics.connections.decrement() }
        }
        guard let key = Self.peer(channel.remoteAddress) else { return channel.eventLoop.makeSucceededVoidFuture() }
        let loop = channel.eventLoop
        self.loops.withLock { $0[key] = loop }
        channel.closeFuture.whenComplete { _ in
            self.loops.withLock { loops in
                if loops[key] === loop { loops[key] = nil }
            }
        }
        return loop.makeSucceededVoidFuture()
    }

    /// The loop of the connection of `peer`, if it is open.
    func loop(forPeer peer: String) -> (any EventLoop)? {
        self.loops.withLock { $0[peer] }
    }

    /// The number of open connections known (for tests).
    var count: Int { self.loops.withLock { $0.count } }

    /// The peer string of an address, as grpc-swift's NIO transport writes it.
    static func peer(_ address: SocketAddress?) -> String? {
        switch address {
        case .v4(let ipv4)?: return "ipv4:\(ipv4.host):\(address!.port!)"
        case .v6(let ipv6)?: return "ipv6:[\(ipv6.host)]:\(address!.port!)"
        default: return nil
        }
    }
}
