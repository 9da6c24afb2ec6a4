import DequeModule
import NIOCore

/// Commands handed to a connection's pipeline, each with the promise its reply completes.
///
/// A batch is written with one flush, in order, with nothing from other callers in between (the `ASKING`
/// that must directly precede a redirected command relies on this).
enum RedisRequest: Sendable {
    case single(RedisCommand, EventLoopPromise<RESPValue>)
    case batch([RedisCommand], [EventLoopPromise<RESPValue>])

    func fail(_ error: any Error) {
        switch self {
        case .single(_, let promise): promise.fail(error)
        case .batch(_, let promises): promises.forEach { $0.fail(error) }
        }
    }
}

/// Which kind of subscription a command or push is about.
enum SubscriptionFamily: Hashable, Sendable, CaseIterable {
    /// `SUBSCRIBE`/`UNSUBSCRIBE`, `message`.
    case channel
    /// `PSUBSCRIBE`/`PUNSUBSCRIBE`, `pmessage`.
    case pattern
    /// `SSUBSCRIBE`/`SUNSUBSCRIBE`, `smessage`.
    case shard
}

/// A subscribe or unsubscribe command, or its confirmation push.
struct SubscriptionChange: Hashable, Sendable {
    var family: SubscriptionFamily
    var subscribe: Bool

    /// The change a command makes, from its name; `nil` for other commands.
    init?(commandName argument: RedisArgument) {
        guard let name = argument.stringValue, (9...12).contains(name.utf8.count) else { return nil }
        self.init(name: name.lowercased())
    }

    /// The change a push confirms, from its first element; `nil` for other pushes.
    init?(pushKind: RESPValue?) {
        guard let bytes = pushKind?.bytes, (9...12).contains(bytes.readableBytes) else { return nil }
        self.init(name: String(buffer: bytes).lowercased())
    }

    private init?(name: String) {
        switch name {
        case "subscribe": self = .init(family: .channel, subscribe: true)
        case "unsubscribe": self = .init(family: .channel, subscribe: false)
        case "psubscribe": self = .init(family: .pattern, subscribe: true)
        case "punsubscribe": self = .init(family: .pattern, subscribe: false)
        case "ssubscribe": self = .init(family: .shard, subscribe: true)
        case "sunsubscribe": self = .init(family: .shard, subscribe: false)
        default: return nil
        }
    }

    private init(family: SubscriptionFamily, subscribe: Bool) {
        self.family = family
        self.subscribe = subscribe
    }
}

/// Matches replies to commands, first in first out, and routes push messages to a callback.
///
/// Redis answers the commands of one connection in the order it received them, so the reply to the oldest
/// pending command is always the next non-push value. Pushes (`>`) are not replies and may arrive between
/// any two replies, with one exception: in RESP3 the confirmations of `SUBSCRIBE`, `UNSUBSCRIBE`,
/// `PSUBSCRIBE`, `PUNSUBSCRIBE`, `SSUBSCRIBE` and `SUNSUBSCRIBE` are pushes, one per channel named. A
/// (un)subscribe command at the head of the queue therefore completes after as many confirmation pushes of
/// its kind as it named channels; with no channels (unsubscribe from all), after one per channel the
/// connection was subscribed to at that moment (at least one). A confirmation nobody waits for (the server
/// dropping a shard channel whose slot moved) goes to the push callback.
///
/// Loop-confined: created in the channel initializer and used only on the channel's event loop.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = RedisCommand

    /// A command written and not yet answered.
    private struct Pending {
        var promise: EventLoopPromise<RESPValue>
        /// Set for (un)subscribe commands, which are answered by confirmation pushes.
        var subscription: SubscriptionChange?
        /// Confirmations still expected; `nil` for an unsubscribe-from-all not yet at the head.
        var remainingConfirmations: Int?
        var confirmations: [RESPValue] = []
    }

    private var pending: Deque<Pending> = []
    /// The channels this connection is subscribed to, per family, from the confirmations seen.
    private var subscribed: [SubscriptionFamily: Set<RESPValue>] = [:]
    /// Set once the channel is gone: later writes fail at once with it.
    private var closedError: RedisError?
    private let onPush: @Sendable (RedisPushMessage) -> Void

    /// - Parameter onPush: Called on the event loop with each push that is not a confirmation.
    init(onPush: @escaping @Sendable (RedisPushMessage) -> Void) {
        self.onPush = onPush
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        if let error = self.closedError {
            request.fail(error)
            promise?.fail(error)
            return
        }
        switch request {
        case .single(let command, let reply):
            self.enqueue(command, reply)
            context.write(Self.wrapOutboundOut(command), promise: promise)
        case .batch(let commands, let replies):
            for (command, reply) in zip(commands, replies) {
                self.enqueue(command, reply)
                context.write(Self.wrapOutboundOut(command), promise: nil)
            }
            promise?.succeed()
        }
    }

    private func enqueue(_ command: RedisCommand, _ promise: EventLoopPromise<RESPValue>) {
        var entry = Pending(promise: promise)
        if let change = SubscriptionChange(commandName: command.arguments[0]) {
            let named = command.arguments.count - 1
            if change.subscribe {
                // `SUBSCRIBE` with no channel is an ordinary error reply.
                if named > 0 {
                    entry.subscription = change
                    entry.remainingConfirmations = named
                }
            } else {
                entry.subscription = change
                entry.remainingConfirmations = named > 0 ? named : nil
            }
        }
        self.pending.append(entry)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = Self.unwrapInboundIn(data)
        if case .push(let values) = value {
            self.receivePush(values)
            return
        }
        guard let head = self.pending.popFirst() else {
            context.fireErrorCaught(RedisError.protocolError("a reply arrived with no command waiting"))
            return
        }
        if let message = value.errorMessage {
            head.promise.fail(RedisError.server(message))
        } else {
            head.promise.succeed(value)
        }
    }

    private func receivePush(_ values: [RESPValue]) {
        guard let change = SubscriptionChange(pushKind: values.first) else {
            self.onPush(RedisPushMessage(values: values))
            return
        }
        let channel = values.count > 1 ? values[1] : .null
        let isReply = self.pending.first.map { $0.subscription == change } ?? false
        if isReply, self.pending[0].remainingConfirmations == nil {
            // Unsubscribe from all: one confirmation per channel subscribed now, or one if none.
            self.pending[0].remainingConfirmations = max(1, self.subscribed[change.family, default: []].count)
        }
        if change.subscribe {
            self.subscribed[change.family, default: []].insert(channel)
        } else {
            self.subscribed[change.family]?.remove(channel)
        }
        guard isReply else {
            self.onPush(RedisPushMessage(values: values))
            return
        }
        self.pending[0].confirmations.append(.push(values))
        self.pending[0].remainingConfirmations! -= 1
        if self.pending[0].remainingConfirmations == 0 {
            let done = self.pending.removeFirst()
            done.promise.succeed(.array(done.confirmations))
        }
    }

    // MARK: Lifecycle

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(with: self.closedError ?? .connectionClosed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A protocol or I/O error leaves the reply stream out of step: nothing on it can be trusted.
        let redisError: RedisError
        if let error = error as? RedisError {
            redisError = error
        } else {
            redisError = RedisError(
                code: .connectionClosed,
                message: "the connection to Redis failed",
                cause: error
            )
        }
        self.failAll(with: redisError)
        context.close(promise: nil)
    }

    private func failAll(with error: RedisError) {
        if self.closedError == nil { self.closedError = error }
        while let entry = self.pending.popFirst() {
            entry.promise.fail(error)
        }
    }
}
