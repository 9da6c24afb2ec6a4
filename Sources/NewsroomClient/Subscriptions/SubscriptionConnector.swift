import NewsroomCore

/// One transport's way of making a single connection for a ``Subscription``: the SSE, WebSocket and
/// gRPC connectors speak their wire format and nothing else.
///
/// What to do with each event (skip a duplicate, stop at the topic's end, obey a notice) and what to do
/// after a connection (end, fail, or wait and reconnect from the last delivered `seq`) is decided once,
/// for every transport, by ``Subscription``'s reconnect loop and its state machine.
protocol SubscriptionConnector: Sendable {
    /// The URL the connector connects to, for messages (`https://hub:8443/v1/topics/t/events`).
    var url: String { get }

    /// Connects once and subscribes, resuming after `after` (`nil`: from the start of the history).
    ///
    /// Hands each decoded event to `deliver` as it arrives, in order, on whatever thread the transport
    /// reads on; when `deliver` answers ``ConnectionDirective/close``, closes the connection (events
    /// that were already read may still be handed over). Returns once the connection is over. Cancelling
    /// the calling task closes the connection.
    func connect(after: Int?, deliver: @escaping @Sendable (Event) -> ConnectionDirective) async -> ConnectionOutcome
}

/// What the reconnect loop wants done with the connection after an event.
enum ConnectionDirective: Sendable, Equatable {
    /// Keep reading.
    case keepOpen
    /// Close it: the topic ended, or a notice ended this connection.
    case close
}

/// How one connection of a subscription ended, as far as its transport can tell.
enum ConnectionOutcome: Sendable {
    /// The transport said that nothing more will come: SSE's `204 No Content` (resuming at an ended
    /// topic's last `seq`), WebSocket's close 1000, gRPC's `OK`.
    case ended
    /// The hub refused for good (a 4xx status, the gRPC or WebSocket equivalent) or the connection
    /// cannot work (its certificate is not trusted): retrying will not help.
    case refused(any Error)
    /// The connection could not be made, dropped, or was refused for now (503): worth a retry.
    case dropped(any Error)
    /// Closed because `deliver` asked.
    case closed
}
