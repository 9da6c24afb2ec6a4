import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NewsroomCore
import NewsroomProto

/// One gRPC call of a ``Subscription``: `newsroom.v1.Newsroom/Subscribe` with `after` set to the resume
/// point, over grpc-swift's HTTP/2 client (one task per call, grpc-swift's model), each message
/// converted to a typed ``Event``.
///
/// `OK` means the topic ended. `UNAVAILABLE` (shutdown, a dropped connection), `RESOURCE_EXHAUSTED`
/// (too slow, a limit), `DEADLINE_EXCEEDED` and other transient statuses are worth a retry;
/// `INVALID_ARGUMENT`, `NOT_FOUND`, `PERMISSION_DENIED`, `UNAUTHENTICATED`, `FAILED_PRECONDITION` and
/// `UNIMPLEMENTED` are refusals, with the hub's `newsroom-code` trailer as their code. An
/// `authorization` entry of ``SubscriptionOptions/headers`` is sent as call metadata.
struct GRPCConnector: SubscriptionConnector {
    let address: HubAddress
    let topic: String
    let options: SubscriptionOptions
    let group: any EventLoopGroup

    var url: String { self.address.httpURL("/newsroom.v1.Newsroom/Subscribe") }

    func connect(after: Int?, deliver: @escaping @Sendable (Event) -> ConnectionDirective) async -> ConnectionOutcome {
        var request = Newsroom_V1_SubscribeRequest()
        request.topic = self.topic
        request.after = UInt64(Swift.max(0, after ?? 0))
        switch self.options.policy {
        case "coalesce"?: request.policy = .coalesce
        case "drop_oldest"?: request.policy = .dropOldest
        case "disconnect"?: request.policy = .disconnect
        case let other?:
            return .refused(
                SubscriptionError(status: 400, code: "invalid_policy", message: "unknown policy '\(other)'"))
        case nil: break
        }
        var metadata: Metadata = [:]
        for (name, value) in self.options.headers where name.lowercased() == "authorization" {
            metadata.addString(value, forKey: "authorization")
        }
        do {
            // A literal address as such: grpc-swift would send a name target as TLS's server name, which
            // may not be an IP address (RFC 6066 section 3).
            let target: any ResolvableTarget =
                if self.address.serverHostname != nil {
                    .dns(host: self.address.host, port: self.address.port)
                } else if self.address.host.contains(":") {
                    .ipv6(address: self.address.host, port: self.address.port)
                } else {
                    .ipv4(address: self.address.host, port: self.address.port)
                }
            let security: HTTP2ClientTransport.Posix.TransportSecurity =
                self.address.secure ? (self.options.tls ?? .systemTrustStore).grpcTransportSecurity : .plaintext
            let transport = try HTTP2ClientTransport.Posix(
                target: target, transportSecurity: security, eventLoopGroup: self.group)
            try await withGRPCClient(transport: transport) { client in
                let newsroom = Newsroom_V1_Newsroom.Client(wrapping: client)
                try await newsroom.subscribe(request, metadata: metadata) { response in
                    for try await message in response.messages {
                        // Leaving the call cancels it, which closes its stream.
                        if deliver(Event(message)) == .close { throw ClosedByClient() }
                    }
                }
            }
            return .ended
        } catch is ClosedByClient {
            return .closed
        } catch let error as RPCError {
            if let status = Self.permanentStatus(error.code) {
                let code = Array(error.metadata[stringValues: "newsroom-code"]).first
                return .refused(
                    SubscriptionError(status: status, code: code ?? "\(error.code)", message: error.message))
            }
            if ConnectionFailure.isPermanent(error) {
                return .refused(HubConnectionError(url: self.url, underlying: error))
            }
            return .dropped(error)
        } catch {
            return ConnectionFailure.isPermanent(error)
                ? .refused(HubConnectionError(url: self.url, underlying: error)) : .dropped(error)
        }
    }

    /// The HTTP status equivalent of a status that retrying will not heal, or `nil` for a transient one.
    static func permanentStatus(_ code: RPCError.Code) -> Int? {
        switch code {
        case .invalidArgument, .outOfRange: 400
        case .unauthenticated: 401
        case .permissionDenied: 403
        case .notFound: 404
        case .failedPrecondition, .alreadyExists: 409
        case .unimplemented: 501
        default: nil
        }
    }
}

/// Thrown inside the call to leave it when the state machine closed the connection.
private struct ClosedByClient: Error {}
