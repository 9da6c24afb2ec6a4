import DequeModule
import NIOCore
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomWire

/// Socket.IO (protocol v5) on one Engine.IO session, in the default namespace `/`.
///
/// Client to hub, each answered through the event's acknowledgement when it asks for one:
/// `subscribe {topic, after?, policy?, max_delay?}` → `{topic, last_seq}`; `unsubscribe {topic}` →
/// `{topic}`; `publish {topic, events: [...]}` (or `event: {...}`) → `{topic, first_seq, last_seq}`;
/// `generate {...}` → `{generation, topic}`; `cancel {generation}` or `{topic}` → `{…, state}`. A refused
/// command's ack is `{"error": {"code", "message"}}` with the codes of the HTTP API. Hub to client:
/// every event of a subscribed topic, as a Socket.IO event named after its type
/// (``NewsroomWire/SocketIOEventEncoder``), written from the shared per-event packet.
///
/// Everything goes through the ``ControlService``; this type only maps packets to its calls.
///
/// - Note: confined to its session's event loop.
final class SocketIOSocket {
    private unowned let session: EngineIOSession
    private var server: EngineIOServer { self.session.server }
    private var control: ControlService { self.session.server.control }

    private enum State {
        case awaitingConnect
        case authenticating
        case connected(sid: String, principal: Principal)
    }
    private var state = State.awaitingConnect
    /// The private id a client sends back to recover this session (recovery on only).
    private var pid: String?

    /// One topic subscription.
    final class Subscription {
        var request: SubscriptionRequest
        let sink: SocketIOSink
        var subscriber: Subscriber?
        init(request: SubscriptionRequest, sink: SocketIOSink) {
            self.request = request
            self.sink = sink
        }
        /// Where a new subscription to the topic resumes: after the last event written here.
        var resumePoint: Int? { self.sink.lastSeq ?? self.request.after }
    }
    private var subscriptions: [String: Subscription] = [:]
    /// The commands answered off the loop, in order: each waits for the one before.
    private var lastCommand: Task<Void, Never>?
    /// With recovery on: the last events written (topic, seq), oldest first, and for each topic the
    /// last seq that fell off the front.
    private var log = Deque<(topic: String, seq: Int)>()
    private var logFloor: [String: Int] = [:]

    init(session: EngineIOSession) {
        self.session = session
    }

    var isConnected: Bool {
        if case .connected = self.state { return true }
        return false
    }

    private var principal: Principal? {
        if case .connected(_, let principal) = self.state { return principal }
        return nil
    }

    // MARK: Packets in

    /// The text of an Engine.IO message packet.
    func receive(_ text: Substring) {
        let packet: SocketIOPacket
        do {
            packet = try SocketIOPacket.decode(text)
        } catch {
            return self.session.close(reason: "protocol_error", unexpected: false)
        }
        switch packet.kind {
        case .connect:
            guard packet.namespace == "/" else {
                return self.session.send(
                    SocketIOPacket.connectError(namespace: packet.namespace, message: "Invalid namespace", code: nil))
            }
            guard case .awaitingConnect = self.state else {
                return self.session.close(reason: "protocol_error", unexpected: false)
            }
            self.connect(auth: packet.data?.objectValue ?? [:])
        case .disconnect:
            guard packet.namespace == "/", self.isConnected else {
                return self.session.close(reason: "protocol_error", unexpected: false)
            }
            self.endSubscriptions()
            self.state = .awaitingConnect
        case .event:
            guard packet.namespace == "/", let principal = self.principal else {
                return self.session.close(reason: "protocol_error", unexpected: false)
            }
            guard case .array(let items)? = packet.data, case .string(let name)? = items.first else {
                return self.reply(packet.ackID, error: "invalid_command", "the event name must be a string")
            }
            self.event(name, argument: items.count > 1 ? items[1] : nil, ackID: packet.ackID, principal: principal)
        case .ack:
            break  // the hub asks for no acknowledgements
        case .connectError, .binaryEvent, .binaryAck:
            self.session.close(reason: "protocol_error", unexpected: false)
        }
    }

    // MARK: Connecting

    private func connect(auth: [String: JSONValue]) {
        let token = auth["token"]?.stringValue ?? self.session.handshake.token
        let recovery = auth["pid"]?.stringValue.map { (pid: $0, offset: auth["offset"]?.stringValue) }
        self.state = .authenticating
        if let cached = self.control.cachedAuthentication(token: token) {
            return self.authenticated(cached, recovery: recovery)
        }
        let (control, session) = (self.control, self.session)
        Task {
            let result = await control.authenticate(token: token)
            session.onLoop { $0.socket.authenticated(result, recovery: recovery) }
        }
    }

    private func authenticated(_ result: Result<Principal, ControlError>, recovery: (pid: String, offset: String?)?) {
        guard !self.session.isClosed, case .authenticating = self.state else { return }
        switch result {
        case .failure(let error):
            self.state = .awaitingConnect
            self.control.recordAuthFailure(error.code)
            self.session.send(SocketIOPacket.connectError(namespace: "/", message: error.message, code: error.code))
        case .success(let principal):
            var sid = EngineIOServer.randomID()
            if self.server.recoveryEnabled {
                if let recovery, let saved = self.server.recover(pid: recovery.pid),
                    let resumed = saved.resumePoints(offset: recovery.offset)
                {
                    sid = saved.sid
                    self.pid = saved.pid
                    self.state = .connected(sid: sid, principal: principal)
                    self.session.send(SocketIOPacket.connected(namespace: "/", sid: sid, pid: saved.pid))
                    return self.resubscribe(resumed)
                }
                self.pid = EngineIOServer.randomID()
            }
            self.state = .connected(sid: sid, principal: principal)
            self.session.send(SocketIOPacket.connected(namespace: "/", sid: sid, pid: self.pid))
        }
    }

    // MARK: Events

    private func event(_ name: String, argument: JSONValue?, ackID: Int?, principal: Principal) {
        guard case .object(var object)? = argument else {
            return self.reply(ackID, error: "invalid_command", "'\(name.prefix(32))' takes one JSON object")
        }
        if name == "publish" { return self.publish(object, ackID: ackID, principal: principal) }
        guard ["subscribe", "unsubscribe", "generate", "cancel"].contains(name) else {
            return self.reply(
                ackID, error: "unknown_event",
                "unknown event '\(name.prefix(32))': subscribe, unsubscribe, publish, generate or cancel")
        }
        object["op"] = .string(name)
        object["id"] = nil
        let command: WebSocketCommand
        do {
            command = try WebSocketCommand.decode(object: object)
        } catch {
            return self.reply(ackID, error: error.code, error.message)
        }
        switch command.operation {
        case .subscribe(let topic, let after, let policy, let maxDelay):
            guard self.subscriptions[topic] == nil else {
                return self.reply(ackID, error: "already_subscribed", "already subscribed to '\(topic)'")
            }
            var request = SubscriptionRequest(topic: topic, after: after, policy: policy)
            do throws(ControlError) {
                try self.control.admitSubscription(alreadyHeld: self.subscriptions.count)
                request.maxDelay = try maxDelay.map { value throws(ControlError) in
                    try ControlService.duration(value, name: "max_delay")
                }
            } catch {
                return self.reply(ackID, error)
            }
            self.subscribe(request, ackID: ackID, principal: principal)
        case .unsubscribe(let topic):
            guard let subscription = self.subscriptions.removeValue(forKey: topic) else {
                return self.reply(ackID, error: "not_subscribed", "not subscribed to '\(topic)'")
            }
            subscription.subscriber?.cancel()
            self.reply(ackID, .object(["topic": .string(topic)]))
        case .generate(let body):
            let request: GenerationRequest
            do {
                request = try GenerationRequest(json: body, traceHeaders: self.session.handshake.traceHeaders)
            } catch {
                return self.reply(ackID, error)
            }
            let control = self.control
            self.answerLater(ackID) { () async throws(ControlError) -> JSONValue in
                let info = try await control.startGeneration(request, as: principal)
                return .object(["generation": .string(info.id), "topic": .string(info.topic)])
            }
        case .cancel(let generation?, _):
            let control = self.control
            self.answerLater(ackID) { () async throws(ControlError) -> JSONValue in
                let info = try await control.cancelGeneration(generation, as: principal)
                return .object([
                    "generation": .string(info.id), "topic": .string(info.topic), "state": .string(info.state.rawValue),
                ])
            }
        case .cancel(nil, let topic?):
            let control = self.control
            self.answerLater(ackID) { () async throws(ControlError) -> JSONValue in
                let cancellation = try await control.cancelTopic(topic, as: principal)
                return .object(["topic": .string(topic), "state": .string(cancellation.topic.state.rawValue)])
            }
        case .cancel(nil, nil), .publish:
            self.reply(ackID, error: "invalid_command", "cancel needs 'generation' or 'topic'")
        }
    }

    /// `publish {topic, events: [...]}` (or one `event`), validated as an HTTP publish body.
    private func publish(_ object: [String: JSONValue], ackID: Int?, principal: Principal) {
        if let unknown = object.keys.filter({ !["topic", "event", "events"].contains($0) }).sorted().first {
            return self.reply(ackID, error: "invalid_command", "unknown field '\(unknown.prefix(64))'")
        }
        guard let topic = object["topic"]?.stringValue else {
            return self.reply(ackID, error: "invalid_command", "missing field 'topic'")
        }
        let values: [JSONValue]
        switch (object["events"], object["event"]) {
        case (.array(let events)?, nil) where !events.isEmpty: values = events
        case (nil, let event?): values = [event]
        default: return self.reply(ackID, error: "invalid_command", "'events' must be a non-empty array (or send one 'event')")
        }
        var payloads: [EventPayload] = []
        for (index, value) in values.enumerated() {
            do {
                payloads.append(try EventDecoder.decode(value))
            } catch {
                return self.reply(ackID, error: "invalid_event", values.count > 1 ? "events[\(index)]: \(error.message)" : error.message)
            }
        }
        let (control, client, events) = (self.control, self.session.handshake.client, payloads)
        self.answerLater(ackID) { () async throws(ControlError) -> JSONValue in
            let receipt = try await control.publish(events, to: topic, as: principal, from: client)
            return .object(["topic": .string(topic), "first_seq": .int(receipt.firstSeq), "last_seq": .int(receipt.lastSeq)])
        }
    }

    // MARK: Subscriptions

    private func subscribe(_ request: SubscriptionRequest, ackID: Int?, principal: Principal) {
        let sink = SocketIOSink(session: self.session, topic: request.topic)
        let subscription = Subscription(request: request, sink: sink)
        self.subscriptions[request.topic] = subscription
        self.attach(subscription, principal: principal, ackID: ackID)
    }

    /// Subscribes `subscription` on the session's current loop and transport. If the session moved
    /// (upgraded) while the subscription was being made, it is made again where the session now is.
    private func attach(_ subscription: Subscription, principal: Principal, ackID: Int?) {
        let format = self.server.format(webSocket: self.session.isWebSocket)
        let loop = self.session.eventLoop
        subscription.sink.attach(loop: loop)
        var resumed = subscription.request
        resumed.after = subscription.resumePoint
        let request = resumed
        let session = self.session
        self.control.subscribe(request, as: principal, format: format, sink: subscription.sink).whenComplete { result in
            // This runs on the loop the subscription was made on, which is the session's unless the
            // session moved (upgraded) meanwhile: then the subscription is made again where it is now.
            guard subscription.sink.isCurrent else {
                if case .success(let subscriber) = result { subscriber.cancel() }
                return session.onLoop { session in
                    guard session.socket.subscriptions[request.topic] === subscription, !session.isClosed else { return }
                    session.socket.attach(subscription, principal: principal, ackID: ackID)
                }
            }
            let socket = session.socket!
            guard socket.subscriptions[request.topic] === subscription, !session.isClosed else {
                if case .success(let subscriber) = result { subscriber.cancel() }
                return
            }
            switch result {
            case .success(let subscriber):
                if subscriber.isClosed {
                    socket.subscriptions[request.topic] = nil
                } else {
                    subscription.subscriber = subscriber
                }
                socket.reply(
                    ackID, .object(["topic": .string(request.topic), "last_seq": .int(subscriber.topic.snapshot.lastSeq)]))
            case .failure(let error):
                socket.subscriptions[request.topic] = nil
                socket.reply(ackID, error as? ControlError ?? .internalError)
            }
        }
    }

    /// Ends the subscriptions here and returns them with their resume points, to be made again on the
    /// session's new loop and transport (``resubscribe(_:)``).
    ///
    /// A subscription still being made stays: it is made again when its answer comes (see ``attach``).
    func moveSubscriptions() -> [SubscriptionRequest] {
        var moved: [SubscriptionRequest] = []
        for (topic, subscription) in self.subscriptions {
            guard let subscriber = subscription.subscriber else { continue }
            subscriber.cancel()
            var request = subscription.request
            request.after = subscription.resumePoint
            moved.append(request)
            self.subscriptions[topic] = nil
        }
        return moved
    }

    /// Makes `requests` again (after a move or a recovery), without acknowledgements.
    func resubscribe(_ requests: [SubscriptionRequest]) {
        guard let principal = self.principal else { return }
        for request in requests { self.subscribe(request, ackID: nil, principal: principal) }
    }

    func writabilityChanged() {
        for subscription in self.subscriptions.values { subscription.subscriber?.writabilityChanged() }
    }

    /// A subscription's sink wrote an event with a seq (recovery log).
    func wrote(topic: String, seq: Int) {
        guard self.server.recoveryEnabled else { return }
        if self.log.count >= self.server.settings.recoveryLogSize, let dropped = self.log.popFirst() {
            self.logFloor[dropped.topic] = dropped.seq
        }
        self.log.append((topic, seq))
    }

    /// The hub ended a subscription.
    func subscriptionEnded(topic: String, subscriber: Subscriber, reason: DisconnectReason) {
        guard let subscription = self.subscriptions[topic], subscription.subscriber === subscriber || subscription.subscriber == nil
        else { return }
        switch reason {
        case .slowConsumer:
            // The client reconnects (and recovers, or resubscribes after its last seq).
            self.session.close(reason: "slow_consumer", unexpected: true)
        case .shutdown:
            self.session.close(reason: "shutdown", unexpected: true)
        case .tokenExpired:
            let notice = Event(
                seq: nil, topic: topic, timestamp: .now(),
                payload: .error(StreamError(code: "token_expired", message: "the token expired; refresh it and resume", retryable: true)))
            self.session.send(self.control.hub.encode(notice, format: self.server.format(webSocket: false)))
            self.session.close(reason: "token_expired", unexpected: true)
        default:
            self.subscriptions[topic] = nil
        }
    }

    private func endSubscriptions() {
        for subscription in self.subscriptions.values { subscription.subscriber?.cancel() }
        self.subscriptions.removeAll()
    }

    /// The session ended: the subscriptions end; after an unexpected end, they are kept for recovery.
    func sessionEnded(unexpected: Bool) {
        if unexpected, let pid = self.pid, case .connected(let sid, _) = self.state {
            var topics: [String: SubscriptionRequest] = [:]
            for (topic, subscription) in self.subscriptions {
                topics[topic] = subscription.request
            }
            self.server.keepForRecovery(
                SocketIORecoveryState(pid: pid, sid: sid, subscriptions: topics, log: self.log, floor: self.logFloor))
        }
        self.endSubscriptions()
        self.state = .awaitingConnect
    }

    // MARK: Replies

    private func reply(_ ackID: Int?, _ value: JSONValue) {
        guard let ackID else { return }
        self.session.send(SocketIOPacket.ack(namespace: "/", id: ackID, value: value.jsonBytes))
    }

    private func reply(_ ackID: Int?, error code: String, _ message: String) {
        self.reply(ackID, .object(["error": .object(["code": .string(code), "message": .string(message)])]))
    }

    private func reply(_ ackID: Int?, _ error: ControlError) {
        self.reply(ackID, error: error.code, error.message)
    }

    /// Runs a control call off the loop and acknowledges with its result, in the order the commands came.
    private func answerLater(_ ackID: Int?, _ work: @escaping @Sendable () async throws(ControlError) -> JSONValue) {
        let previous = self.lastCommand
        let session = self.session
        self.lastCommand = Task {
            await previous?.value
            let answer: JSONValue
            do throws(ControlError) {
                answer = try await work()
            } catch {
                answer = .object(["error": .object(["code": .string(error.code), "message": .string(error.message)])])
            }
            session.onLoop { $0.socket.reply(ackID, answer) }
        }
    }
}

/// What is kept of a session that dropped, for connection state recovery.
struct SocketIORecoveryState: Sendable {
    var pid: String
    var sid: String
    /// The subscriptions, each with the resume point it was made with.
    var subscriptions: [String: SubscriptionRequest]
    var log: Deque<(topic: String, seq: Int)>
    var floor: [String: Int]

    /// Where each subscription resumes, given the offset of the last event the client received (`nil`:
    /// it received none): the topic of the offset after its seq, every other topic after the last event
    /// of it that was written before that one. `nil` when the offset is not in the log (recovery fails).
    func resumePoints(offset: String?) -> [SubscriptionRequest]? {
        var position = -1
        if let offset {
            guard let (topic, seq) = SocketIOEventEncoder.offset(offset),
                let index = self.log.lastIndex(where: { $0.topic == topic && $0.seq == seq })
            else { return nil }
            position = index
        }
        return self.subscriptions.map { topic, request in
            var request = request
            if let last = self.log.prefix(position + 1).last(where: { $0.topic == topic }) {
                request.after = last.seq
            } else if position >= 0, let floor = self.floor[topic] {
                request.after = floor
            }
            return request
        }
    }
}
