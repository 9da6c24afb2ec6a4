import NIOCore
import NewsroomAuth
import NewsroomCore

/// What a client asks for when it subscribes, on any transport.
public struct SubscriptionRequest: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// The last seq the client has (resume point); `nil` for the whole history.
    public var after: Int?
    /// The slow-consumer policy; the hub's default when `nil`.
    public var policy: SlowConsumerPolicy?
    /// The write delay the subscriber accepts (its flush window: events arriving within it come as one
    /// write); `nil` for the topic's. Bounded by the hub's `maxFlushInterval`.
    public var maxDelay: TimeAmount?

    public init(topic: String, after: Int? = nil, policy: SlowConsumerPolicy? = nil, maxDelay: TimeAmount? = nil) {
        self.topic = topic
        self.after = after
        self.policy = policy
        self.maxDelay = maxDelay
    }

    /// Reads a resume point as clients send it (`?after=`, `Last-Event-ID`, a JSON string): a
    /// non-negative decimal integer, with surrounding spaces or tabs ignored and nothing else.
    /// - Throws: `invalid_resume`.
    public static func resumePoint(_ text: some StringProtocol) throws(ControlError) -> Int {
        // One pass over the bytes: blanks around, then 1 to 19 digits (read on every resuming subscribe).
        var value = 0
        var digits = 0
        var trailingBlanks = false
        for byte in text.utf8 {
            if Self.isBlank(byte) {
                if digits > 0 { trailingBlanks = true }
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), !trailingBlanks, digits < 19 else {
                throw Self.invalidResume
            }
            value = value &* 10 &+ Int(byte &- UInt8(ascii: "0"))
            digits += 1
        }
        guard digits > 0, value >= 0 else { throw Self.invalidResume }
        return value
    }

    /// Checks a numeric resume point (JSON number, protobuf `uint64`).
    /// - Throws: `invalid_resume` for a negative or too large value.
    public static func resumePoint(_ value: some BinaryInteger) throws(ControlError) -> Int {
        guard value >= 0, let seq = Int(exactly: value) else { throw Self.invalidResume }
        return seq
    }

    /// Reads a policy name (`coalesce`, `drop_oldest`, `disconnect`).
    /// - Throws: `invalid_policy`.
    public static func policy(named name: String) throws(ControlError) -> SlowConsumerPolicy {
        guard let policy = SlowConsumerPolicy(name: name) else {
            throw ControlError.invalidArgument(
                "'policy' must be one of \(SlowConsumerPolicy.names.joined(separator: ", "))", code: "invalid_policy")
        }
        return policy
    }

    static let invalidResume = ControlError.invalidArgument(
        "the resume point ('after', Last-Event-ID) must be a non-negative integer", code: "invalid_resume")

    private static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
}

extension ControlService {
    /// Subscribes a transport's sink to a topic, for every transport's subscribe request.
    ///
    /// Checks the topic name and the caller's `subscribe` right; with a broker, makes this node's copy
    /// of the topic a live mirror first (the first viewer here); then attaches the sink on its event
    /// loop: the history after the resume point is written (compacted), then every later event. A
    /// subscription ends when the caller's token expires (``DisconnectReason/tokenExpired``), as well as
    /// for the hub's own reasons.
    ///
    /// May be called from any thread; the returned future completes on the sink's event loop. When the
    /// topic has ended, the subscriber may already be closed (its sink told) when the future completes.
    /// - Throws (as the future's failure): ``ControlError`` — `invalid_topic`, `forbidden`, `stream_ended`
    ///   (``ControlError/Kind/ended``: the resume point is the topic's last event),
    ///   `subscriber_limit_reached`, `topic_limit_reached`, `broker_unavailable`, `shutting_down`.
    public func subscribe(
        _ request: SubscriptionRequest, as principal: Principal, format: WireFormat, sink: any SubscriberSink
    ) -> EventLoopFuture<Subscriber> {
        let loop = sink.eventLoop
        // The sink is confined to `loop`; every closure below that touches it runs there.
        let sink = LoopConfined(sink)
        do throws(ControlError) {
            try Self.validateTopic(request.topic)
            try self.authorize(.subscribe(request.topic), for: principal)
        } catch {
            return loop.makeFailedFuture(error)
        }
        if let broker = self.broker, !broker.isMirrored(request.topic) {
            // The first viewer of this topic on this node: mirror it (live events + history), then attach.
            let topic = request.topic
            let promise = loop.makePromise(of: Void.self)
            promise.completeWithTask {
                do throws(HubError) {
                    try await broker.prepareSubscription(to: topic)
                } catch {
                    throw ControlError(error)
                }
            }
            return promise.futureResult.flatMapThrowing {
                try self.attach(request, principal: principal, format: format, sink: sink.value)
            }
        }
        if loop.inEventLoop {
            return loop.makeCompletedFuture { try self.attach(request, principal: principal, format: format, sink: sink.value) }
        }
        return loop.submit { try self.attach(request, principal: principal, format: format, sink: sink.value) }
    }

    private func attach(
        _ request: SubscriptionRequest, principal: Principal, format: WireFormat, sink: any SubscriberSink
    ) throws(ControlError) -> Subscriber {
        do {
            return try self.hub.subscribe(
                to: request.topic, after: request.after, policy: request.policy, format: format, sink: sink,
                maxDelay: request.maxDelay, until: principal.expiresAt.map(Self.deadline(of:)))
        } catch {
            throw ControlError(error)
        }
    }

    /// Checks that a connection holding `held` subscriptions may take one more (multiplexed sockets).
    /// - Throws: `subscription_limit` (``ControlError/Kind/limitReached``).
    public func admitSubscription(alreadyHeld held: Int) throws(ControlError) {
        guard held < self.configuration.maxSubscriptionsPerConnection else {
            self.metrics.limitRejected("subscriptions_per_connection")
            throw ControlError(
                .limitReached, code: "subscription_limit",
                message: "at most \(self.configuration.maxSubscriptionsPerConnection) subscriptions per connection")
        }
    }

    /// The monotonic deadline of a wall-clock time.
    static func deadline(of time: Timestamp) -> NIODeadline {
        .now() + .milliseconds(time.millisecondsSince1970 - Timestamp.now().millisecondsSince1970)
    }
}

/// A sink carried to its own event loop.
///
/// - Note: `@unchecked Sendable` because the value is only used on the sink's ``SubscriberSink/eventLoop``
///   (``ControlService/subscribe(_:as:format:sink:)`` touches it only in closures that run there).
private struct LoopConfined: @unchecked Sendable {
    let value: any SubscriberSink
    init(_ value: any SubscriberSink) { self.value = value }
}
