import Logging
import NIOCore
import NewsroomAuth
import NewsroomCore

extension ControlService {
    /// Starts a generation, for `POST /v1/generations`, the WebSocket `generate` command, gRPC
    /// `StartGeneration` and the like. Returns once it is accepted, not when it ends.
    ///
    /// Needs `generate`, and `publish` on the topic when the request names one. With auth on, the
    /// caller's subject becomes the generation's owner (the per-owner limit).
    /// - Throws: `forbidden`, `invalid_topic`, `bad_request`, `unknown_provider`, `topic_busy`,
    ///   `too_many_generations` (``ControlError/Kind/rateLimited``), `shutting_down`, `unsupported`.
    public func startGeneration(
        _ request: GenerationRequest, as principal: Principal
    ) async throws(ControlError) -> GenerationInfo {
        if let topic = request.topic { try Self.validateTopic(topic) }
        try self.authorize(.startGeneration(into: request.topic), for: principal)
        try self.authorizeConversation(request.conversation, for: principal)
        guard let generations = self.generations else { throw ControlError.generationsDisabled }
        var request = request
        if self.requiresCredentials { request.owner = principal.subject }
        do {
            // The generation logs its start itself (inside its span, with the caller's trace id).
            return try await generations.start(request)
        } catch {
            throw ControlError(error)
        }
    }

    /// A generation's state, for `GET /v1/generations/{id}` and gRPC `GetGeneration`.
    /// - Throws: `not_found` (unknown id, or forgotten after its topic's retention), `forbidden`
    ///   (no `subscribe` on its topic), `unsupported`.
    public func generation(_ id: String, as principal: Principal) async throws(ControlError) -> GenerationInfo {
        guard let generations = self.generations else { throw ControlError.generationsDisabled }
        guard let info = await generations.info(generation: id) else { throw Self.unknownGeneration(id) }
        try self.authorize(.readGeneration(on: info.topic), for: principal)
        return info
    }

    /// Cancels a generation by id, on whichever node runs it: the upstream request is aborted and its
    /// topic ends with `stream_complete` (`finish_reason: cancelled`).
    /// - Throws: `not_found`, `forbidden` (no `cancel` on its topic), `unsupported`.
    public func cancelGeneration(_ id: String, as principal: Principal) async throws(ControlError) -> GenerationInfo {
        guard let generations = self.generations else { throw ControlError.generationsDisabled }
        // The right to cancel is per topic: look the generation's topic up first.
        guard let current = await generations.info(generation: id) else { throw Self.unknownGeneration(id) }
        try self.authorize(.cancelGeneration(on: current.topic), for: principal)
        guard let info = await generations.cancel(generation: id) else { throw Self.unknownGeneration(id) }
        return info
    }

    static func unknownGeneration(_ id: String) -> ControlError {
        ControlError.notFound("no generation '\(id.prefix(128))'")
    }

    /// The idle timeout of a generation request given in seconds (`cancel_when_idle_s`).
    /// - Throws: `bad_request` unless it is positive and at most a day.
    public static func cancelWhenIdle(seconds: Double) throws(ControlError) -> TimeAmount {
        guard seconds > 0, seconds <= 86_400 else {
            throw ControlError.invalidArgument("'cancel_when_idle_s' must be a positive number of seconds, at most 86400")
        }
        return .nanoseconds(Int64(seconds * 1e9))
    }
}
