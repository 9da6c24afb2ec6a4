import NIOCore
import NewsroomAuth
import NewsroomCore

extension ControlService {
    /// Publishes a batch of events to a topic, for every transport's publish request.
    ///
    /// Checks the topic name and the caller's `publish` right, applies the publish rate limit (per token
    /// subject with auth on, per client address without), then has the batch sequenced: by the broker
    /// when there is one (every node's viewers receive it through their mirrors), else by the local
    /// hub. All or nothing.
    /// - Parameters:
    ///   - payloads: The events, in order.
    ///   - topic: The topic.
    ///   - principal: Who publishes.
    ///   - client: The client's address, the rate-limit key when auth is off.
    ///   - flushInterval: Sets the topic's flush window (its subscribers' write delay, unless they ask
    ///     for their own); `nil` leaves it as it is.
    /// - Returns: The seqs given to the batch.
    /// - Throws: ``ControlError`` — `invalid_topic`, `invalid_event`, `forbidden`, `rate_limited` (with
    ///   ``ControlError/retryAfterSeconds``), `topic_ended`, `topic_limit_reached`, `broker_unavailable`,
    ///   `overloaded` (the fan-out backlog did not drain within
    ///   ``Configuration/publishWaitTimeout``; with a `Retry-After`).
    ///
    /// When the hub's loops have more deliveries queued than they may hold, the publish waits for them
    /// to drain first: publishers are slowed to the rate the hub can write, rather than the hub
    /// queueing without bound (see ``NewsroomCore/Hub/waitForFanOutCapacity(timeout:)``).
    public func publish(
        _ payloads: [EventPayload], to topic: String, as principal: Principal, from client: String,
        flushInterval: TimeAmount? = nil
    ) async throws(ControlError) -> Topic.PublishReceipt {
        try self.admitPublish(payloads, to: topic, as: principal, from: client, flushInterval: flushInterval)
        do throws(HubError) {
            try await self.hub.waitForFanOutCapacity(timeout: self.configuration.publishWaitTimeout)
            if let flushInterval { try self.hub.setFlushInterval(flushInterval, ofTopic: topic) }
            if let broker = self.broker {
                return try await broker.publish(payloads, to: topic, owner: nil)
            }
            return try self.hub.publish(payloads, to: topic)
        } catch {
            throw ControlError(error)
        }
    }

    /// ``publish(_:to:as:from:flushInterval:)`` without suspending, when nothing needs waiting for: no
    /// broker sequences the batch and the fan-out is within its bound. A transport on an event loop
    /// then answers at once instead of through a task (the task, its executor hop and the hop back were
    /// about a tenth of an HTTP publish's CPU: 53–54.5 → 46.5–50 µs in docs/benchmarks.md's runs).
    /// - Returns: The seqs given to the batch; `nil` when the publish would have to wait — nothing was
    ///   checked or counted then: call ``publish(_:to:as:from:flushInterval:)``.
    /// - Throws: ``ControlError``, as ``publish(_:to:as:from:flushInterval:)``.
    public func publishAtOnce(
        _ payloads: [EventPayload], to topic: String, as principal: Principal, from client: String,
        flushInterval: TimeAmount? = nil
    ) throws(ControlError) -> Topic.PublishReceipt? {
        guard self.broker == nil, !self.hub.isFanOutOverloaded else { return nil }
        try self.admitPublish(payloads, to: topic, as: principal, from: client, flushInterval: flushInterval)
        do throws(HubError) {
            if let flushInterval { try self.hub.setFlushInterval(flushInterval, ofTopic: topic) }
            return try self.hub.publish(payloads, to: topic)
        } catch {
            throw ControlError(error)
        }
    }

    /// The checks every publish passes before it is sequenced: topic name, right, a non-empty batch, the
    /// publish rate limit (which counts the batch) and the flush window's bound.
    private func admitPublish(
        _ payloads: [EventPayload], to topic: String, as principal: Principal, from client: String,
        flushInterval: TimeAmount?
    ) throws(ControlError) {
        try Self.validateTopic(topic)
        try self.authorize(.publish(topic), for: principal)
        guard !payloads.isEmpty else { throw ControlError.invalidArgument("the batch holds no events", code: "invalid_event") }
        let key = self.requiresCredentials ? principal.subject : client
        if let wait = self.publishRate.take(payloads.count, key: key) {
            self.metrics.limitRejected("publish_rate")
            throw ControlError(
                .rateLimited, code: "rate_limited", message: "publish rate limit reached",
                retryAfterSeconds: max(1, Int((wait.nanoseconds + 999_999_999) / 1_000_000_000)))
        }
        if let flushInterval, flushInterval > self.hub.configuration.maxFlushInterval {
            throw ControlError.invalidArgument(
                "'flush_interval' may be at most \(self.hub.configuration.maxFlushInterval.nanoseconds / 1_000_000) ms",
                code: "invalid_flush_interval")
        }
    }
}

extension ControlService {
    /// Publishes a provider's own stream that an app tees into a topic (`POST
    /// /v1/topics/{topic}/events?format=…`): the body is decoded with the generations' adapters and the
    /// events published as ``publish(_:to:as:from:flushInterval:)`` does (same rights, rate limit,
    /// broker). A stream may arrive in several posts (`final: false` until the last).
    /// - Returns: The seqs given, or `nil` when this post completed no event.
    /// - Throws: ``ControlError`` — as `publish`, plus `bad_request` (unknown format) and
    ///   `generations_disabled`.
    public func publishProviderStream(
        _ body: ByteBuffer, format: String, chunkLines: Bool, final: Bool, to topic: String, as principal: Principal,
        from client: String
    ) async throws(ControlError) -> Topic.PublishReceipt? {
        try Self.validateTopic(topic)
        try self.authorize(.publish(topic), for: principal)
        guard let generations = self.generations else { throw ControlError.generationsDisabled }
        let payloads: [EventPayload]
        do throws(GenerationError) {
            payloads = try generations.decodeProviderStream(
                topic: topic, format: format, body: body, chunkLines: chunkLines, final: final)
        } catch {
            throw ControlError(error)
        }
        guard !payloads.isEmpty else { return nil }
        return try await self.publish(payloads, to: topic, as: principal, from: client)
    }
}
