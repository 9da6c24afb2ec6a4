import NIOCore
import NIOHTTP1
import NIOPosix

/// One keep-alive HTTP/1.1 connection for the publisher and the control API: one request at a time.
///
/// Not on the viewers' receive path (a few hundred requests per second at most), so plain async code over
/// `NIOAsyncChannel` is the right tool here.
struct ControlConnection: Sendable {
    /// An answer.
    struct Response: Sendable {
        var status: Int
        var body: ByteBuffer
    }

    let hostHeader: String
    let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    /// Connects to `address`, over TLS with `tls`.
    static func connect(
        to address: SocketAddress, hostHeader: String, tls: LoadTLS?, group: any EventLoopGroup
    ) async throws -> ControlConnection {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?.addHandler(to: channel)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return ControlConnection(hostHeader: hostHeader, channel: channel)
    }

    /// Runs `body` with request/response access, then closes the connection.
    func run<Result: Sendable>(
        _ body: (_ send: (HTTPMethod, String, ByteBuffer?, String) async throws -> Response) async throws -> Result
    ) async throws -> Result {
        try await self.channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            return try await body { method, path, payload, contentType in
                var headers = HTTPHeaders()
                headers.add(name: "host", value: self.hostHeader)
                if let payload {
                    headers.add(name: "content-type", value: contentType)
                    headers.add(name: "content-length", value: String(payload.readableBytes))
                } else if method == .POST {
                    headers.add(name: "content-length", value: "0")
                }
                try await outbound.write(
                    .head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)))
                if let payload { try await outbound.write(.body(.byteBuffer(payload))) }
                try await outbound.write(.end(nil))
                var status = 0
                var collected = ByteBuffer()
                while let part = try await iterator.next() {
                    switch part {
                    case .head(let head): status = Int(head.status.code)
                    case .body(var chunk): collected.writeBuffer(&chunk)
                    case .end: return Response(status: status, body: collected)
                    }
                }
                throw LoadTestError.connectionClosed
            }
        }
    }
}
