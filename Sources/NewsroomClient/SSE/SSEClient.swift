import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NewsroomWire

/// Opens SSE connections over NIO, one channel per subscription, with an ``SSEClientHandler``.
public enum SSEClient {
    /// Connects to `host:port` and starts an SSE request for `path`.
    /// - Parameters:
    ///   - receiveBufferBytes: `SO_RCVBUF` for the socket (small values make a reader that stops
    ///     reading stall the server sooner, for slow-consumer tests).
    ///   - autoRead: `false` to leave the socket unread until `channel.read()` is called.
    ///   - localAddress: The source address to bind (e.g. another 127.0.0.x when ports run out).
    ///   - tls: Speak TLS with this context (`nil`: cleartext). Offer `http/1.1` by ALPN in it: the
    ///     handler speaks HTTP/1.1.
    ///   - serverHostname: The name for TLS's server name indication and the certificate check (`nil`
    ///     for an IP address: the certificate is checked against the address connected to).
    ///   - onUpdate: Called on the channel's event loop.
    /// - Returns: The connected channel.
    public static func connect(
        host: String, port: Int, path: String, lastEventID: String? = nil, headers: [(String, String)] = [],
        group: any EventLoopGroup, receiveBufferBytes: Int? = nil, autoRead: Bool = true,
        localAddress: SocketAddress? = nil, tls: NIOSSLContext? = nil, serverHostname: String? = nil,
        onUpdate: @escaping @Sendable (SSEClientHandler.Update) -> Void
    ) -> EventLoopFuture<any Channel> {
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: autoRead)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        SSEClientHandler(
                            path: path, host: hostHeader, lastEventID: lastEventID, headers: headers,
                            onUpdate: onUpdate))
                }
            }
        if let receiveBufferBytes {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferBytes))
        }
        if let localAddress {
            bootstrap = bootstrap.bind(to: localAddress)
        }
        return bootstrap.connect(host: host, port: port)
    }
}
