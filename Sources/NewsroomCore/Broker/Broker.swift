/// The cross-node pub/sub and history backend: with a broker, several hub nodes share every topic.
///
/// Without one (the default), a hub sequences and stores its topics itself. With one, a publish on any
/// node is sequenced and stored by the broker (the seq numbering is global, so a resume works on any
/// node), and each node mirrors the topics its own viewers watch into its local ``Hub`` with
/// ``Hub/ingest(_:to:)``, then fans out to them from its own event loops exactly as without a broker.
///
/// Generations running on one node hold a lease on their topic; a cancel arriving on any node reaches the
/// owner, and a topic whose owner died is ended by the other nodes (`owner_lost`).
public protocol Broker: Sendable {
    /// This node's id (the lease owner).
    var nodeID: String { get }

    /// Sequences, stores and delivers a batch for every node; all or nothing.
    /// - Parameter owner: The node that must hold the topic's generation lease (a generation's own
    ///   events), or `nil` for an ordinary publisher.
    /// - Throws: ``HubError`` — ``HubError/Code/topicEnded``, ``HubError/Code/notOwner``,
    ///   ``HubError/Code/brokerUnavailable``.
    func publish(_ payloads: [EventPayload], to topic: String, owner: String?) async throws(HubError)
        -> Topic.PublishReceipt

    /// Whether the local copy of `topic` is live and caught up, so a subscription can attach at once.
    func isMirrored(_ topic: String) -> Bool

    /// Makes the local copy of `topic` a live, caught-up mirror of the shared one (subscribes to its
    /// live events and fetches its history) before a subscription attaches.
    func prepareSubscription(to topic: String) async throws(HubError)

    /// Ends a topic across nodes: the node running its generation is asked to cancel it (and aborts the
    /// upstream request); a topic without a generation gets `stream_complete(cancelled)` directly.
    /// - Returns: The topic's state afterwards (`nil` if the topic does not exist anywhere).
    func cancelTopic(_ topic: String) async throws(HubError) -> Topic.Snapshot?

    /// Takes the generation lease of `topic` for this node; `false` if another node holds it. The
    /// broker renews held leases until ``releaseLease(of:)``.
    func acquireLease(of topic: String) async throws(HubError) -> Bool

    /// Gives the lease back (the generation ended).
    func releaseLease(of topic: String) async

    /// Shares a generation's state with every node, so that any node can answer for it by id (its state,
    /// and a cancel that reaches the node running it). Best effort: a failure only makes other nodes
    /// answer "unknown" for it.
    func recordGeneration(_ info: GenerationInfo) async

    /// A generation recorded by any node (``recordGeneration(_:)``), or `nil`.
    func generation(_ id: String) async -> GenerationInfo?

    /// The state of a shared topic this node does not hold yet: it is mirrored (as for a first viewer)
    /// and its local snapshot returned; `nil` if the topic exists on no node. Its `subscribers` are this
    /// node's.
    func sharedSnapshot(ofTopic topic: String) async throws(HubError) -> Topic.Snapshot?

    /// Registers what to do when another node asks to cancel the generation this node runs on a topic.
    func onCancelRequest(_ handler: @escaping @Sendable (String) async -> Void)
}

extension Broker {
    /// Generations are known only to the node running them.
    public func recordGeneration(_ info: GenerationInfo) async {}

    /// Generations are known only to the node running them.
    public func generation(_ id: String) async -> GenerationInfo? { nil }

    /// Topics are known only to the node that holds them.
    public func sharedSnapshot(ofTopic topic: String) async throws(HubError) -> Topic.Snapshot? { nil }
}
