import NIOCore
import NIOHTTP1
import NIOSSL
import NewsroomCore
import NewsroomWire

/// One Server-Sent Events connection of a ``Subscription``: `GET /v1/topics/{topic}/events` with
/// `Last-Event-ID` set to the resume point (WHATWG HTML, "Server-sent events", section 9.2.4), each
/// event's `data:` decoded as the hub's JSON event.
///
/// `204 No Content` means the resume point is already the topic's end. A 4xx answer is a refusal (its
/// `{"error":{"code","message"}}` becomes a ``SubscriptionError``); a 5xx one (a hub limit's 503, a
/// proxy's 502) and a response that ends before the topic's end are worth a retry.
struct SSEConnector: SubscriptionConnector {
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

    /// The request's path under the hub's base path.
    private var apiPath: String {
        "/v1/topics/\(self.topic)/events" + (self.options.policy.map { "?policy=\($0)" } ?? "")
    }

    var url: String { self.address.httpURL(self.apiPath) }

    func connect(after: Int?, deliver: @escaping @Sendable (Event) -> ConnectionDirective) async -> ConnectionOutcome {
        guard TopicName.isValid(self.topic) else {
            return .refused(
                SubscriptionError(status: 400, code: "invalid_topic", message: "invalid topic name '\(self.topic)'"))
        }
        let promise = self.group.any().makePromise(of: ConnectionOutcome.self)
        let status = StatusBox()
        let closer = ChannelCloser()
        let channelFuture = SSEClient.connect(
            host: self.address.host, port: self.address.port, path: self.address.basePath + self.apiPath,
            lastEventID: after.map(String.init),
            headers: self.options.headers, group: self.group, tls: self.tls, serverHostname: self.address.serverHostname
        ) { update in
            switch update {
            case .head(let head):
                status.value = Int(head.status.code)
            case .event(let sse):
                guard let event = try? EventDecoder.decodeBroadcast(Array(sse.data.utf8)) else { return }
                if deliver(event) == .close {
                    promise.succeed(.closed)
                    closer.close()
                }
            case .end(let error):
                promise.succeed(Self.outcome(status: status.value, error: error, url: self.url))
            }
        }
        channelFuture.whenComplete { result in
            switch result {
            case .success(let channel): closer.set(channel)
            case .failure(let error): promise.succeed(Self.outcome(status: nil, error: error, url: self.url))
            }
        }
        return await withTaskCancellationHandler {
            (try? await promise.futureResult.get()) ?? .closed
        } onCancel: {
            channelFuture.whenSuccess { $0.close(promise: nil) }
        }
    }

    /// How a connection that ended with `status` (if a head arrived) and `error` (`nil`: the response
    /// ended) went.
    static func outcome(status: Int?, error: (any Error)?, url: String) -> ConnectionOutcome {
        if case .errorResponse(let status, let body)? = error as? SSEClientError {
            let refusal = SubscriptionError(status: status, body: body)
            return SubscriptionError.isPermanent(status: status) ? .refused(refusal) : .dropped(refusal)
        }
        if status == 204 { return .ended }
        if let error, ConnectionFailure.isPermanent(error) {
            return .refused(HubConnectionError(url: url, underlying: error))
        }
        return .dropped(error ?? SSEClientError.connectionClosed)
    }
}

/// The status of the response, set and read on the connection's event loop.
private final class StatusBox: @unchecked Sendable {
    var value: Int?
}
