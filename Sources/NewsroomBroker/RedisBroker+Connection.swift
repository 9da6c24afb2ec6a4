import Logging
import NIOCore
import NewsroomRedis

/// The broker's Redis: one server (``RedisClient``), or a Redis Cluster (``RedisClusterClient``) when
/// ``RedisBroker/Configuration/sharded`` is on and the server named by the URL runs in cluster mode.
///
/// Commands and scripts go through ``RedisCommandSender`` either way (the cluster client routes each by
/// its key; a topic's keys share the hash tag `{<topic>}`); subscriptions and pipelines are forwarded to
/// the client that serves them.
enum BrokerRedis: RedisCommandSender {
    case node(RedisClient)
    case cluster(RedisClusterClient)

    /// Connects to `configuration`'s server; with `sharded`, to the cluster it belongs to if it is a
    /// cluster node (`INFO cluster` says `cluster_enabled:1`), else to the server alone as before.
    static func connect(
        configuration: RedisClient.Configuration,
        sharded: Bool,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        onPush: @escaping @Sendable (RedisPushMessage) -> Void,
        onConnectionEvent: @escaping @Sendable (RedisConnectionEvent) -> Void
    ) async throws -> BrokerRedis {
        let client = try await RedisClient.connect(
            configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger, onPush: onPush,
            onConnectionEvent: onConnectionEvent)
        guard sharded else { return .node(client) }
        let clusterEnabled: Bool
        do {
            clusterEnabled = try await client.info("cluster").contains("cluster_enabled:1")
        } catch {
            await client.close()
            throw error
        }
        guard clusterEnabled else { return .node(client) }
        await client.close()
        let cluster = try await RedisClusterClient.connect(
            configuration: RedisClusterClient.Configuration(node: configuration), eventLoopGroup: eventLoopGroup,
            logger: logger, onPush: onPush, onConnectionEvent: onConnectionEvent)
        logger.info("broker uses a Redis Cluster")
        return .cluster(cluster)
    }

    func send(_ command: RedisCommand, timeout: TimeAmount?) async throws -> RESPValue {
        switch self {
        case .node(let client): try await client.send(command, timeout: timeout)
        case .cluster(let client): try await client.send(command, timeout: timeout)
        }
    }

    /// Several commands: in one write on one server; in a cluster one after the other, each routed by
    /// its key and following redirects (the broker pipelines only off its hot path).
    func pipeline(_ commands: [RedisCommand]) async -> [Result<RESPValue, RedisError>] {
        switch self {
        case .node(let client):
            return await client.pipeline(commands)
        case .cluster(let client):
            var results: [Result<RESPValue, RedisError>] = []
            for command in commands {
                do {
                    results.append(.success(try await client.send(command, timeout: nil)))
                } catch {
                    results.append(
                        .failure(error as? RedisError ?? RedisError(code: .connectionClosed, message: "\(error)")))
                }
            }
            return results
        }
    }

    /// `SUBSCRIBE` (in a cluster, on one node: every node forwards every `PUBLISH`).
    func subscribe(to channels: [String]) async throws {
        switch self {
        case .node(let client): try await client.subscribe(to: channels)
        case .cluster(let client): try await client.subscribe(to: channels)
        }
    }

    func unsubscribe(from channels: [String]) async throws {
        switch self {
        case .node(let client): try await client.unsubscribe(from: channels)
        case .cluster(let client): try await client.unsubscribe(from: channels)
        }
    }

    /// `SSUBSCRIBE` (in a cluster, each channel on the node that owns its slot).
    func ssubscribe(to channels: [String]) async throws {
        switch self {
        case .node(let client):
            try await client.ssubscribe(to: channels)
        case .cluster(let client):
            for channel in channels { try await client.ssubscribe(to: channel) }
        }
    }

    func sunsubscribe(from channels: [String]) async throws {
        switch self {
        case .node(let client):
            try await client.sunsubscribe(from: channels)
        case .cluster(let client):
            for channel in channels { try await client.sunsubscribe(from: channel) }
        }
    }

    func close() async {
        switch self {
        case .node(let client): await client.close()
        case .cluster(let client): await client.close()
        }
    }
}
