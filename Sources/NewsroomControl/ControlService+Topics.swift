import NewsroomAuth
import NewsroomCore

extension ControlService {
    /// A topic's state, for `GET /v1/topics/{topic}`, gRPC `GetTopic` and the like.
    ///
    /// With a broker, a topic shared by another node but not held here yet is mirrored first (as for a
    /// first viewer), so every node answers for every topic.
    /// - Throws: `invalid_topic`, `forbidden`, `not_found`, `broker_unavailable`.
    public func topic(_ name: String, as principal: Principal) async throws(ControlError) -> Topic.Snapshot {
        try Self.validateTopic(name)
        try self.authorize(.readTopic(name), for: principal)
        if let snapshot = self.hub.snapshot(ofTopic: name) { return snapshot }
        do throws(HubError) {
            if let shared = try await self.broker?.sharedSnapshot(ofTopic: name) { return shared }
        } catch {
            throw ControlError(error)
        }
        throw ControlError.notFound("no topic named '\(name)'")
    }

    /// Every topic this node holds, sorted by name (the management view).
    /// - Throws: `forbidden` without `admin`.
    public func topics(as principal: Principal) throws(ControlError) -> [Topic.Snapshot] {
        try self.authorize(.listTopics, for: principal)
        return self.hub.snapshots()
    }

    /// What ending a topic did.
    public struct TopicCancellation: Sendable {
        /// The topic's state afterwards.
        public var topic: Topic.Snapshot
        /// The generation that was writing to it and was cancelled, when it ran on this node.
        public var generation: GenerationInfo?
    }

    /// Ends a topic: its generation, if one runs, is cancelled (the upstream request is aborted, on
    /// whichever node runs it), and the topic ends with `stream_complete` (`finish_reason: cancelled`).
    /// Idempotent: cancelling an ended topic answers its state.
    /// - Throws: `invalid_topic`, `forbidden`, `not_found` (no such topic on any node),
    ///   `broker_unavailable`.
    public func cancelTopic(_ name: String, as principal: Principal) async throws(ControlError) -> TopicCancellation {
        try Self.validateTopic(name)
        try self.authorize(.cancelTopic(name), for: principal)
        // A generation running here is cancelled through its runner, so the upstream request is aborted.
        let generation = await self.generations?.cancel(topic: name)
        let snapshot: Topic.Snapshot?
        do throws(HubError) {
            // With a broker, the node running the topic's generation is asked to cancel it (or, with
            // none, the topic is ended for every node).
            if let broker = self.broker {
                snapshot = try await broker.cancelTopic(name)
            } else {
                snapshot = try self.hub.cancelTopic(named: name)
            }
        } catch {
            throw ControlError(error)
        }
        guard let snapshot else { throw ControlError.notFound("no topic named '\(name)'") }
        return TopicCancellation(topic: snapshot, generation: generation)
    }
}
