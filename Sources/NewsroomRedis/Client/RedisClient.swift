import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A RESP3 client for one Redis server: pipelined commands, Pub/Sub pushes, per-command timeouts, and
/// reconnection with exponential backoff.
///
/// One client is one TCP connection, bound to one event loop for its whole life; reconnects stay on it.
/// Commands from any task are written as they come, without waiting for earlier replies (pipelining), and
/// their replies are matched first in, first out. Push messages (Pub/Sub) share the connection with replies.
///
/// ```swift
/// let client = try await RedisClient.connect(
///     configuration: try .init(url: "redis://localhost:6379"),
///     logger: logger,
///     onPush: { message in /* on client.eventLoop */ },
///     onConnectionEvent: { event in /* resubscribed already; catch up */ }
/// )
/// try await client.set("greeting", to: "hello")
/// try await client.ssubscribe(to: ["topic:{t1}"])
/// await client.close()
/// ```
///
/// - Important: Call ``close()`` when done; a client that is never closed keeps its connection open.
public final class RedisClient: RedisCommandSender, Sendable {
    /// The event loop the connection and every callback run on.
    public let eventLoop: any EventLoop
    /// The configuration the client was made with.
    public let configuration: Configuration

    private let logger: Logger
    private let state: Mutex<StateMachine>
    private let reconnectTask = Mutex<Task<Void, Never>?>(nil)
    private let onPush: (@Sendable (RedisPushMessage) -> Void)?
    private let onConnectionEvent: (@Sendable (RedisConnectionEvent) -> Void)?
    private let pushStreams = Mutex<(next: Int, continuations: [Int: AsyncStream<RedisPushMessage>.Continuation])>(
        (0, [:])
    )

    private init(
        configuration: Configuration,
        eventLoop: any EventLoop,
        logger: Logger,
        onPush: (@Sendable (RedisPushMessage) -> Void)?,
        onConnectionEvent: (@Sendable (RedisConnectionEvent) -> Void)?
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.onPush = onPush
        self.onConnectionEvent = onConnectionEvent
        self.state = Mutex(StateMachine(eventLoop: eventLoop))
    }

    /// Connects and logs in, returning a client ready for commands.
    ///
    /// The first connection is tried once; only a connection lost later is re-established by the
    /// ``Configuration/reconnect`` policy.
    ///
    /// - Parameters:
    ///   - configuration: Where and how to connect.
    ///   - eventLoopGroup: The group to take the client's event loop from. Default the NIOPosix singleton.
    ///   - logger: Where the client logs (connection changes at `info`/`debug`, command names at `debug`;
    ///     never values).
    ///   - onPush: Called on ``eventLoop`` with every push message (Pub/Sub messages, server-side
    ///     unsubscribes), in order. Must not block.
    ///   - onConnectionEvent: Called on ``eventLoop`` when the connection is lost and when it is back.
    ///     On ``RedisConnectionEvent/Kind/reconnected`` the subscriptions are already restored; catch up on
    ///     what was missed. Must not block (start a task for async work).
    /// - Throws: ``RedisError/Code/connectionFailed`` if the server cannot be reached or refuses the login.
    public static func connect(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onPush: (@Sendable (RedisPushMessage) -> Void)? = nil,
        onConnectionEvent: (@Sendable (RedisConnectionEvent) -> Void)? = nil
    ) async throws -> RedisClient {
        let client = RedisClient(
            configuration: configuration,
            eventLoop: eventLoopGroup.next(),
            logger: logger,
            onPush: onPush,
            onConnectionEvent: onConnectionEvent
        )
        do {
            let connection = try await client.makeConnection()
            client.install(connection, attempts: 0)
        } catch {
            await client.close()
            throw error
        }
        return client
    }

    /// Closes the connection and stops reconnecting.
    ///
    /// Commands in flight fail with ``RedisError/Code/connectionClosed``, later ones with
    /// ``RedisError/Code/clientClosed``. Push streams finish. Safe to call more than once.
    public func close() async {
        let action = self.state.withLock { $0.close() }
        self.reconnectTask.withLock { $0?.cancel() }
        switch action {
        case .close(let connection):
            try? await connection.channel.close()
        case .failWaiters(let waiters):
            waiters.fail(RedisError.clientClosed)
        case .none:
            break
        }
        let continuations = self.pushStreams.withLock { streams in
            defer { streams.continuations = [:] }
            return streams.continuations.values
        }
        continuations.forEach { $0.finish() }
    }

    // MARK: - Commands

    /// Sends a command and waits for its reply.
    ///
    /// The command is written at once, pipelined behind any others in flight. While the client is
    /// reconnecting it waits for the new connection, within the timeout.
    ///
    /// - Parameters:
    ///   - command: The command (`["HGET", "key", "field"]`).
    ///   - timeout: How long to wait for the reply; `nil` uses ``Configuration/commandTimeout``.
    /// - Returns: The reply. Error replies are thrown, not returned.
    /// - Throws: ``RedisError``: ``RedisError/Code/serverError`` for an error reply,
    ///   ``RedisError/Code/timeout``, ``RedisError/Code/connectionClosed``, ``RedisError/Code/clientClosed``.
    public func send(_ command: RedisCommand, timeout: TimeAmount? = nil) async throws -> RESPValue {
        let promise = self.eventLoop.makePromise(of: RESPValue.self)
        self.submit([command], [promise], timeout: timeout)
        return try await Self.wait(for: promise)
    }

    /// Sends several commands in one write and one flush, and waits for all their replies.
    ///
    /// The commands reach the server back to back, with no other caller's command in between. Each has
    /// its own result: an error reply fails only its own command.
    ///
    /// - Parameters:
    ///   - commands: The commands, in order.
    ///   - timeout: How long to wait for all replies; `nil` uses ``Configuration/commandTimeout``.
    /// - Returns: One result per command, in order.
    public func pipeline(
        _ commands: [RedisCommand],
        timeout: TimeAmount? = nil
    ) async -> [Result<RESPValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        let promises = commands.map { _ in self.eventLoop.makePromise(of: RESPValue.self) }
        self.submit(commands, promises, timeout: timeout)
        var results: [Result<RESPValue, RedisError>] = []
        results.reserveCapacity(promises.count)
        for promise in promises {
            do {
                results.append(.success(try await Self.wait(for: promise)))
            } catch {
                results.append(.failure(Self.redisError(error)))
            }
        }
        return results
    }

    /// Writes commands on the current connection, or once the next one is up; arms the timeout.
    private func submit(_ commands: [RedisCommand], _ promises: [EventLoopPromise<RESPValue>], timeout: TimeAmount?) {
        if self.logger.logLevel <= .debug {
            for command in commands {
                self.logger.debug("Sending Redis command", metadata: ["redis.command": "\(command.name)"])
            }
        }
        if let timeout = timeout ?? self.configuration.commandTimeout {
            let timer = self.eventLoop.scheduleTask(in: timeout) {
                for promise in promises { promise.fail(RedisError.timeout()) }
            }
            // Cancel once the last reply is in (replies complete in order).
            promises.last!.futureResult.whenComplete { _ in timer.cancel() }
        }
        let request: RedisRequest =
            commands.count == 1 ? .single(commands[0], promises[0]) : .batch(commands, promises)
        switch self.state.withLock({ $0.acquire() }) {
        case .use(let connection):
            connection.write(request)
        case .wait(let next):
            next.whenComplete { result in
                switch result {
                case .success(let connection): connection.write(request)
                case .failure(let error): request.fail(error)
                }
            }
        case .fail(let error):
            request.fail(error)
        }
    }

    private static func wait(for promise: EventLoopPromise<RESPValue>) async throws -> RESPValue {
        try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            // The entry stays queued so later replies still match; its reply is dropped.
            promise.fail(RedisError(code: .connectionClosed, message: "the waiting task was cancelled", cause: CancellationError()))
        }
    }

    static func redisError(_ error: any Error) -> RedisError {
        error as? RedisError ?? RedisError(code: .connectionClosed, message: "the command failed", cause: error)
    }

    // MARK: - Pub/Sub

    /// Subscribes to channels (`SUBSCRIBE`); their messages arrive as pushes of kind
    /// ``RedisPushMessage/Kind/message``.
    ///
    /// Returns once the server confirmed every channel. The client remembers them and subscribes again
    /// after a reconnect.
    public func subscribe(to channels: [String]) async throws {
        try await self.changeSubscriptions(.channel, subscribe: true, "SUBSCRIBE", channels)
    }

    /// Unsubscribes from channels (`UNSUBSCRIBE`); from all of them when `channels` is empty.
    public func unsubscribe(from channels: [String] = []) async throws {
        try await self.changeSubscriptions(.channel, subscribe: false, "UNSUBSCRIBE", channels)
    }

    /// Subscribes to channel patterns (`PSUBSCRIBE`); messages arrive as ``RedisPushMessage/Kind/patternMessage``.
    public func psubscribe(to patterns: [String]) async throws {
        try await self.changeSubscriptions(.pattern, subscribe: true, "PSUBSCRIBE", patterns)
    }

    /// Unsubscribes from channel patterns (`PUNSUBSCRIBE`); from all of them when `patterns` is empty.
    public func punsubscribe(from patterns: [String] = []) async throws {
        try await self.changeSubscriptions(.pattern, subscribe: false, "PUNSUBSCRIBE", patterns)
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`, Redis 7); messages arrive as
    /// ``RedisPushMessage/Kind/shardMessage``.
    ///
    /// In a cluster all the channels of one call must hash to one slot, served by this node.
    public func ssubscribe(to channels: [String]) async throws {
        try await self.changeSubscriptions(.shard, subscribe: true, "SSUBSCRIBE", channels)
    }

    /// Unsubscribes from shard channels (`SUNSUBSCRIBE`); from all of them when `channels` is empty.
    public func sunsubscribe(from channels: [String] = []) async throws {
        try await self.changeSubscriptions(.shard, subscribe: false, "SUNSUBSCRIBE", channels)
    }

    /// The channels, patterns and shard channels the client is subscribed to (and restores after a
    /// reconnect).
    public var subscriptions: (channels: Set<String>, patterns: Set<String>, shardChannels: Set<String>) {
        self.state.withLock {
            (
                $0.subscriptions[.channel] ?? [], $0.subscriptions[.pattern] ?? [],
                $0.subscriptions[.shard] ?? []
            )
        }
    }

    private func changeSubscriptions(
        _ family: SubscriptionFamily,
        subscribe: Bool,
        _ name: String,
        _ channels: [String]
    ) async throws {
        precondition(!subscribe || !channels.isEmpty, "subscribe to at least one channel")
        if !subscribe {
            self.state.withLock { $0.unsubscribed(family, channels.isEmpty ? nil : channels) }
        }
        let routingKey: RedisArgument? = family == .shard ? channels.first.map { .string($0) } : nil
        let command = RedisCommand([.string(name)] + channels.map { .string($0) }, routingKey: routingKey)
        let promise = self.eventLoop.makePromise(of: RESPValue.self)
        if subscribe {
            // Recorded on the event loop as the confirmation arrives, before the handler can report the
            // connection closed, so a reconnect that follows restores it.
            promise.futureResult.whenSuccess { _ in
                self.state.withLock { $0.subscribed(family, channels) }
            }
        }
        self.submit([command], [promise], timeout: nil)
        _ = try await Self.wait(for: promise)
    }

    /// A stream of every push message from now on, in order, until the client closes or the stream's
    /// consumer stops.
    ///
    /// Each call makes an independent stream. Pushes are buffered per `bufferingPolicy` when the consumer
    /// is slower than the server; the `onPush` callback of ``connect(configuration:eventLoopGroup:logger:onPush:onConnectionEvent:)``
    /// is the lower-overhead choice on a hot path.
    public func pushMessages(
        bufferingPolicy: AsyncStream<RedisPushMessage>.Continuation.BufferingPolicy = .unbounded
    ) -> AsyncStream<RedisPushMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: RedisPushMessage.self, bufferingPolicy: bufferingPolicy)
        let closed = self.state.withLock { $0.isClosed }
        if closed {
            continuation.finish()
            return stream
        }
        let id = self.pushStreams.withLock { streams in
            let id = streams.next
            streams.next += 1
            streams.continuations[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.pushStreams.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    /// Hands a push to the callback and the streams (on the event loop).
    private func deliver(_ message: RedisPushMessage) {
        // A confirmation nobody asked for: the server dropped the subscription (a cluster slot moved).
        if let channel = message.channel {
            switch message.kind {
            case .shardUnsubscribe: self.state.withLock { $0.unsubscribed(.shard, [channel]) }
            case .unsubscribe: self.state.withLock { $0.unsubscribed(.channel, [channel]) }
            default: break
            }
        }
        self.onPush?(message)
        let continuations = self.pushStreams.withLock { Array($0.continuations.values) }
        for continuation in continuations {
            continuation.yield(message)
        }
    }

    // MARK: - Connection lifecycle

    /// A new logged-in connection, resubscribed to everything the client is subscribed to.
    private func makeConnection() async throws -> RedisConnection {
        let connection = try await RedisConnection.connect(
            configuration: self.configuration,
            eventLoop: self.eventLoop,
            logger: self.logger,
            onPush: { [weak self] message in self?.deliver(message) }
        )
        let subscriptions = self.state.withLock { $0.subscriptions }
        var restore: [RedisCommand] = []
        if let channels = subscriptions[.channel], !channels.isEmpty {
            restore.append(RedisCommand(["SUBSCRIBE"] + channels.map { .string($0) }))
        }
        if let patterns = subscriptions[.pattern], !patterns.isEmpty {
            restore.append(RedisCommand(["PSUBSCRIBE"] + patterns.map { .string($0) }))
        }
        // One SSUBSCRIBE per channel: in a cluster, channels of different slots cannot share one.
        for channel in subscriptions[.shard] ?? [] {
            restore.append(["SSUBSCRIBE", .string(channel)])
        }
        if !restore.isEmpty {
            let promises = restore.map { _ in self.eventLoop.makePromise(of: RESPValue.self) }
            connection.write(.batch(restore, promises))
            for (command, promise) in zip(restore, promises) {
                do {
                    _ = try await promise.futureResult.get()
                } catch let error as RedisError where error.code == .serverError {
                    // The server refuses one (a shard channel whose slot is now elsewhere): drop it and tell
                    // the owner as the server would have, with an unsubscribe push.
                    self.dropRestoredSubscription(command)
                } catch {
                    connection.close()
                    throw RedisError(code: .connectionFailed, message: "could not restore subscriptions", cause: error)
                }
            }
        }
        return connection
    }

    private func dropRestoredSubscription(_ command: RedisCommand) {
        guard let change = SubscriptionChange(commandName: command.arguments[0]) else { return }
        let kind: RESPValue
        switch change.family {
        case .channel: kind = "unsubscribe"
        case .pattern: kind = "punsubscribe"
        case .shard: kind = "sunsubscribe"
        }
        let channels = command.arguments.dropFirst().compactMap(\.stringValue)
        self.state.withLock { $0.unsubscribed(change.family, channels) }
        self.logger.info("Redis refused to restore a subscription", metadata: ["redis.command": "\(command.name)"])
        for channel in channels {
            let message = RedisPushMessage(values: [kind, .blobString(ByteBuffer(string: channel)), 0])
            self.eventLoop.execute { self.deliver(message) }
        }
    }

    /// Makes `connection` current, or closes it if the client closed meanwhile.
    private func install(_ connection: RedisConnection, attempts: Int) {
        switch self.state.withLock({ $0.connected(connection) }) {
        case .installed(let waiters):
            waiters.succeed(connection)
            // Watched only once installed: a channel that already closed fires at once and is replaced.
            connection.channel.closeFuture.whenComplete { [weak self] _ in
                self?.connectionLost(connection)
            }
            if attempts > 0 {
                self.logger.info("Reconnected to Redis", metadata: ["redis.attempts": "\(attempts)"])
                self.emit(RedisConnectionEvent(kind: .reconnected, attempts: attempts))
            }
        case .closeConnection:
            connection.close()
        }
    }

    private func connectionLost(_ connection: RedisConnection) {
        let error = RedisError.connectionClosed("the connection to Redis was lost")
        let willReconnect = self.configuration.reconnect.delay(beforeAttempt: 1) != nil
        switch self.state.withLock({ $0.connectionLost(connection.id, error: error, willReconnect: willReconnect) }) {
        case .none:
            return
        case .giveUp(let waiters):
            waiters?.fail(error)
            self.logger.info("Lost the connection to Redis; not reconnecting")
            self.emit(RedisConnectionEvent(kind: .disconnected, error: error))
        case .reconnect:
            self.logger.info("Lost the connection to Redis; reconnecting")
            self.emit(RedisConnectionEvent(kind: .disconnected, error: error))
            let task = Task { await self.reconnect() }
            self.reconnectTask.withLock { $0 = task }
            // close() may have run between the state change and storing the task.
            if self.state.withLock({ $0.isClosed }) { task.cancel() }
        }
    }

    private func reconnect() async {
        var attempt = 0
        while true {
            attempt += 1
            guard let delay = self.configuration.reconnect.delay(beforeAttempt: attempt) else {
                let error = RedisError.connectionClosed("gave up reconnecting to Redis")
                self.state.withLock { $0.reconnectAbandoned(error: error) }?.fail(error)
                return
            }
            try? await Task.sleep(nanoseconds: UInt64(max(0, delay.nanoseconds)))
            if Task.isCancelled || self.state.withLock({ $0.isClosed }) { return }
            do {
                let connection = try await self.makeConnection()
                self.install(connection, attempts: attempt)
                return
            } catch {
                self.logger.debug(
                    "Redis reconnect attempt failed",
                    metadata: ["redis.attempt": "\(attempt)", "error": "\(error)"]
                )
            }
        }
    }

    private func emit(_ event: RedisConnectionEvent) {
        guard let handler = self.onConnectionEvent else { return }
        self.eventLoop.execute { handler(event) }
    }
}

/// Connects a ``RedisClient``, runs `body` with it, and closes it however `body` ends.
///
/// - Parameters: See ``RedisClient/connect(configuration:eventLoopGroup:logger:onPush:onConnectionEvent:)``.
/// - Returns: What `body` returns.
public func withRedisClient<Value: Sendable>(
    configuration: RedisClient.Configuration,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger,
    onPush: (@Sendable (RedisPushMessage) -> Void)? = nil,
    onConnectionEvent: (@Sendable (RedisConnectionEvent) -> Void)? = nil,
    _ body: (RedisClient) async throws -> Value
) async throws -> Value {
    let client = try await RedisClient.connect(
        configuration: configuration,
        eventLoopGroup: eventLoopGroup,
        logger: logger,
        onPush: onPush,
        onConnectionEvent: onConnectionEvent
    )
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}
