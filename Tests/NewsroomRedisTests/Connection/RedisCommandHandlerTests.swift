import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import NewsroomRedis

/// The reply matching and push routing of ``RedisCommandHandler``, on an `EmbeddedChannel` playing the
/// server.
@Suite struct RedisCommandHandlerTests {
    final class Harness {
        let channel = EmbeddedChannel()
        let log = PushLog()

        final class PushLog: Sendable {
            let messages = Mutex<[RedisPushMessage]>([])
        }

        init() throws {
            let log = self.log
            try self.channel.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(RESPDecoder()),
                MessageToByteHandler(RESPCommandEncoder()),
                RedisCommandHandler(onPush: { message in log.messages.withLock { $0.append(message) } })
            )
        }

        func send(_ command: RedisCommand) -> EventLoopFuture<RESPValue> {
            let promise = self.channel.eventLoop.makePromise(of: RESPValue.self)
            self.channel.writeAndFlush(RedisRequest.single(command, promise), promise: nil)
            return promise.futureResult
        }

        /// What the client wrote, as text.
        func written() throws -> String {
            var text = ""
            while var buffer = try self.channel.readOutbound(as: ByteBuffer.self) {
                text += buffer.readString(length: buffer.readableBytes)!
            }
            return text
        }

        func serverSends(_ text: String) throws {
            try self.channel.writeInbound(ByteBuffer(string: text))
        }

        var pushKinds: [String] { self.log.messages.withLock { $0.map(\.kind.name) } }
    }

    static func result(_ future: EventLoopFuture<RESPValue>) -> Result<RESPValue, any Error>? {
        // An EmbeddedEventLoop completes callbacks synchronously.
        let result = Mutex<Result<RESPValue, any Error>?>(nil)
        future.whenComplete { value in result.withLock { $0 = value } }
        return result.withLock { $0 }
    }

    @Test func encodesCommandsAsArraysOfBlobStrings() throws {
        let harness = try Harness()
        _ = harness.send(["SET", "k", 42])
        _ = harness.send(RedisCommand(["HSET", .bytes(ByteBuffer(bytes: [0, 13, 10])), .double(1.5)]))
        #expect(try harness.written() == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n*3\r\n$4\r\nHSET\r\n$3\r\n\0\r\n\r\n$3\r\n1.5\r\n")
        _ = try? harness.channel.finish()
    }

    @Test func repliesMatchCommandsInOrderAroundPushes() throws {
        let harness = try Harness()
        let first = harness.send(["GET", "a"])
        let second = harness.send(["GET", "b"])
        let third = harness.send(["INCR", "c"])
        try harness.serverSends("$1\r\nA\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n_\r\n-WRONGTYPE nope\r\n")
        #expect(try Self.result(first)?.get() == "A")
        #expect(try Self.result(second)?.get() == .null)
        #expect(throws: RedisError.self) { try Self.result(third)?.get() }
        #expect(harness.pushKinds == ["message"])
        let push = harness.log.messages.withLock { $0[0] }
        #expect(push.channel == "ch")
        #expect(push.payload == ByteBuffer(string: "x"))
        _ = try? harness.channel.finish()
    }

    @Test func subscribeCompletesAfterOneConfirmationPerChannel() throws {
        let harness = try Harness()
        let subscribe = harness.send(["SUBSCRIBE", "a", "b"])
        let get = harness.send(["GET", "k"])
        try harness.serverSends(">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n")
        #expect(Self.result(subscribe) == nil)
        // A message on `a` may arrive before the second confirmation.
        try harness.serverSends(">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n")
        try harness.serverSends(">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")
        #expect(try Self.result(subscribe)?.get().array?.count == 2)
        #expect(Self.result(get) == nil)
        try harness.serverSends("$1\r\nv\r\n")
        #expect(try Self.result(get)?.get() == "v")
        #expect(harness.pushKinds == ["message"])
        _ = try? harness.channel.finish()
    }

    @Test func unsubscribeFromAllCountsTheConnectionsChannels() throws {
        let harness = try Harness()
        _ = harness.send(["SSUBSCRIBE", "x"])
        _ = harness.send(["SSUBSCRIBE", "y"])
        try harness.serverSends(">3\r\n$10\r\nssubscribe\r\n$1\r\nx\r\n:1\r\n>3\r\n$10\r\nssubscribe\r\n$1\r\ny\r\n:2\r\n")
        let unsubscribe = harness.send(["SUNSUBSCRIBE"])
        try harness.serverSends(">3\r\n$12\r\nsunsubscribe\r\n$1\r\nx\r\n:1\r\n")
        #expect(Self.result(unsubscribe) == nil)
        try harness.serverSends(">3\r\n$12\r\nsunsubscribe\r\n$1\r\ny\r\n:0\r\n")
        #expect(try Self.result(unsubscribe)?.get().array?.count == 2)

        // With nothing subscribed, the server sends one confirmation with a null channel.
        let again = harness.send(["SUNSUBSCRIBE"])
        try harness.serverSends(">3\r\n$12\r\nsunsubscribe\r\n_\r\n:0\r\n")
        #expect(try Self.result(again)?.get().array?.count == 1)
        #expect(harness.pushKinds.isEmpty)
        _ = try? harness.channel.finish()
    }

    @Test func unsolicitedUnsubscribeIsAPush() throws {
        let harness = try Harness()
        let get = harness.send(["GET", "k"])
        // The server drops a shard channel whose slot moved, while a GET is pending.
        try harness.serverSends(">3\r\n$12\r\nsunsubscribe\r\n$5\r\ntopic\r\n:0\r\n$1\r\nv\r\n")
        #expect(harness.pushKinds == ["sunsubscribe"])
        #expect(try Self.result(get)?.get() == "v")
        _ = try? harness.channel.finish()
    }

    @Test func subscribeErrorIsAnOrdinaryReply() throws {
        let harness = try Harness()
        let subscribe = harness.send(["SSUBSCRIBE", "a"])
        try harness.serverSends("-MOVED 15495 127.0.0.1:7002\r\n")
        #expect {
            try Self.result(subscribe)?.get()
        } throws: { error in
            (error as? RedisError)?.serverErrorCode == "MOVED"
        }
        _ = try? harness.channel.finish()
    }

    @Test func closingFailsPendingCommands() throws {
        let harness = try Harness()
        let pending = harness.send(["BLPOP", "q", 0])
        try harness.channel.close().wait()
        #expect {
            try Self.result(pending)?.get()
        } throws: { error in
            (error as? RedisError)?.code == .connectionClosed
        }
        let late = harness.send(["PING"])
        #expect(throws: (any Error).self) { try Self.result(late)?.get() }
    }

    @Test func protocolErrorFailsPendingAndCloses() throws {
        let harness = try Harness()
        let pending = harness.send(["GET", "a"])
        // The handler fails what is pending and closes; the error goes no further.
        try harness.serverSends("?garbage\r\n")
        #expect {
            try Self.result(pending)?.get()
        } throws: { error in
            (error as? RedisError)?.code == .protocolError
        }
        #expect(!harness.channel.isActive)
    }
}
