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
    /// - Returns: The seqs given to the batch.
    /// - Throws: ``ControlError`` — `invalid_topic`, `invalid_event`, `forbidden`, `rate_limited` (with
    ///   ``ControlError/retryAfterSeconds``), `topic_ended`, `topic_limit_reached`, `broker_unavailable`.
    public func publish(
        _ payloads: [EventPayload], to topic: String, as principal: Principal, from client: String
    ) async throws(ControlError) -> Topic.PublishReceipt {
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
        do throws(HubError) {
            if let broker = self.broker {
                return try await broker.publish(payloads, to: topic, owner: nil)
            }
            return try self.hub.publish(payloads, to: topic)
        } catch {
            throw ControlError(error)
        }
    }
}
