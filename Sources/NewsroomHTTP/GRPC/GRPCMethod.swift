/// The gRPC methods the hub serves, by request path (`/package.Service/Method`).
enum GRPCMethod: String, Sendable, CaseIterable {
    case subscribe = "/newsroom.v1.Newsroom/Subscribe"
    case publish = "/newsroom.v1.Newsroom/Publish"
    case startGeneration = "/newsroom.v1.Newsroom/StartGeneration"
    case cancelGeneration = "/newsroom.v1.Newsroom/CancelGeneration"
    case getGeneration = "/newsroom.v1.Newsroom/GetGeneration"
    case listTopics = "/newsroom.v1.Newsroom/ListTopics"
    case getTopic = "/newsroom.v1.Newsroom/GetTopic"
    case healthCheck = "/grpc.health.v1.Health/Check"
    case healthWatch = "/grpc.health.v1.Health/Watch"
    case healthList = "/grpc.health.v1.Health/List"

    /// How many messages each side sends.
    enum Kind {
        case unary
        case serverStreaming
        case clientStreaming
    }

    var kind: Kind {
        switch self {
        case .subscribe, .healthWatch: .serverStreaming
        case .publish: .clientStreaming
        default: .unary
        }
    }

    /// The method's name (`Subscribe`), a metric label and a span's `rpc.method`.
    var name: String { String(self.rawValue.split(separator: "/").last ?? "") }

    /// The service (`newsroom.v1.Newsroom`), a span's `rpc.service`.
    var service: String { String(self.rawValue.split(separator: "/").first ?? "") }

    /// Whether a request path names a gRPC method of some service (`/a.b.Service/Method`), known or not.
    static func isGRPCPath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0].isEmpty && parts[1].contains(".") && !parts[2].isEmpty
    }
}
