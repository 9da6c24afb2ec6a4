import NIOCore
import NIOHTTP1
import NIOWebSocket
import NewsroomAuth
import NewsroomCore
import NewsroomWire

/// One WebSocket connection (RFC 6455), after the HTTP/1.1 upgrade.
///
/// - Single-topic sockets (`/v1/topics/{topic}/ws`) are subscribed at once; each event arrives as one
///   text frame holding the event JSON; after the topic's end the server closes with 1000.
/// - Multiplexed sockets (`/v1/ws`) take JSON commands (``WebSocketCommand``): subscribe, unsubscribe,
///   publish, generate, cancel; every event carries its `topic`.
///
/// Event frames are pre-built once per event and written below the frame encoder (``WebSocketSink``);
/// only replies and control frames go through NIO's `WebSocketFrameEncoder`. Close codes: 1000 normal,
/// 1001 shutdown or missed pongs, 1002 protocol error (e.g. an unmasked client frame), 1003 a binary
/// frame, 1007 invalid UTF-8, 1009 a message over the limit, 1013 a hub limit, 4008 a slow consumer
/// under the `disconnect` policy (or an overflowing `coalesce` queue).
final class WebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    enum Mode {
        case single(topic: String, after: Int?, policy: SlowConsumerPolicy?)
        case multiplexed
    }

    private let shared: HTTPHandlerContext
    private let mode: Mode
    private let traceHeaders: [(String, String)]
    private let keepalive: WebSocketKeepalive
    private var context: ChannelHandlerContext?
    private var raw: ChannelHandlerContext?
    private var subscriptions: [String: Subscriber] = [:]
    private var missedPongs = 0
    private var closing = false
    private let format: WireFormat
    private let authentication: Result<Principal, AuthError>
    private var expiry: Scheduled<Void>?

    init(
        shared: HTTPHandlerContext, mode: Mode, traceHeaders: [(String, String)],
        principal: Result<Principal, AuthError>, keepalive: WebSocketKeepalive
    ) {
        self.shared = shared
        self.mode = mode
        self.traceHeaders = traceHeaders
        self.authentication = principal
        self.keepalive = keepalive
        guard let format = shared.hub.format(named: "websocket") else {
            preconditionFailure("the hub needs the 'websocket' wire format (WebSocketFrameEncoder)")
        }
        self.format = format
    }

    private var hub: Hub { self.shared.hub }

    // MARK: Lifecycle

    /// Who opened the socket (valid only after a successful authentication).
    private var principal: Principal {
        if case .success(let principal) = self.authentication { return principal }
        return Principal(subject: "none", capabilities: Capabilities(), expiresAt: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.raw = try? context.pipeline.syncOperations.context(handlerType: ConnectionIOHandler.self)
        self.keepalive.register(self)
        switch self.authentication {
        case .failure(let error):
            self.shared.metrics.authFailed(error.reason)
            return self.close(code: .unknown(4001), reason: error.reason)
        case .success(let principal):
            if let expiry = principal.expiresAt {
                let delay = TimeAmount.milliseconds(max(0, expiry.millisecondsSince1970 - Timestamp.now().millisecondsSince1970))
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                self.expiry = context.eventLoop.scheduleTask(in: delay) { loopBound.value.tokenExpired() }
            }
        }
        if case .single(let topic, let after, let policy) = self.mode {
            guard self.principal.capabilities.allows(.subscribe, topic: topic) else {
                self.shared.metrics.authFailed("forbidden")
                return self.close(code: .unknown(4003), reason: "forbidden: subscribe on '\(topic)'")
            }
            self.subscribe(topic: topic, after: after, policy: policy, id: nil)
        }
    }

    /// The token expired: every subscription gets a retryable `token_expired` error, then the socket
    /// closes with 4001 so the client refreshes its token and resumes.
    private func tokenExpired() {
        guard let raw = self.raw, !self.closing else { return }
        for (topic, subscriber) in self.subscriptions {
            let notice = Event(
                seq: nil, topic: topic, timestamp: .now(),
                payload: .error(
                    StreamError(code: "token_expired", message: "the token expired; refresh it and resume", retryable: true)))
            raw.write(NIOAny(IOData.byteBuffer(self.hub.encode(notice, format: subscriber.format))), promise: nil)
        }
        self.close(code: .unknown(4001), reason: "token_expired")
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.teardown()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.teardown()
        context.fireChannelInactive()
    }

    private func teardown() {
        self.keepalive.unregister(self)
        self.expiry?.cancel()
        self.expiry = nil
        let subscribers = self.subscriptions.values
        self.subscriptions.removeAll()
        for subscriber in subscribers {
            subscriber.cancel()
            self.io?.eventsDelivered += subscriber.delivered
        }
    }

    private var io: ConnectionIOHandler? { self.raw?.handler as? ConnectionIOHandler }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        for subscriber in Array(self.subscriptions.values) {
            subscriber.writabilityChanged()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge:
            self.close(code: .messageTooLarge, reason: "message over \(self.shared.configuration.maxBodyBytes) bytes")
        case is MaskedFrameEnforcer.UnmaskedFrame:
            self.close(code: .protocolError, reason: "client frames must be masked")
        case is NIOWebSocketFrameAggregator.Error:
            self.close(code: .protocolError, reason: "invalid fragmentation")
        case is NIOWebSocketError:
            // WebSocketProtocolErrorHandler already sent the close frame (1002 or 1009) and closes.
            self.closing = true
        default:
            context.close(promise: nil)
        }
    }

    // MARK: Frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        guard !self.closing else { return }
        switch frame.opcode {
        case .text:
            let payload = frame.unmaskedData
            guard let text = payload.getString(at: payload.readerIndex, length: payload.readableBytes),
                String(validating: payload.readableBytesView, as: UTF8.self) != nil
            else {
                return self.close(code: .dataInconsistentWithMessage, reason: "text frames must be UTF-8")
            }
            self.receive(text: text, bytes: payload)
        case .binary:
            self.close(code: .unacceptableData, reason: "binary frames are not supported; send JSON text")
        case .ping:
            var payload = frame.unmaskedData
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: payload.readSlice(length: min(payload.readableBytes, 125)) ?? ByteBuffer())
            context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
        case .pong:
            self.missedPongs = 0
        case .connectionClose:
            // Echo the peer's close (RFC 6455 section 5.5.1), then close the TCP connection.
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self).map { WebSocketErrorCode(codeNumber: Int($0)) } ?? .normalClosure
            self.close(code: code, reason: "")
        default:
            break
        }
    }

    private func receive(text: String, bytes: ByteBuffer) {
        guard case .multiplexed = self.mode else {
            return self.reply(
                WebSocketReply.error(
                    id: nil, code: "unsupported", message: "this socket is subscribed to one topic; use /v1/ws for commands"))
        }
        let command: WebSocketCommand
        do {
            command = try WebSocketCommand.decode(bytes.readableBytesView)
        } catch {
            return self.reply(WebSocketReply.error(id: error.id, code: error.code, message: error.message))
        }
        let capabilities = self.principal.capabilities
        func forbidden(_ message: String) {
            self.shared.metrics.authFailed("forbidden")
            self.reply(WebSocketReply.error(id: command.id, code: "forbidden", message: message))
        }
        switch command.operation {
        case .subscribe(let topic, let after, let policy):
            guard capabilities.allows(.subscribe, topic: topic) else {
                return forbidden(AuthError.forbidden(.subscribe, topic: topic).message)
            }
            guard self.subscriptions[topic] == nil else {
                return self.reply(
                    WebSocketReply.error(id: command.id, code: "already_subscribed", message: "already subscribed to '\(topic)'"))
            }
            guard self.subscriptions.count < self.shared.configuration.maxSubscriptionsPerConnection else {
                self.shared.metrics.limitRejected("subscriptions_per_connection")
                return self.reply(
                    WebSocketReply.error(
                        id: command.id, code: "subscription_limit",
                        message: "at most \(self.shared.configuration.maxSubscriptionsPerConnection) subscriptions per socket"))
            }
            self.subscribe(topic: topic, after: after, policy: policy, id: command.id)
        case .unsubscribe(let topic):
            guard let subscriber = self.subscriptions.removeValue(forKey: topic) else {
                return self.reply(
                    WebSocketReply.error(id: command.id, code: "not_subscribed", message: "not subscribed to '\(topic)'"))
            }
            subscriber.cancel()
            self.reply(WebSocketReply.ok(id: command.id, fields: [("topic", .string(topic))]))
        case .publish(let topic, let event):
            guard capabilities.allows(.publish, topic: topic) else {
                return forbidden(AuthError.forbidden(.publish, topic: topic).message)
            }
            let key = self.shared.auth == nil ? (self.io?.clientAddress ?? "?") : self.principal.subject
            if self.shared.publishRate.take(1, key: key) != nil {
                self.shared.metrics.limitRejected("publish_rate")
                return self.reply(
                    WebSocketReply.error(id: command.id, code: "rate_limited", message: "publish rate limit reached"))
            }
            let id = command.id
            @Sendable func answer(_ result: Result<Topic.PublishReceipt, HubError>) -> ByteBuffer {
                switch result {
                case .success(let receipt):
                    WebSocketReply.ok(
                        id: id,
                        fields: [("topic", .string(topic)), ("first_seq", .int(receipt.firstSeq)), ("last_seq", .int(receipt.lastSeq))])
                case .failure(let error):
                    WebSocketReply.error(id: id, code: error.code.name, message: error.message)
                }
            }
            if let broker = self.shared.broker {
                self.replyAsync(id: id) {
                    do {
                        return answer(.success(try await broker.publish([event], to: topic, owner: nil)))
                    } catch let error as HubError {
                        return answer(.failure(error))
                    } catch {
                        return WebSocketReply.error(id: id, code: "internal", message: "internal error")
                    }
                }
            } else {
                do {
                    self.reply(answer(.success(try self.hub.publish(event, to: topic))))
                } catch {
                    self.reply(answer(.failure(error)))
                }
            }
        case .generate(let body):
            guard capabilities.generate || capabilities.admin else { return forbidden("the token does not allow starting generations") }
            self.generate(body, id: command.id)
        case .cancel(let generation, let topic):
            if let topic, !capabilities.allows(.cancel, topic: topic) {
                return forbidden(AuthError.forbidden(.cancel, topic: topic).message)
            }
            self.cancel(generation: generation, topic: topic, id: command.id)
        }
    }

    // MARK: Subscriptions

    private func subscribe(topic: String, after: Int?, policy: SlowConsumerPolicy?, id: JSONValue?) {
        guard let context = self.context else { return }
        if let broker = self.shared.broker, !broker.isMirrored(topic) {
            // First viewer of this topic on this node: mirror it, then attach.
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.completeWithTask { try await broker.prepareSubscription(to: topic) }
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            promise.futureResult.whenComplete { result in
                let handler = loopBound.value
                guard !handler.closing else { return }
                switch result {
                case .success:
                    handler.attach(topic: topic, after: after, policy: policy, id: id)
                case .failure(let error):
                    let code = (error as? HubError)?.code.name ?? "broker_unavailable"
                    switch handler.mode {
                    case .single: handler.close(code: .unknown(1013), reason: code)
                    case .multiplexed:
                        handler.reply(WebSocketReply.error(id: id, code: code, message: "the topic could not be prepared"))
                    }
                }
            }
            return
        }
        self.attach(topic: topic, after: after, policy: policy, id: id)
    }

    private func attach(topic: String, after: Int?, policy: SlowConsumerPolicy?, id: JSONValue?) {
        guard let raw = self.raw, let context = self.context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let sink = WebSocketSink(raw: raw) { subscriber, reason in
            loopBound.value.subscriptionEnded(topic: topic, subscriber: subscriber, reason: reason)
        }
        do {
            let subscriber = try self.hub.subscribe(to: topic, after: after, policy: policy, format: self.format, sink: sink)
            if !subscriber.isClosed {
                self.subscriptions[topic] = subscriber
            }
            if case .multiplexed = self.mode {
                self.reply(WebSocketReply.ok(id: id, fields: [("topic", .string(topic))]))
            }
        } catch {
            switch self.mode {
            case .single:
                if error.code == .nothingAfterEnd {
                    self.close(code: .normalClosure, reason: "the stream ended; nothing after this seq")
                } else if error.code == .topicLimitReached || error.code == .subscriberLimitReached {
                    self.close(code: .unknown(1013), reason: error.code.name)
                } else {
                    self.close(code: .policyViolation, reason: error.code.name)
                }
            case .multiplexed:
                self.reply(WebSocketReply.error(id: id, code: error.code.name, message: error.message))
            }
        }
    }

    private func subscriptionEnded(topic: String, subscriber: Subscriber, reason: DisconnectReason) {
        if self.subscriptions[topic] === subscriber {
            self.subscriptions[topic] = nil
        }
        self.io?.eventsDelivered += subscriber.delivered
        if !reason.isNormal { self.io?.closeReason = reason.code }
        switch (self.mode, reason) {
        case (_, .slowConsumer):
            self.close(code: .unknown(4008), reason: "slow consumer: resume after your last seq")
        case (_, .shutdown):
            self.close(code: .goingAway, reason: "server shutting down; resume after your last seq")
        case (.single, _):
            self.close(code: .normalClosure, reason: reason.isNormal ? "stream ended" : reason.code)
        case (.multiplexed, _):
            break  // the topic's own stream_complete (or error) told the client
        }
    }

    // MARK: Generations

    private func generate(_ body: JSONValue, id: JSONValue?) {
        guard let generations = self.shared.generations else {
            return self.reply(
                WebSocketReply.error(id: id, code: "unsupported", message: "generations are not enabled on this hub"))
        }
        var parsed: GenerationRequest
        do {
            parsed = try GenerationRequestParser.parse(body, traceHeaders: self.traceHeaders)
        } catch {
            return self.reply(WebSocketReply.error(id: id, code: error.code, message: error.message))
        }
        if let topic = parsed.topic, !self.principal.capabilities.allows(.publish, topic: topic) {
            return self.reply(WebSocketReply.error(id: id, code: "forbidden", message: AuthError.forbidden(.publish, topic: topic).message))
        }
        if self.shared.auth != nil { parsed.owner = self.principal.subject }
        let request = parsed
        self.replyAsync(id: id) {
            do {
                let info = try await generations.start(request)
                return WebSocketReply.ok(id: id, fields: [("generation", .string(info.id)), ("topic", .string(info.topic))])
            } catch let error as GenerationError {
                return WebSocketReply.error(id: id, code: error.code.rawValue, message: error.message)
            } catch {
                return WebSocketReply.error(id: id, code: "internal", message: "internal error")
            }
        }
    }

    private func cancel(generation: String?, topic: String?, id: JSONValue?) {
        let generations = self.shared.generations
        let hub = self.hub
        if let generation {
            guard let generations else {
                return self.reply(
                    WebSocketReply.error(id: id, code: "unsupported", message: "generations are not enabled on this hub"))
            }
            let capabilities = self.principal.capabilities
            self.replyAsync(id: id) {
                guard let current = await generations.info(generation: generation) else {
                    return WebSocketReply.error(id: id, code: "not_found", message: "no generation '\(generation)'")
                }
                guard capabilities.allows(.cancel, topic: current.topic) else {
                    return WebSocketReply.error(
                        id: id, code: "forbidden", message: AuthError.forbidden(.cancel, topic: current.topic).message)
                }
                guard let info = await generations.cancel(generation: generation) else {
                    return WebSocketReply.error(id: id, code: "not_found", message: "no generation '\(generation)'")
                }
                return WebSocketReply.ok(
                    id: id, fields: [("generation", .string(info.id)), ("topic", .string(info.topic)), ("state", .string(info.state.rawValue))])
            }
        } else if let topic {
            let broker = self.shared.broker
            self.replyAsync(id: id) {
                _ = await generations?.cancel(topic: topic)
                do {
                    let cancelled = try await broker?.cancelTopic(topic) ?? hub.cancelTopic(named: topic)
                    guard let snapshot = cancelled else {
                        return WebSocketReply.error(id: id, code: "not_found", message: "no topic named '\(topic)'")
                    }
                    return WebSocketReply.ok(id: id, fields: [("topic", .string(topic)), ("state", .string(snapshot.state.rawValue))])
                } catch let error as HubError {
                    return WebSocketReply.error(id: id, code: error.code.name, message: error.message)
                } catch {
                    return WebSocketReply.error(id: id, code: "internal", message: "internal error")
                }
            }
        }
    }

    // MARK: Writing

    private func reply(_ json: ByteBuffer) {
        guard let context = self.context, !self.closing else { return }
        context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: json)), promise: nil)
    }

    private func replyAsync(id: JSONValue?, _ work: @escaping @Sendable () async -> ByteBuffer) {
        guard let context = self.context else { return }
        let promise = context.eventLoop.makePromise(of: ByteBuffer.self)
        promise.completeWithTask(work)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { json in loopBound.value.reply(json) }
    }

    /// Sends a close frame, then closes the connection once it is written.
    func close(code: WebSocketErrorCode, reason: String) {
        guard let context = self.context, !self.closing else { return }
        self.closing = true
        if self.io?.closeReason == nil { self.io?.closeReason = "websocket_close_\(code)" }
        self.teardown()
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(String(decoding: reason.utf8.prefix(123), as: UTF8.self))
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
        // A peer that stopped reading may never take the frame: don't wait for it forever.
        channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }

    /// Called by the loop's keepalive timer: ping, or close after two missed pongs.
    func keepaliveTick() {
        guard let context = self.context, !self.closing else { return }
        if self.missedPongs >= 2 {
            return self.close(code: .goingAway, reason: "no pong received")
        }
        self.missedPongs += 1
        let ping = WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(string: "newsroom"))
        context.writeAndFlush(self.wrapOutboundOut(ping), promise: nil)
    }
}
