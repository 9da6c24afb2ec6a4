import NewsroomCore
import Synchronization

/// A single-node stand-in: "sequences" into the hub it is given, records what it was asked, and can
/// be made unreachable.
public final class FakeBroker: Broker {
    public init() {}
    public struct State {
        public var hub: Hub?
        public var mirrored: Set<String> = []
        public var calls: [String] = []
        public var unavailable = false
    }
    public let state = Mutex(State())
    public var nodeID: String { "node-a" }
    public var calls: [String] { self.state.withLock { $0.calls } }

    public func attach(_ hub: Hub) { self.state.withLock { $0.hub = hub } }
    public func makeUnavailable() { self.state.withLock { $0.unavailable = true } }

    private func record(_ call: String) throws(HubError) -> Hub {
        let (hub, unavailable) = self.state.withLock { state in
            state.calls.append(call)
            return (state.hub!, state.unavailable)
        }
        if unavailable { throw HubError(code: .brokerUnavailable, message: "the broker is unreachable") }
        return hub
    }

    public func publish(_ payloads: [EventPayload], to topic: String, owner: String?) async throws(HubError)
        -> Topic.PublishReceipt
    {
        try self.record("publish \(topic)").publish(payloads, to: topic)
    }
    public func isMirrored(_ topic: String) -> Bool { self.state.withLock { $0.mirrored.contains(topic) } }
    public func prepareSubscription(to topic: String) async throws(HubError) {
        _ = try self.record("mirror \(topic)")
        self.state.withLock { _ = $0.mirrored.insert(topic) }
    }
    public func cancelTopic(_ topic: String) async throws(HubError) -> Topic.Snapshot? {
        try self.record("cancel \(topic)").cancelTopic(named: topic)
    }
    public func acquireLease(of topic: String) async throws(HubError) -> Bool { true }
    public func releaseLease(of topic: String) async {}
    public func onCancelRequest(_ handler: @escaping @Sendable (String) async -> Void) {}
}
