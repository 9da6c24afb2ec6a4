import GRPCCore
import Logging
import NIOCore
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomProto

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
        let message = request.message
        var subscription = SubscriptionRequest(topic: message.topic)
        do throws(ControlError) {
            try ControlService.validateTopic(message.topic)
            switch message.policy {
            case .unspecified: break
            case .coalesce: subscription.policy = .coalesce
            case .dropOldest: subscription.policy = .dropOldest
            case .disconnect: subscription.policy = .disconnect
            case .UNRECOGNIZED(let value):
                throw ControlError.invalidArgument(
                    "unknown policy \(value); use COALESCE, DROP_OLDEST or DISCONNECT", code: "invalid_policy")
            }
            subscription.after = try SubscriptionRequest.resumePoint(message.after)
        } catch {
            throw RPCError(error)
        }
        if self.isShuttingDown {
            throw RPCError(ControlError(HubError(code: .shuttingDown, message: "the hub is shutting down")))
        }
        let principal = try await self.caller(request.metadata)
        // The subscription is made inside the producer, which runs only once the response headers are
        // written: a call that fails before that never leaves a subscriber behind. It lives on the
        // call's connection's loop, and the pump runs there too.
        let loop = self.connectionLoops?.loop(forPeer: context.remotePeer) ?? self.eventLoopGroup.next()
        let request = subscription
        return StreamingServerResponse { writer in
            try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: loop)) {
                try await self.stream(request, as: principal, on: loop, to: writer)
            }
            return [:]
        }
    }

    private func stream(
        _ request: SubscriptionRequest, as principal: Principal, on loop: any EventLoop, to writer: RPCWriter<EventFrame>
    ) async throws {
        var logger = self.logger
        logger[metadataKey: "newsroom.rpc"] = "Subscribe"
        logger[metadataKey: "newsroom.topic"] = "\(request.topic)"

        let sink = GRPCSubscriptionSink(eventLoop: loop, maxBufferedBytes: self.subscriberBufferBytes)
        do {
            // The access check, the broker's mirror and the attach, as for every transport.
            sink.subscriber = try await self.control.subscribe(request, as: principal, format: self.format, sink: sink).get()
        } catch let error as ControlError {
            if error.kind == .ended {
                // The client has the whole ended topic (SSE answers 204): end at once, successfully.
                return
            }
            logger.debug("subscription refused", metadata: ["newsroom.code": "\(error.code)"])
            throw RPCError(error)
        }
        logger.debug("subscribed", metadata: ["newsroom.after": "\(request.after ?? 0)"])

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
