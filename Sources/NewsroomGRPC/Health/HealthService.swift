import GRPCCore
import NewsroomProto
import Synchronization

/// The standard `grpc.health.v1.Health` service (gRPC's "Health Checking Protocol",
/// grpc/grpc `doc/health-checking.md`), generated from the canonical `health.proto`.
///
/// `Check` answers the status of a service, or of the server as a whole for the empty name, and
/// `NOT_FOUND` for a service it does not know; `List` answers all of them; `Watch` sends the current
/// status at once and then every change, `SERVICE_UNKNOWN` for a service it does not know (without
/// ending the call, as the protocol asks). ``NewsroomGRPCServer`` marks the server and
/// `newsroom.v1.Newsroom` `SERVING` while it runs and `NOT_SERVING` once it begins shutting down.
public final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol, Sendable {
    /// A serving status.
    public typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    private struct State {
        var statuses: [String: Status] = [:]
        var watchers: [Int: (service: String, continuation: AsyncStream<Status>.Continuation)] = [:]
        var nextWatcher = 0
    }

    private let state = Mutex(State())

    /// Creates the service with `statuses` (service name → status; `""` is the whole server).
    public init(statuses: [String: Status] = [:]) {
        self.state.withLock { $0.statuses = statuses }
    }

    /// Sets the status of `service` (`""` for the whole server) and tells its watchers.
    public func setStatus(_ status: Status, forService service: String) {
        let continuations = self.state.withLock { state in
            state.statuses[service] = status
            return state.watchers.values.filter { $0.service == service }.map(\.continuation)
        }
        for continuation in continuations { continuation.yield(status) }
    }

    /// Sets every known service `NOT_SERVING` (shutdown).
    public func markAllNotServing() {
        let services = self.state.withLock { Array($0.statuses.keys) }
        for service in services { self.setStatus(.notServing, forService: service) }
    }

    /// The status of `service`, or `nil` if unknown.
    public func status(ofService service: String) -> Status? {
        self.state.withLock { $0.statuses[service] }
    }

    public func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = self.status(ofService: request.service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service.prefix(128))'")
        }
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = status
        return response
    }

    public func list(
        request: Grpc_Health_V1_HealthListRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthListResponse {
        let statuses = self.state.withLock { $0.statuses }
        var response = Grpc_Health_V1_HealthListResponse()
        for (service, status) in statuses {
            var entry = Grpc_Health_V1_HealthCheckResponse()
            entry.status = status
            response.statuses[service] = entry
        }
        return response
    }

    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        let service = request.service
        // Only the latest status matters to a watcher that is behind.
        let (updates, continuation) = AsyncStream.makeStream(of: Status.self, bufferingPolicy: .bufferingNewest(1))
        let id = self.state.withLock { state in
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = (service, continuation)
            continuation.yield(state.statuses[service] ?? .serviceUnknown)
            return id
        }
        defer { _ = self.state.withLock { $0.watchers.removeValue(forKey: id) } }
        try await withRPCCancellationHandler {
            var last: Status?
            for await status in updates where status != last {
                last = status
                var message = Grpc_Health_V1_HealthCheckResponse()
                message.status = status
                try await response.write(message)
            }
        } onCancelRPC: {
            continuation.finish()
        }
    }
}
