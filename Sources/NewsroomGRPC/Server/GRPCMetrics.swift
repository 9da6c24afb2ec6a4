import CoreMetrics
import GRPCCore
import Synchronization

/// The gRPC port's metric handles, created once per label set and cached (methods and status codes are
/// small, fixed sets), never per call or per message. Deliveries, subscriptions and slow consumers are
/// counted by the hub with `transport="grpc"`.
///
/// - `newsroom_grpc_calls_total{method,code}`: finished calls by method (`Subscribe`, `Check`, …) and
///   status (`ok`, `invalid_argument`, `resource_exhausted`, …).
/// - `newsroom_connections{transport="grpc"}`: open connections of the gRPC port.
/// - `newsroom_auth_failures_total{reason}`: calls refused by the ``GRPCAuthorizer`` (`unauthenticated`,
///   `forbidden`), the same counter as the HTTP listener's.
final class GRPCMetrics: Sendable {
    let connections: Meter
    private let calls = Mutex<[String: Counter]>([:])
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.connections = Meter(label: "newsroom_connections", dimensions: [("transport", "grpc")], factory: factory)
    }

    func call(method: String, code: Status.Code) {
        let name = Self.name(of: code)
        let key = "\(method) \(name)"
        let counter = self.calls.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "newsroom_grpc_calls_total", dimensions: [("method", method), ("code", name)],
                factory: self.factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    /// The canonical names of the status codes (gRPC's `doc/statuscodes.md`), in lower case, by value.
    static let names = [
        "ok", "cancelled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists",
        "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented",
        "internal", "unavailable", "data_loss", "unauthenticated",
    ]

    /// The lower-case canonical name of a status code (`resource_exhausted`).
    static func name(of code: Status.Code) -> String {
        Self.names.indices.contains(code.rawValue) ? Self.names[code.rawValue] : "unknown"
    }
}

/// Counts every call of the server by method and final status (``GRPCMetrics``).
struct GRPCMetricsInterceptor: ServerInterceptor {
    let metrics: GRPCMetrics

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.method
        let metrics = self.metrics
        var response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            metrics.call(method: method, code: Self.code(of: error))
            throw error
        }
        switch response.accepted {
        case .success(var contents):
            // A streaming response's status is known once its producer returns or throws.
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    metrics.call(method: method, code: .ok)
                    return trailers
                } catch {
                    metrics.call(method: method, code: Self.code(of: error))
                    throw error
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            metrics.call(method: method, code: Status.Code(error.code))
        }
        return response
    }

    static func code(of error: any Error) -> Status.Code {
        if let error = error as? RPCError { return Status.Code(error.code) }
        if let convertible = error as? any RPCErrorConvertible { return Status.Code(convertible.rpcErrorCode) }
        return .unknown
    }
}
