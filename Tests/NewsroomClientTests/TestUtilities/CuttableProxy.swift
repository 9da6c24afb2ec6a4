import NewsroomProto
import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on 127.0.0.1:0 in front of a server. ``cut()`` closes every open connection at once, in
/// the middle of whatever was streaming, as a dropped network would; new connections keep working. Glue handlers after swift-nio's
/// `NIOConnectProxy` example.
final class CuttableProxy: Sendable {
    let port: Int
    private let server: any Channel
    private let registry: Registry

    private init(server: any Channel, registry: Registry) {
        self.server = server
        self.port = server.localAddress!.port!
        self.registry = registry
    }

    static func start(targetPort: Int, group: any EventLoopGroup) async throws -> CuttableProxy {
        let registry = Registry()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                registry.add(inbound)
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMap { outbound in
                        registry.add(outbound)
                        // The accepted channel is registered (and starts reading) once this completes.
                        return inbound.eventLoop.makeCompletedFuture {
                            let (a, b) = GlueHandler.matchedPair()
                            try inbound.pipeline.syncOperations.addHandler(a)
                            try outbound.pipeline.syncOperations.addHandler(b)
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return CuttableProxy(server: server, registry: registry)
    }

    /// Closes every connection open through the proxy; returns how many sockets were closed.
    @discardableResult
    func cut() -> Int {
        let channels = self.registry.open.withLock { open in
            defer { open.removeAll() }
            return Array(open.values)
        }
        for channel in channels { channel.close(promise: nil) }
        return channels.count
    }

    func stop() async {
        self.cut()
        try? await self.server.close()
    }

    private final class Registry: Sendable {
        let open = Mutex<[ObjectIdentifier: any Channel]>([:])
        func add(_ channel: any Channel) {
            let id = ObjectIdentifier(channel)
            self.open.withLock { $0[id] = channel }
            channel.closeFuture.whenComplete { _ in _ = self.open.withLock { $0.removeValue(forKey: id) } }
        }
    }
}

/// Forwards bytes between two channels, honouring writability (from swift-nio's NIOConnectProxy).
private final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func matchedPair() -> (GlueHandler, GlueHandler) {
        let first = GlueHandler()
        let second = GlueHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { self.partner?.partnerWrite(data) }
    func channelReadComplete(context: ChannelHandlerContext) { self.partner?.partnerFlush() }
    func channelInactive(context: ChannelHandlerContext) { self.partner?.partnerClose() }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.partner?.partnerBecameWritable() }
    }

    func read(context: ChannelHandlerContext) {
        if let partner = self.partner, partner.partnerWritable {
            context.read()
        } else {
            self.pendingRead = true
        }
    }

    private var partnerWritable: Bool { self.context?.channel.isWritable ?? false }
    private func partnerWrite(_ data: NIOAny) { self.context?.write(data, promise: nil) }
    private func partnerFlush() { self.context?.flush() }
    private func partnerClose() { self.context?.close(promise: nil) }
    private func partnerBecameWritable() {
        if self.pendingRead {
            self.pendingRead = false
            self.context?.read()
        }
    }
}
