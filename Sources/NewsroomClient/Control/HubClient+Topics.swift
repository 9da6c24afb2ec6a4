import NIOCore
import NIOHTTP1
import NIOPosix
import NewsroomCore

extension HubClient {
    /// Every topic of the hub.
    /// - Throws: ``HubClientError`` when the hub answers with an error status.
    public func topics() async throws -> [TopicInfo] {
        let response = try await self.request(.GET, "/v1/topics")
        guard response.status == 200, let list = response.json?["topics"]?.arrayValue else {
            throw HubClientError(status: response.status, body: String(buffer: response.body))
        }
        return list.compactMap(TopicInfo.init)
    }

    /// One topic, or `nil` if the hub does not know it.
    /// - Throws: ``HubClientError`` for an invalid name or another error status.
    public func topic(_ name: String) async throws -> TopicInfo? {
        let response = try await self.request(.GET, "/v1/topics/\(try Self.checked(name))")
        if response.status == 404 { return nil }
        guard response.status == 200, let json = response.json, let info = TopicInfo(json) else {
            throw HubClientError(status: response.status, body: String(buffer: response.body))
        }
        return info
    }

    /// Ends a topic for everyone: subscribers receive `stream_complete` with `finish_reason: cancelled`,
    /// and the topic's running generation, if any, is cancelled. Idempotent.
    /// - Throws: ``HubClientError`` when the hub answers with an error status.
    public func cancel(topic: String) async throws {
        let response = try await self.request(.DELETE, "/v1/topics/\(try Self.checked(topic))")
        guard (200..<300).contains(response.status) else {
            throw HubClientError(status: response.status, body: String(buffer: response.body))
        }
    }

    /// Publishes one event to a topic; returns the `seq` the hub assigned.
    public func publish(_ payload: EventPayload, to topic: String) async throws -> Int {
        try await self.publish([payload], to: topic).lowerBound
    }

    /// Follows a topic: the hub's events as an `AsyncSequence` that reconnects and resumes by itself.
    /// - Parameters:
    ///   - topic: The topic.
    ///   - transport: ``Subscription/Transport/sse``, ``Subscription/Transport/webSocket`` or
    ///     ``Subscription/Transport/grpc(port:)`` (on the base URL's host).
    ///   - options: Resume point, policy, reconnection; this client's headers are added, and for an
    ///     `https://` base URL its ``tls`` is used unless `options` sets one.
    /// - Throws: ``HubClientError`` when the base URL is not `http://` or `https://`.
    public func subscribe(
        to topic: String, transport: Subscription.Transport = .sse, options: SubscriptionOptions = .init()
    ) throws -> Subscription {
        guard let address = HubAddress(url: self.baseURL) else {
            throw HubClientError(
                status: 0, body: "subscriptions need a base URL of the form http://HOST:PORT or https://HOST:PORT")
        }
        var options = options
        options.headers = self.headers + options.headers
        options.tls = address.secure ? options.tls ?? self.tls ?? .systemTrustStore : nil
        return Subscription(
            address: address, topic: topic, transport: transport, options: options,
            group: MultiThreadedEventLoopGroup.singleton)
    }

    static func checked(_ topic: String) throws -> String {
        guard TopicName.isValid(topic) else {
            throw HubClientError(status: 400, body: "invalid topic name '\(topic)'")
        }
        return topic
    }
}
