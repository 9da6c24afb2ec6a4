import Logging
import NIOCore
import NIOPosix
import NewsroomRedis
import Synchronization
import Testing

/// The client against a real `redis-server` started for each test.
@Suite struct RedisClientTests {
    static let logger = Logger(label: "newsroom.redis.tests")

    static func connect(
        _ server: RedisServer,
        configure: (inout RedisClient.Configuration) -> Void = { _ in },
        onPush: (@Sendable (RedisPushMessage) -> Void)? = nil,
        onConnectionEvent: (@Sendable (RedisConnectionEvent) -> Void)? = nil
    ) async throws -> RedisClient {
        var configuration = try RedisClient.Configuration(url: server.url)
        configure(&configuration)
        return try await RedisClient.connect(
            configuration: configuration,
            logger: Self.logger,
            onPush: onPush,
            onConnectionEvent: onConnectionEvent
        )
    }

    @Test func basicCommands() async throws {
        try await withRedisServer { server in
            let client = try await Self.connect(server)

            #expect(try await client.ping() == "PONG")
            #expect(try await client.ping("hi") == "hi")
            #expect(try await client.info("server").contains("redis_version:"))

            #expect(try await client.get("missing") == nil)
            #expect(try await client.set("k", to: "v1"))
            #expect(try await client.get("k") == ByteBuffer(string: "v1"))
            #expect(try await client.set("k", to: "v2", condition: .ifNotExists) == false)
            #expect(try await client.get("k") == ByteBuffer(string: "v1"))
            #expect(try await client.set("lease", to: "node-a", condition: .ifNotExists, expiresIn: .seconds(30)))
            let pttl = try await client.send("PTTL", "lease").int ?? -1
            // Time passes between setting and reading (seconds on a loaded CI machine): bound from both sides,
            // wide enough for that, narrow enough to catch a missing expiry or a wrong unit.
            #expect((15_000...30_000).contains(pttl))
            #expect(try await client.expire("k", seconds: 100))
            #expect((50...100).contains(try await client.send("TTL", "k").int ?? -1))
            #expect(try await client.pexpire("k", after: .milliseconds(5000)))
            #expect(try await client.expire("missing", seconds: 1) == false)
            #expect(try await client.del(["k", "lease", "missing"]) == 2)

            // Binary-safe values.
            let binary = ByteBuffer(bytes: [0, 13, 10, 255, 36])
            try await client.set("bin", to: .bytes(binary))
            #expect(try await client.get("bin") == binary)

            #expect(try await client.hset("h", fields: [("head", 0), ("state", "live"), ("owner", "n1")]) == 3)
            #expect(try await client.hget("h", field: "state") == ByteBuffer(string: "live"))
            #expect(try await client.hget("h", field: "nope") == nil)
            #expect(try await client.hincrby("h", field: "head", by: 5) == 5)
            let all = try await client.hgetall("h")
            #expect(all.mapValues { String(buffer: $0) } == ["head": "5", "state": "live", "owner": "n1"])
            #expect(try await client.hgetall("missing").isEmpty)

            // Streams: explicit IDs, MAXLEN ~, exclusive ranges.
            for seq in 1...5 {
                let id = try await client.xadd(
                    "s",
                    id: "\(seq)-0",
                    fields: [("seq", .integer(seq)), ("data", "event \(seq)")],
                    trim: .maxLength(approximately: 1000)
                )
                #expect(id == "\(seq)-0")
            }
            #expect(try await client.xlen("s") == 5)
            let generated = try await client.xadd("s", fields: [("seq", 6)])
            #expect(generated.contains("-"))
            let after2 = try await client.xrange("s", after: "2-0", to: "4-0")
            #expect(after2.map(\.id) == ["3-0", "4-0"])
            #expect(after2.first?["data"] == ByteBuffer(string: "event 3"))
            #expect(after2.first?.fields.map(\.name) == ["seq", "data"])
            let firstTwo = try await client.xrange("s", count: 2)
            #expect(firstTwo.map(\.id) == ["1-0", "2-0"])
            #expect(try await client.xrange("s", after: generated).isEmpty)
            _ = try await client.xadd("s", id: "999999999999999-0", fields: [("x", 1)], trim: .maxLength(exactly: 2))
            #expect(try await client.xlen("s") == 2)

            // Error replies are thrown with the server's code.
            try await client.set("str", to: "x")
            await #expect {
                try await client.hget("str", field: "f")
            } throws: { error in
                (error as? RedisError)?.serverErrorCode == "WRONGTYPE"
            }
            // The connection stays usable after an error reply.
            #expect(try await client.ping() == "PONG")
            await client.close()
        }
    }

    @Test func thousandCommandsInOnePipelineAnswerInOrder() async throws {
        try await withRedisServer { server in
            let client = try await Self.connect(server)
            let commands = (0..<1000).map { _ in RedisCommand(["INCR", "counter"]) }
            let results = await client.pipeline(commands)
            #expect(results.count == 1000)
            #expect(results.map { try? $0.get().int } == (1...1000).map { $0 })

            // One bad command fails only itself.
            let mixed = await client.pipeline([["SET", "a", "1"], ["INCR", "a", "extra"], ["GET", "a"]])
            #expect((try? mixed[0].get()) == .simpleString(ByteBuffer(string: "OK")))
            #expect((try? mixed[1].get()) == nil)
            #expect((try? mixed[2].get()) == "1")
            await client.close()
        }
    }

    @Test func thousandConcurrentCommandsGetTheirOwnReplies() async throws {
        try await withRedisServer { server in
            let client = try await Self.connect(server)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        let reply = try await client.send("ECHO", .string("value-\(index)"))
                        #expect(reply.string == "value-\(index)")
                    }
                }
                try await group.waitForAll()
            }
            await client.close()
        }
    }

    @Test func pushMessagesInterleaveWithReplies() async throws {
        try await withRedisServer { server in
            let received = Mutex<[String]>([])
            let client = try await Self.connect(server, onPush: { message in
                guard message.kind == .message, let payload = message.payload else { return }
                received.withLock { $0.append(String(buffer: payload)) }
            })
            let publisher = try await Self.connect(server)
            let stream = client.pushMessages()

            try await client.subscribe(to: ["news", "sport"])
            #expect(client.subscriptions.channels == ["news", "sport"])
            try await client.set("k", to: "v")

            // Commands on the subscribed connection while messages arrive on it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for index in 0..<200 {
                        let receivers = try await publisher.publish("m\(index)", to: "news")
                        #expect(receivers == 1)
                    }
                }
                group.addTask {
                    for _ in 0..<200 {
                        let value = try await client.get("k")
                        #expect(value == ByteBuffer(string: "v"))
                    }
                }
                try await group.waitForAll()
            }
            try await Self.eventually { received.withLock { $0.count } == 200 }
            print("DEBUG received", received.withLock { $0.count }, received.withLock { $0.prefix(3) })
            #expect(received.withLock { $0 } == (0..<200).map { "m\($0)" })

            // The stream saw the same messages, in order.
            var fromStream: [String] = []
            for await message in stream where message.kind == .message {
                fromStream.append(String(buffer: message.payload!))
                if fromStream.count == 200 { break }
            }
            #expect(fromStream == (0..<200).map { "m\($0)" })

            try await client.unsubscribe(from: ["news"])
            #expect(try await publisher.publish("after", to: "news") == 0)
            #expect(try await publisher.publish("still", to: "sport") == 1)
            try await Self.eventually { received.withLock { $0.last } == "still" }
            try await client.unsubscribe()
            #expect(client.subscriptions.channels.isEmpty)
            #expect(try await publisher.publish("gone", to: "sport") == 0)
            #expect(try await client.ping() == "PONG")

            try await client.psubscribe(to: ["topic.*"])
            _ = try await publisher.publish("p", to: "topic.a")
            var patternMessage: RedisPushMessage?
            for await message in stream where message.kind == .patternMessage {
                patternMessage = message
                break
            }
            #expect(patternMessage?.channel == "topic.a")
            #expect(patternMessage?.pattern == "topic.*")
            #expect(patternMessage?.payload == ByteBuffer(string: "p"))
            try await client.punsubscribe()
            await client.close()
            await publisher.close()
        }
    }

    @Test func shardedPubSub() async throws {
        try await withRedisServer { server in
            let received = Mutex<[RedisPushMessage]>([])
            let client = try await Self.connect(server, onPush: { message in
                received.withLock { $0.append(message) }
            })
            try await client.ssubscribe(to: ["topic:{t1}:live"])
            try await client.ssubscribe(to: ["topic:{t2}:live"])
            #expect(client.subscriptions.shardChannels == ["topic:{t1}:live", "topic:{t2}:live"])
            #expect(try await client.spublish("hello", to: "topic:{t1}:live") == 1)
            #expect(try await client.spublish("world", to: "topic:{t2}:live") == 1)
            try await Self.eventually { received.withLock { $0.count } == 2 }
            let messages = received.withLock { $0 }
            #expect(messages.map(\.kind) == [.shardMessage, .shardMessage])
            #expect(messages.map(\.channel) == ["topic:{t1}:live", "topic:{t2}:live"])
            #expect(messages.map { $0.payload.map { String(buffer: $0) } } == ["hello", "world"])

            try await client.sunsubscribe(from: ["topic:{t1}:live"])
            #expect(try await client.spublish("x", to: "topic:{t1}:live") == 0)
            try await client.sunsubscribe()
            #expect(try await client.spublish("x", to: "topic:{t2}:live") == 0)
            #expect(client.subscriptions.shardChannels.isEmpty)
            await client.close()
        }
    }

    @Test func evalSHALoadsTheScriptOnNOSCRIPT() async throws {
        try await withRedisServer { server in
            let client = try await Self.connect(server)
            let script = RedisScript(
                """
                local seq = redis.call('HINCRBY', KEYS[1], 'head', ARGV[1])
                redis.call('XADD', KEYS[2], seq .. '-0', 'data', ARGV[2])
                return seq
                """
            )
            // Never loaded: NOSCRIPT, load, run.
            #expect(try await client.evalSHA(script, keys: ["m", "s"], arguments: [1, "a"]) == 1)
            #expect(try await client.evalSHA(script, keys: ["m", "s"], arguments: [2, "b"]) == 3)
            #expect(try await client.scriptLoad(script) == script.sha1)

            _ = try await client.send("SCRIPT", "FLUSH")
            #expect(try await client.send("SCRIPT", "EXISTS", .string(script.sha1)) == [0])
            #expect(try await client.evalSHA(script, keys: ["m", "s"], arguments: [1, "c"]) == 4)
            #expect(try await client.xlen("s") == 3)

            // A script error is thrown, not retried.
            let broken = RedisScript("return redis.call('INCR', KEYS[1])")
            try await client.set("text", to: "abc")
            await #expect {
                try await client.evalSHA(broken, keys: ["text"])
            } throws: { error in
                (error as? RedisError)?.code == .serverError
            }
            await client.close()
        }
    }

    @Test func commandsTimeOutAndTheConnectionStaysInStep() async throws {
        try await withRedisServer { server in
            let client = try await Self.connect(server)
            let start = ContinuousClock.now
            await #expect {
                try await client.send(["BLPOP", "empty", "1"], timeout: .milliseconds(100))
            } throws: { error in
                (error as? RedisError)?.code == .timeout
            }
            #expect(ContinuousClock.now - start < .milliseconds(900))
            // The BLPOP reply (null, after 1 s) still arrives first and is dropped; this gets its own reply.
            try await client.set("k", to: "v")
            #expect(try await client.get("k") == ByteBuffer(string: "v"))

            // The configured default applies when no timeout is given.
            let fast = try await Self.connect(server) { $0.commandTimeout = .milliseconds(50) }
            await #expect {
                try await fast.send("BLPOP", "empty", "1")
            } throws: { error in
                (error as? RedisError)?.code == .timeout
            }
            await fast.close()
            await client.close()
        }
    }

    @Test func reconnectsAfterTheServerRestartsAndRestoresSubscriptions() async throws {
        try await withRedisServer { server in
            let events = Mutex<[RedisConnectionEvent.Kind]>([])
            let messages = Mutex<[String]>([])
            let client = try await Self.connect(
                server,
                configure: {
                    $0.reconnect = .exponentialBackoff(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
                    $0.commandTimeout = .seconds(10)
                },
                onPush: { message in
                    guard let payload = message.payload else { return }
                    messages.withLock { $0.append(String(buffer: payload)) }
                },
                onConnectionEvent: { event in events.withLock { $0.append(event.kind) } }
            )
            try await client.subscribe(to: ["live"])
            try await client.ssubscribe(to: ["shard:{a}"])
            try await client.set("before", to: "1")

            // A command in flight when the server dies fails with a clear error.
            let blocked = Task { try await client.send("BLPOP", "queue", "0") }
            try await Task.sleep(for: .milliseconds(100))
            server.kill()
            await #expect {
                try await blocked.value
            } throws: { error in
                (error as? RedisError)?.code == .connectionClosed
            }
            try await Self.eventually { events.withLock { $0 } == [.disconnected] }

            // While the server is down, a command waits for the reconnect (within its timeout).
            let waiting = Task { try await client.set("during", to: "1") }
            try await Task.sleep(for: .milliseconds(300))
            try await server.restart()
            #expect(try await waiting.value)
            try await Self.eventually { events.withLock { $0 } == [.disconnected, .reconnected] }

            // The server lost its data (no persistence); subscriptions were restored.
            #expect(try await client.get("before") == nil)
            let publisher = try await Self.connect(server)
            #expect(try await publisher.publish("again", to: "live") == 1)
            #expect(try await publisher.spublish("sharded", to: "shard:{a}") == 1)
            try await Self.eventually { messages.withLock { $0 } == ["again", "sharded"] }
            await publisher.close()
            await client.close()
        }
    }

    @Test func withoutReconnectCommandsFailAfterTheConnectionIsLost() async throws {
        try await withRedisServer { server in
            let client = try await Self.connect(server) { $0.reconnect = .never }
            server.kill()
            try await Task.sleep(for: .milliseconds(100))
            await #expect {
                try await client.ping()
            } throws: { error in
                (error as? RedisError)?.code == .connectionClosed
            }
            await client.close()
        }
    }

    @Test func closeFailsLaterCommands() async throws {
        try await withRedisServer { server in
            let client = try await Self.connect(server)
            let stream = client.pushMessages()
            await client.close()
            await #expect {
                try await client.ping()
            } throws: { error in
                (error as? RedisError)?.code == .clientClosed
            }
            for await _ in stream {}  // finished by close()
            await client.close()  // twice is fine
        }
    }

    @Test func authenticatesWithAnACLUserAndSelectsADatabase() async throws {
        try await withRedisServer(arguments: ["--requirepass", "top-secret", "--user", "alice", "on", ">wonder", "~*", "&*", "+@all"]) {
            server in
            let url = "redis://alice:wonder@127.0.0.1:\(server.port)/3"
            let alice = try await RedisClient.connect(configuration: try .init(url: url), logger: Self.logger)
            try await alice.set("where", to: "db3")
            #expect(try await alice.send("CLIENT", "INFO").string?.contains("user=alice") == true)
            #expect(try await alice.send("CLIENT", "INFO").string?.contains("db=3") == true)

            // The default user with `requirepass`, on database 0, does not see db 3's key.
            let admin = try await RedisClient.connect(
                configuration: try .init(url: "redis://:top-secret@127.0.0.1:\(server.port)"),
                logger: Self.logger
            )
            #expect(try await admin.get("where") == nil)
            _ = try await admin.send("SELECT", 3)
            #expect(try await admin.get("where") == ByteBuffer(string: "db3"))

            await #expect {
                _ = try await RedisClient.connect(
                    configuration: try .init(url: "redis://alice:wrong@127.0.0.1:\(server.port)"),
                    logger: Self.logger
                )
            } throws: { error in
                (error as? RedisError)?.code == .connectionFailed
            }
            await #expect {
                _ = try await RedisClient.connect(configuration: try .init(url: server.url), logger: Self.logger)
                    .ping()
            } throws: { error in
                (error as? RedisError)?.code == .connectionFailed || (error as? RedisError)?.serverErrorCode == "NOAUTH"
            }
            await alice.close()
            await admin.close()
        }
    }

    @Test func connectFailsClearlyWhenNothingListens() async throws {
        let port = try await freePort()
        await #expect {
            _ = try await RedisClient.connect(
                configuration: .init(host: "127.0.0.1", port: port),
                logger: Self.logger
            )
        } throws: { error in
            (error as? RedisError)?.code == .connectionFailed
        }
    }

    @Test func scopedClient() async throws {
        try await withRedisServer { server in
            let pong = try await withRedisClient(configuration: try .init(url: server.url), logger: Self.logger) {
                try await $0.ping()
            }
            #expect(pong == "PONG")
        }
    }

    /// Polls `condition` until it holds, for up to 5 s.
    static func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 5 s")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
