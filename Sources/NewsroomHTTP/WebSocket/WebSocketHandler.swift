import NIOCore
import NIOHTTP1
import NIOWebSocket
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomWire

/// One WebSocket connection (RFC 6455), after the HTTP/1.1 upgrade.
///
/// - Single-topic sockets (`/v1/topics/{topic}/ws`) are subscribed at once; each event arrives as one
///   text frame holding the event JSON; after the topic's end the server closes with 1000.
/// - Multiplexed sockets (`/v1/ws`) take JSON commands (``WebSocketCommand``): subscribe, unsubscribe,
///   publish, generate, cancel; every event carries its `topic`.
///
/// Every command goes through the ``ControlService`` (access, limits, broker); this handler only
/// reads frames, writes replies and maps ``ControlError``s to error replies and close codes.
/// Event frames are pre-built once per event and written below the frame encoder (``WebSocketSink``);
/// only replies and control frames go through NIO's `WebSocketFrameEncoder`. Close codes: 1000 normal,
/// 1001 shutdown or missed pongs, 1002 protocol error (e.g. an unmasked client frame), 1003 a binary
/// frame, 1007 invalid UTF-8, 1009 a message over the limit, 1013 a hub limit, 4008 a slow consumer
/// under the `disconnect` policy (or an overflowing `coalesce` queue).
final class WebSocketHandler: ChannelInboundHandler, RemovableChannelHandler, KeepalivePinged {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    enum Mode {
        case single(SubscriptionRequest)
        case multiplexed
    }

    private let dependencies: HTTPDependencies
    private let mode: Mode
    private let traceHeaders: [(String, String)]
    private let keepalive: ConnectionKeepalive
    private let statistics: ConnectionStatistics?
    private var context: ChannelHandlerContext?
    private var belowEncoders: ChannelHandlerContext?
    /// The open subscriptions by topic, with their sinks (which keep the connection's writability).
    private var subscriptions: [String: (subscriber: Subscriber, sink: WebSocketSink)] = [:]
    private var missedPongs = 0
    private var closing = false
    /// The last command answered off the loop: each waits for the one before, so a socket's commands
    /// take effect in the order they were sent (a publisher's tokens keep their order).
    private var lastCommand: EventLoopFuture<Void>?
    /// Commands answered off the loop and not yet replied to; a publish is answered at once only when
    /// there are none (so it cannot overtake them).
    private var commandsInFlight = 0
    private let authentication: Result<Principal, ControlError>

    init(
        dependencies: HTTPDependencies, mode: Mode, traceHeaders: [(String, String)],
        authentication: Result<Principal, ControlError>, keepalive: ConnectionKeepalive, statistics: ConnectionStatistics?
    ) {
        self.dependencies = dependencies
        self.mode = mode
        self.traceHeaders = traceHeaders
        self.authentication = authentication
        self.keepalive = keepalive
        self.statistics = statistics
    }

    private var control: ControlService { self.dependencies.control }

    // MARK: Lifecycle

    /// Who opened the socket (valid only after a successful authentication).
    private var principal: Principal {
        if case .success(let principal) = self.authentication { return principal }
        return Principal(subject: "none", capabilities: Capabilities(), expiresAt: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.belowEncoders = try? context.pipeline.syncOperations.context(handlerType: ConnectionIOHandler.self)
        self.keepalive.register(self)
        if case .failure(let error) = self.authentication {
            return self.close(code: .unknown(4001), reason: error.code == "token_expired" ? "token_expired" : "unauthorized")
        }
        if case .single(let request) = self.mode {
            self.subscribe(request, id: nil)
        }
    }

    /// The hub ended a subscription for a reason the client must act on (an expired token, a slow
    /// consumer, a shutdown): every subscription of the socket gets a retryable `error` notice naming it —
    /// written below the encoders, past the subscriber's full queue, as SSE does — then the socket
    /// closes with `code`, so the client (refreshes its token and) resumes after its last seq.
    private func notifyAndClose(_ ended: Subscriber, reason: DisconnectReason, code: WebSocketErrorCode, closeReason: String) {
        guard let belowEncoders = self.belowEncoders, !self.closing else { return }
        let subscribers = [(ended.topic.name, ended)] + self.subscriptions.map { ($0.key, $0.value.subscriber) }
        for (topic, subscriber) in subscribers {
            let notice = Event(
                seq: nil, topic: topic, timestamp: .now(),
                payload: .error(StreamError(code: reason.code, message: reason.message, retryable: reason.retryable)))
            let frame = self.dependencies.hub.encode(notice, format: subscriber.format)
            self.statistics?.bytesWritten += frame.readableBytes
            belowEncoders.write(NIOAny(IOData.byteBuffer(frame)), promise: nil)
        }
        self.close(code: code, reason: closeReason)
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
        let subscriptions = self.subscriptions.values
        self.subscriptions.removeAll()
        for (subscriber, sink) in subscriptions {
            subscriber.cancel()
            sink.recordBytes()
            self.statistics?.subscriptionEnded(delivered: subscriber.delivered)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        for (subscriber, sink) in Array(self.subscriptions.values) {
            sink.writable = writable
            subscriber.writabilityChanged()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge:
            self.close(
                code: .messageTooLarge, reason: "message over \(self.dependencies.configuration.webSocketMaxMessageBytes) bytes")
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
        let id = command.id
        switch command.operation {
        case .subscribe(let topic, let after, let policy, let maxDelay):
            guard self.subscriptions[topic] == nil else {
                return self.reply(
                    WebSocketReply.error(id: id, code: "already_subscribed", message: "already subscribed to '\(topic)'"))
            }
            do {
                try self.control.admitSubscription(alreadyHeld: self.subscriptions.count)
            } catch {
                return self.reply(error, id: id)
            }
            var request = SubscriptionRequest(topic: topic, after: after, policy: policy)
            do {
                request.maxDelay = try maxDelay.map { value throws(ControlError) in
                    try ControlService.duration(value, name: "max_delay")
                }
            } catch {
                return self.reply(error, id: id)
            }
            self.subscribe(request, id: id)
        case .unsubscribe(let topic):
            guard let (subscriber, sink) = self.subscriptions.removeValue(forKey: topic) else {
                return self.reply(
                    WebSocketReply.error(id: id, code: "not_subscribed", message: "not subscribed to '\(topic)'"))
            }
            subscriber.cancel()
            sink.recordBytes()
            self.statistics?.subscriptionEnded(delivered: subscriber.delivered)
            self.reply(WebSocketReply.ok(id: id, fields: [("topic", .string(topic))]))
        case .publish(let topic, let event):
            let (control, principal, client) = (self.control, self.principal, self.statistics?.clientAddress ?? "?")
            if self.commandsInFlight == 0 {
                // Nothing queued before it and nothing to wait for: published and answered at once.
                do throws(ControlError) {
                    if let receipt = try control.publishAtOnce([event], to: topic, as: principal, from: client) {
                        return self.reply(WebSocketReply.ok(id: id, fields: Self.receiptFields(topic, receipt)))
                    }
                } catch {
                    return self.reply(error, id: id)
                }
            }
            self.replyAsync(id: id) { () async throws(ControlError) -> [(StaticString, JSONValue)] in
                Self.receiptFields(topic, try await control.publish([event], to: topic, as: principal, from: client))
            }
        case .generate(let body):
            let request: GenerationRequest
            do {
                request = try GenerationRequest(json: body, traceHeaders: self.traceHeaders)
            } catch {
                return self.reply(error, id: id)
            }
            let (control, principal) = (self.control, self.principal)
            self.replyAsync(id: id) { () async throws(ControlError) -> [(StaticString, JSONValue)] in
                let info = try await control.startGeneration(request, as: principal)
                return [("generation", .string(info.id)), ("topic", .string(info.topic))]
            }
        case .cancel(let generation?, _):
            let (control, principal) = (self.control, self.principal)
            self.replyAsync(id: id) { () async throws(ControlError) -> [(StaticString, JSONValue)] in
                let info = try await control.cancelGeneration(generation, as: principal)
                return [("generation", .string(info.id)), ("topic", .string(info.topic)), ("state", .string(info.state.rawValue))]
            }
        case .cancel(nil, let topic?):
            let (control, principal) = (self.control, self.principal)
            self.replyAsync(id: id) { () async throws(ControlError) -> [(StaticString, JSONValue)] in
                let cancellation = try await control.cancelTopic(topic, as: principal)
                return [("topic", .string(topic)), ("state", .string(cancellation.topic.state.rawValue))]
            }
        case .cancel(nil, nil):
            self.reply(WebSocketReply.error(id: id, code: "invalid_command", message: "cancel needs 'generation' or 'topic'"))
        }
    }

    // MARK: Subscriptions

    private func subscribe(_ request: SubscriptionRequest, id: JSONValue?) {
        guard let belowEncoders = self.belowEncoders, let context = self.context else { return }
        let topic = request.topic
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let sink = WebSocketSink(belowEncoders: belowEncoders, statistics: self.statistics) { subscriber, reason in
            loopBound.value.subscriptionEnded(topic: topic, subscriber: subscriber, reason: reason)
        }
        let sinkBound = NIOLoopBound(sink, eventLoop: context.eventLoop)
        self.control.subscribe(request, as: self.principal, format: self.dependencies.webSocketFormat, sink: sink)
            .whenComplete { result in
                let handler = loopBound.value
                switch result {
                case .success(let subscriber):
                    guard !handler.closing else { return subscriber.cancel() }
                    if !subscriber.isClosed { handler.subscriptions[topic] = (subscriber, sinkBound.value) }
                    if case .multiplexed = handler.mode {
                        handler.reply(WebSocketReply.ok(id: id, fields: [("topic", .string(topic))]))
                    }
                case .failure(let error):
                    guard !handler.closing else { return }
                    let error = error as? ControlError ?? .internalError
                    switch handler.mode {
                    case .single: handler.close(error)
                    case .multiplexed: handler.reply(error, id: id)
                    }
                }
            }
    }

    /// Closes a single-topic socket whose subscription was refused, with the close code for the error.
    private func close(_ error: ControlError) {
        switch error.kind {
        case .ended: self.close(code: .normalClosure, reason: "the stream ended; nothing after this seq")
        case .unauthenticated: self.close(code: .unknown(4001), reason: error.code)
        case .permissionDenied: self.close(code: .unknown(4003), reason: "forbidden: subscribe on '\(self.singleTopic)'")
        case .limitReached, .unavailable: self.close(code: .unknown(1013), reason: error.code)
        default: self.close(code: .policyViolation, reason: error.code)
        }
    }

    private var singleTopic: String {
        if case .single(let request) = self.mode { return request.topic }
        return ""
    }

    private func subscriptionEnded(topic: String, subscriber: Subscriber, reason: DisconnectReason) {
        if self.subscriptions[topic]?.subscriber === subscriber {
            self.subscriptions[topic] = nil
        }
        self.statistics?.subscriptionEnded(delivered: subscriber.delivered)
        if !reason.isNormal { self.statistics?.closeReason = reason.code }
        switch (self.mode, reason) {
        case (_, .tokenExpired):
            self.notifyAndClose(subscriber, reason: reason, code: .unknown(4001), closeReason: "token_expired")
        case (_, .slowConsumer):
            self.notifyAndClose(
                subscriber, reason: reason, code: .unknown(4008), closeReason: "slow consumer: resume after your last seq")
        case (_, .shutdown):
            self.notifyAndClose(
                subscriber, reason: reason, code: .goingAway, closeReason: "server shutting down; resume after your last seq")
        case (.single, _):
            self.close(code: .normalClosure, reason: reason.isNormal ? "stream ended" : reason.code)
        case (.multiplexed, _):
            break  // the topic's own stream_complete (or error) told the client
        }
    }

    // MARK: Writing

    private func reply(_ json: ByteBuffer) {
        guard let context = self.context, !self.closing else { return }
        context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: json)), promise: nil)
    }

    /// Replies with the error's code and message (the same ones the HTTP API's error bodies carry).
    private func reply(_ error: ControlError, id: JSONValue?) {
        self.reply(WebSocketReply.error(id: id, code: error.code, message: error.message))
    }

    /// Runs a control call off the loop and replies with `ok` and its fields, or with its error.
    private func replyAsync(
        id: JSONValue?, _ work: @escaping @Sendable () async throws(ControlError) -> [(StaticString, JSONValue)]
    ) {
        guard let context = self.context else { return }
        let loop = context.eventLoop
        let previous = self.lastCommand ?? loop.makeSucceededVoidFuture()
        let answered = previous.flatMap {
            let promise = loop.makePromise(of: ByteBuffer.self)
            promise.completeWithTask {
                do throws(ControlError) {
                    return WebSocketReply.ok(id: id, fields: try await work())
                } catch {
                    return WebSocketReply.error(id: id, code: error.code, message: error.message)
                }
            }
            return promise.futureResult
        }
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        self.commandsInFlight += 1
        self.lastCommand = answered.map { json in
            let handler = loopBound.value
            handler.commandsInFlight -= 1
            handler.reply(json)
        }
    }

    private static func receiptFields(_ topic: String, _ receipt: Topic.PublishReceipt) -> [(StaticString, JSONValue)] {
        [("topic", .string(topic)), ("first_seq", .int(receipt.firstSeq)), ("last_seq", .int(receipt.lastSeq))]
    }

    /// Sends a close frame, then closes the connection once it is written.
    func close(code: WebSocketErrorCode, reason: String) {
        guard let context = self.context, !self.closing else { return }
        self.closing = true
        if self.statistics?.closeReason == nil { self.statistics?.closeReason = "websocket_close_\(code)" }
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
