import GRPCCore
import Logging
import NIOCore
import NewsroomCore

extension NewsroomService {
    /// `Subscribe`: the history after `after`, then the live events, as the hub's shared frames.
    ///
    /// The subscription lives on the event loop of the call's connection (``GRPCSubscriptionSink``), and
    /// the call's task runs there too and writes one batch per hub delivery. Ends with OK after the topic's end (or at once,
    /// with no message, when `after` is its final seq), `RESOURCE_EXHAUSTED` for a slow consumer,
    /// `UNAVAILABLE` at shutdown; a cancelled call (client gone, deadline) removes the subscriber at once.
    func subscribe(
        request: ServerRequest<Newsroom_V1_SubscribeRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<EventFrame> {
        let topic = request.message.topic
        guard TopicName.isValid(topic) else {
            throw RPCError(HubError.invalidTopicName(topic))
        }
        let policy: SlowConsumerPolicy?
        switch request.message.policy {
        case .unspecified: policy = nil
        case .coalesce: policy = .coalesce
        case .dropOldest: policy = .dropOldest
        case .disconnect: policy = .disconnect
        case .UNRECOGNIZED(let value):
            throw RPCError(
                code: .invalidArgument, newsroomCode: "invalid_policy",
                message: "unknown policy \(value); use COALESCE, DROP_OLDEST or DISCONNECT")
        }
        guard request.message.after <= UInt64(Int.max) else {
            throw RPCError(code: .invalidArgument, newsroomCode: "invalid_resume", message: "'after' is too large")
        }
        let after = Int(request.message.after)
        if self.isShuttingDown {
            throw RPCError(HubError(code: .shuttingDown, message: "the hub is shutting down"))
        }
        let grant = try await self.authorize(.subscribe, topic: topic, method: "Subscribe", metadata: request.metadata)
        // The subscription is made inside the producer, which runs only once the response headers are
        // written: a call that fails before that never leaves a subscriber behind. It lives on the
        // call's connection's loop, and the pump runs there too.
        let loop = self.connectionLoops?.loop(forPeer: context.remotePeer) ?? self.eventLoopGroup.next()
        return StreamingServerResponse { writer in
            try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: loop)) {
                try await self.stream(
                    topic: topic, after: after, policy: policy, until: grant.expiresAt, on: loop, to: writer)
            }
            return [:]
        }
    }

    private func stream(
        topic: String, after: Int, policy: SlowConsumerPolicy?, until expiry: Timestamp?, on loop: any EventLoop,
        to writer: RPCWriter<EventFrame>
    ) async throws {
        var logger = self.logger
        logger[metadataKey: "newsroom.rpc"] = "Subscribe"
        logger[metadataKey: "newsroom.topic"] = "\(topic)"

        if let broker = self.broker, !broker.isMirrored(topic) {
            // The first viewer of this topic on this node: mirror the shared topic (live events and
            // history) before attaching, as the HTTP API does.
            do {
                try await broker.prepareSubscription(to: topic)
            } catch {
                logger.debug("subscription refused", metadata: ["newsroom.code": "\(error.code)"])
                throw RPCError(error)
            }
        }
        let sink = GRPCSubscriptionSink(eventLoop: loop, maxBufferedBytes: self.subscriberBufferBytes)
        let hub = self.hub
        let format = self.format
        do {
            try await loop.submit {
                sink.subscriber = try hub.subscribe(to: topic, after: after, policy: policy, format: format, sink: sink)
            }.get()
        } catch let error as HubError {
            if error.code == .nothingAfterEnd {
                // The client has the whole ended topic (SSE answers 204): end at once, successfully.
                return
            }
            logger.debug("subscription refused", metadata: ["newsroom.code": "\(error.code)"])
            throw RPCError(error)
        }
        logger.debug("subscribed", metadata: ["newsroom.after": "\(after)"])
        // Credentials that expire end the subscription then, as on the other transports.
        let expiryTask = expiry.map { expiry in
            let delay = max(0, expiry.millisecondsSince1970 - Timestamp.now().millisecondsSince1970)
            return loop.scheduleTask(in: .milliseconds(delay)) { sink.end(reason: .tokenExpired) }
        }
        defer { expiryTask?.cancel() }

        let outcome: Result<DisconnectReason?, any Error> = await withRPCCancellationHandler {
            do {
                return .success(try await Self.pump(sink, to: writer))
            } catch {
                return .failure(error)
            }
        } onCancelRPC: {
            // The client reset the stream, the deadline passed, or the server is shutting down.
            loop.execute { sink.cancel() }
        }
        // However the call ends, the subscriber is gone from the hub once this runs (idempotent).
        loop.execute { sink.cancel() }

        switch outcome {
        case .success(let reason?) where reason.isNormal:
            logger.debug("subscription ended", metadata: ["newsroom.reason": "\(reason)"])
        case .success(let reason?):
            logger.debug("subscription closed by the hub", metadata: ["newsroom.reason": "\(reason)"])
            throw RPCError(reason)
        case .success(nil):
            logger.debug("subscription cancelled")
            if self.isShuttingDown {
                throw RPCError(DisconnectReason.shutdown)
            }
            throw RPCError(code: .cancelled, newsroomCode: "client_gone", message: "the call was cancelled")
        case .failure(let error):
            logger.debug("subscription write failed", metadata: ["newsroom.error": "\(type(of: error))"])
            throw error
        }
    }

    /// Writes batches until the hub closes the subscription (its reason) or the call is cancelled (`nil`).
    private static func pump(
        _ sink: GRPCSubscriptionSink, to writer: RPCWriter<EventFrame>
    ) async throws -> DisconnectReason? {
        while true {
            switch await sink.next() {
            case .frames(let frames):
                // Suspends while the HTTP/2 stream's window is closed; meanwhile the sink fills up and
                // then the hub queues for this subscriber and applies its policy.
                try await writer.write(contentsOf: frames)
            case .closed(let reason):
                return reason
            case .cancelled:
                return nil
            }
        }
    }
}
