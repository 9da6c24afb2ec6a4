import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One logged-in RESP3 connection: a channel whose pipeline is TLS (optional), ``RESPDecoder``,
/// ``RESPCommandEncoder`` and ``RedisCommandHandler``.
///
/// It does not reconnect; ``RedisClient`` replaces it when it closes.
struct RedisConnection: Sendable {
    let channel: any Channel
    /// Distinguishes this connection from the one it replaced.
    let id: ObjectIdentifier

    var eventLoop: any EventLoop { self.channel.eventLoop }

    init(channel: any Channel) {
        self.channel = channel
        self.id = ObjectIdentifier(channel)
    }

    /// Writes and flushes commands; the promises complete with their replies.
    func write(_ request: RedisRequest) {
        self.channel.writeAndFlush(request).whenFailure { error in
            // Never reached the handler (channel already closed): the promises would never complete.
            request.fail(
                error as? RedisError
                    ?? RedisError(code: .connectionClosed, message: "the connection to Redis is closed", cause: error)
            )
        }
    }

    /// Sends one command and waits for its reply (handshake use: no client-level timeout machinery).
    func send(_ command: RedisCommand) async throws -> RESPValue {
        let promise = self.eventLoop.makePromise(of: RESPValue.self)
        self.write(.single(command, promise))
        return try await promise.futureResult.get()
    }

    func close() {
        self.channel.close(promise: nil)
    }

    /// Connects, sets up the pipeline, and logs in: `HELLO 3` (with `AUTH` and `SETNAME` when configured),
    /// then `SELECT` when the database is not 0.
    ///
    /// - Throws: ``RedisError/Code/connectionFailed`` (with the cause) if any step fails or takes longer
    ///   than the configuration's connect timeout.
    static func connect(
        configuration: RedisClient.Configuration,
        eventLoop: any EventLoop,
        logger: Logger,
        onPush: @escaping @Sendable (RedisPushMessage) -> Void
    ) async throws -> RedisConnection {
        let sslContext: NIOSSLContext?
        do {
            sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        } catch {
            throw RedisError(code: .connectionFailed, message: "invalid TLS configuration", cause: error)
        }
        // SNI carries host names only, never IP literals.
        let isIPAddress = (try? SocketAddress(ipAddress: configuration.host, port: 0)) != nil
        let serverHostname = isIPAddress ? nil : configuration.host
        let limits = configuration.decoderLimits

        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                    }
                    try sync.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
                    try sync.addHandler(MessageToByteHandler(RESPCommandEncoder()))
                    try sync.addHandler(RedisCommandHandler(onPush: onPush))
                }
            }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw RedisError(
                code: .connectionFailed,
                message: "could not connect to Redis at \(configuration.host):\(configuration.port)",
                cause: error
            )
        }
        let connection = RedisConnection(channel: channel)
        // The handshake shares the connect timeout: a server that accepts and then says nothing must not
        // hang the caller.
        let deadline = eventLoop.scheduleTask(in: configuration.connectTimeout) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        do {
            var hello: [RedisArgument] = ["HELLO", 3]
            if let password = configuration.password {
                hello += ["AUTH", .string(configuration.username ?? "default"), .string(password)]
            }
            if let name = configuration.clientName {
                hello += ["SETNAME", .string(name)]
            }
            _ = try await connection.send(RedisCommand(hello))
            if configuration.database != 0 {
                _ = try await connection.send(["SELECT", .integer(configuration.database)])
            }
        } catch {
            connection.close()
            let reason =
                (error as? RedisError)?.code == .serverError
                ? "Redis refused the handshake (HELLO 3 / AUTH / SELECT); Redis 6 or later is required"
                : "the Redis handshake did not complete"
            throw RedisError(code: .connectionFailed, message: reason, cause: error)
        }
        logger.debug(
            "Connected to Redis",
            metadata: ["redis.host": "\(configuration.host)", "redis.port": "\(configuration.port)"]
        )
        return connection
    }
}
