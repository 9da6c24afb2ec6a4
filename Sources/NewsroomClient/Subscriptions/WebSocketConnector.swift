import NIOCore
import NIOSSL
import NewsroomCore
import NewsroomWire

/// One WebSocket connection of a ``Subscription``: an upgrade of `GET /v1/topics/{topic}/ws?after=N`
/// (RFC 6455), each text message one event (the same JSON as SSE's `data:`); pings are answered by
/// ``WebSocketClientHandler``.
///
/// Close 1000 means the topic ended (or the resume point already was its end). Closes 1001 (shutdown,
/// missed pongs), 1011, 1013 (a hub limit), 4008 (slow consumer) and a dropped connection are worth a
/// retry (RFC 6455 section 7.2.3 asks clients to back off). 1008 (a bad topic or policy), 4001
/// (unauthenticated), 4003 (forbidden), 1002, 1003, 1007 and 1009 (protocol errors) are refusals, as is
/// an upgrade answered with a 4xx status.
struct WebSocketConnector: SubscriptionConnector {
    let address: HubAddress
    let topic: String
    let options: SubscriptionOptions
    let group: any EventLoopGroup
    let tls: NIOSSLContext?

    /// - Throws: When TLS is on and its trust roots cannot be loaded.
    init(address: HubAddress, topic: String, options: SubscriptionOptions, group: any EventLoopGroup) throws {
        self.address = address
        self.topic = topic
        self.options = options
        self.group = group
        self.tls = try ClientTLS.http1Context(for: address, options.tls)
    }

    var url: String { self.address.webSocketURL(self.apiPath(after: nil)) }

    /// The request's path under the hub's base path.
    private func apiPath(after: Int?) -> String {
        var query: [String] = []
        if let after { query.append("after=\(after)") }
        if let policy = self.options.policy { query.append("policy=\(policy)") }
        return "/v1/topics/\(self.topic)/ws" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    func connect(after: Int?, deliver: @escaping @Sendable (Event) -> ConnectionDirective) async -> ConnectionOutcome {
        guard TopicName.isValid(self.topic) else {
            return .refused(
                SubscriptionError(status: 400, code: "invalid_topic", message: "invalid topic name '\(self.topic)'"))
        }
        let promise = self.group.any().makePromise(of: ConnectionOutcome.self)
        /// Ends the connection attempt before the upgrade (a promise must not be left uncompleted).
        func settle(_ outcome: ConnectionOutcome) -> ConnectionOutcome {
            promise.succeed(outcome)
            return outcome
        }
        let closer = ChannelCloser()
        let upgrade: WebSocketClient.Upgrade
        do {
            upgrade = try await WebSocketClient.connect(
                host: self.address.host, port: self.address.port,
                path: self.address.basePath + self.apiPath(after: after),
                headers: self.options.headers, group: self.group, tls: self.tls,
                serverHostname: self.address.serverHostname
            ) { update in
                switch update {
                case .message(let text):
                    guard let event = try? EventDecoder.decodeBroadcast(Array(text.utf8)) else { return }
                    if deliver(event) == .close {
                        promise.succeed(.closed)
                        closer.close()
                    }
                case .end(let closeCode, let reason, let error):
                    promise.succeed(Self.outcome(closeCode: closeCode, reason: reason, error: error))
                }
            }
        } catch {
            return settle(
                ConnectionFailure.isPermanent(error)
                    ? .refused(HubConnectionError(url: self.url, underlying: error)) : .dropped(error))
        }
        let channel: any Channel
        switch upgrade {
        case .upgraded(let upgraded):
            channel = upgraded
        case .refused(let status?, let body):
            let refusal = SubscriptionError(status: status, body: body)
            return settle(SubscriptionError.isPermanent(status: status) ? .refused(refusal) : .dropped(refusal))
        case .refused(nil, _):
            return settle(.dropped(WebSocketSubscriptionError(closeCode: nil)))
        }
        // Events are read on the channel's event loop; the handler was added there before this runs.
        channel.eventLoop.execute { closer.set(channel) }
        // The hub may send the 101, the replay, its close frame and FIN in one read: the connection can
        // close before the frame handler saw it go. Settle on the close too (a promise completes once;
        // whichever comes first wins, and the state machine skips anything read after its decision).
        channel.closeFuture.whenComplete { _ in promise.succeed(.dropped(WebSocketSubscriptionError(closeCode: nil))) }
        return await withTaskCancellationHandler {
            (try? await promise.futureResult.get()) ?? .closed
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// How a connection that ended with `closeCode` went.
    static func outcome(closeCode: Int?, reason: String, error: (any Error)?) -> ConnectionOutcome {
        // The hub's reason is an error code (`token_expired`, `invalid_policy`) or a sentence.
        let reasonIsCode = !reason.isEmpty && reason.allSatisfy { $0.isLetter || $0 == "_" }
        func refusal(_ status: Int, _ code: String) -> ConnectionOutcome {
            let message =
                reasonIsCode || reason.isEmpty ? "the hub closed the WebSocket with \(closeCode ?? 0)" : reason
            return .refused(SubscriptionError(status: status, code: reasonIsCode ? reason : code, message: message))
        }
        switch closeCode {
        case 1000: return .ended
        case 4001: return refusal(401, "unauthorized")
        case 4003: return refusal(403, "forbidden")
        case 1008: return refusal(400, "policy_violation")
        case 1002, 1003, 1007, 1009: return refusal(400, "protocol_error")
        default: return .dropped(error ?? WebSocketSubscriptionError(closeCode: closeCode, reason: reason))
        }
    }
}
