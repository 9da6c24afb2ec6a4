import GRPCCore
import Logging
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomProto
import NewsroomWire
import SwiftProtobuf

extension NewsroomService {
    /// Trailing-metadata key of a failed `Publish`: the last seq the call did publish before the error.
    public static let lastSeqKey = "newsroom-last-seq"

    /// `Publish`: a client stream of events into one topic.
    ///
    /// Each event is validated (``ProtobufEventDecoder``) and published as it arrives, so viewers see
    /// a live producer's tokens at once; the stream is not a transaction. The first bad message ends
    /// the call — `INVALID_ARGUMENT` (bad topic, bad event, a second topic), `FAILED_PRECONDITION` (the
    /// topic has ended) — naming its position, with ``lastSeqKey`` in the trailers when events before
    /// it were published. One call publishes to one topic: the first message names it, later ones
    /// repeat it or leave it empty.
    func publish(
        request: StreamingServerRequest<Newsroom_V1_PublishRequest>, context: ServerContext
    ) async throws -> ServerResponse<Newsroom_V1_PublishSummary> {
        var topic: String?
        var firstSeq = 0
        var lastSeq = 0
        var count = 0
        var position = 0

        func failure(_ error: RPCError) -> RPCError {
            var error = error
            error.message = "message \(position): \(error.message)"
            if count > 0 { error.metadata.addString(String(lastSeq), forKey: Self.lastSeqKey) }
            return error
        }

        var principal: Principal?
        for try await message in request.messages {
            position += 1
            if let current = topic {
                guard message.topic.isEmpty || message.topic == current else {
                    throw failure(
                        RPCError(
                            code: .invalidArgument, newsroomCode: "invalid_topic",
                            message:
                                "a Publish call publishes to one topic ('\(current)'); open another call for another"))
                }
            } else {
                do throws(ControlError) {
                    try ControlService.validateTopic(message.topic)
                } catch {
                    throw failure(RPCError(error))
                }
                principal = try await self.caller(request.metadata)
                topic = message.topic
            }
            guard message.unknownFields.data.isEmpty else {
                throw failure(
                    RPCError(
                        code: .invalidArgument, newsroomCode: "invalid_event",
                        message: "unknown fields in the request (is the client's .proto newer than the hub's?)"))
            }
            guard message.hasEvent else {
                throw failure(
                    RPCError(code: .invalidArgument, newsroomCode: "invalid_event", message: "missing 'event'"))
            }
            let payload: EventPayload
            do {
                payload = try ProtobufEventDecoder.decodePublished(message.event)
            } catch {
                throw failure(RPCError(code: .invalidArgument, newsroomCode: "invalid_event", message: error.message))
            }
            do throws(ControlError) {
                // Access, the publish rate limit and the broker-or-hub choice, as for every transport.
                let receipt = try await self.control.publish(
                    [payload], to: topic!, as: principal!, from: Self.clientAddress(context.remotePeer))
                if count == 0 { firstSeq = receipt.firstSeq }
                lastSeq = receipt.lastSeq
                count += 1
            } catch {
                throw failure(RPCError(error))
            }
        }
        guard let topic, count > 0 else {
            throw RPCError(code: .invalidArgument, newsroomCode: "invalid_event", message: "the call sent no events")
        }
        self.logger.debug(
            "published",
            metadata: ["newsroom.rpc": "Publish", "newsroom.topic": "\(topic)", "newsroom.events": "\(count)"])
        var summary = Newsroom_V1_PublishSummary()
        summary.topic = topic
        summary.firstSeq = UInt64(firstSeq)
        summary.lastSeq = UInt64(lastSeq)
        summary.count = UInt64(count)
        return ServerResponse(message: summary)
    }

    /// The client's address without the port, from grpc-swift's peer string (`ipv4:127.0.0.1:5123`,
    /// `ipv6:[::1]:5123`): the publish rate-limit key when auth is off, as the HTTP API uses it.
    static func clientAddress(_ peer: String) -> String {
        var address = Substring(peer)
        if let colon = address.firstIndex(of: ":") { address = address[address.index(after: colon)...] }
        if let port = address.lastIndex(of: ":") { address = address[..<port] }
        return String(address.trimmingPrefix("[").prefix { $0 != "]" })
    }
}
