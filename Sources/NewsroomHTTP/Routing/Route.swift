import NIOHTTP1
import NewsroomCore

/// The hub's HTTP endpoints.
enum Route: Equatable {
    case healthz
    case readyz
    case metrics
    case topics
    case topic(String)
    case topicEvents(String)
    case topicWebSocket(String)
    case multiplexWebSocket
    case generations
    case generation(String)
    case viewer(String)
    /// The operator's console: `/admin` (its page) and `/admin/<file>` (its scripts and styles).
    case adminConsole(String)
    /// `GET /v1/admin`: the console's view of the hub.
    case admin
    /// `GET /v1/admin/stream`: the console's snapshots as Server-Sent Events, one a second.
    case adminStream
    /// A gRPC-Web call on HTTP/1.1 (`/package.Service/Method`); gRPC on HTTP/2 never reaches the router.
    case grpc(String)
    /// A provider API on the hub (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`).
    case proxy(ProxyEndpoint)
    /// The Socket.IO endpoint (Engine.IO long-polling; its WebSockets are upgrades). Its path is
    /// configured, so the handler matches it before the fixed routes.
    case socketIO

    /// The route for a path, or `nil` for an unknown path.
    init?(segments: [String]) {
        switch segments.count {
        case 0:
            self = .viewer("index.html")
        case 1:
            switch segments[0] {
            case "healthz": self = .healthz
            case "readyz": self = .readyz
            case "metrics": self = .metrics
            case "viewer": self = .viewer("index.html")
            case "admin": self = .adminConsole("index.html")
            default: return nil
            }
        case 2:
            switch (segments[0], segments[1]) {
            case ("v1", "topics"): self = .topics
            case ("v1", "generations"): self = .generations
            case ("v1", "ws"): self = .multiplexWebSocket
            case ("v1", "admin"): self = .admin
            case ("v1", "responses"): self = .proxy(.responses)
            case ("v1", "messages"): self = .proxy(.messages)
            case ("viewer", let file): self = .viewer(file)
            case ("admin", let file): self = .adminConsole(file)
            case (let service, let method) where service.contains("."):
                self = .grpc("/\(service)/\(method)")
            default: return nil
            }
        case 3:
            switch (segments[0], segments[1]) {
            case ("v1", "topics"): self = .topic(segments[2])
            case ("v1", "generations"): self = .generation(segments[2])
            case ("v1", "admin") where segments[2] == "stream": self = .adminStream
            case ("v1", "chat") where segments[2] == "completions": self = .proxy(.chatCompletions)
            default: return nil
            }
        case 4:
            switch (segments[0], segments[1], segments[3]) {
            case ("v1", "topics", "events"): self = .topicEvents(segments[2])
            case ("v1", "topics", "ws"): self = .topicWebSocket(segments[2])
            default: return nil
            }
        default:
            return nil
        }
    }

    /// The methods the route answers.
    var allowedMethods: [HTTPMethod] {
        switch self {
        case .healthz, .readyz, .metrics, .topics, .topicWebSocket, .multiplexWebSocket, .viewer, .adminConsole, .admin, .adminStream:
            [.GET, .HEAD]
        case .topic: [.GET, .HEAD, .DELETE]
        case .topicEvents: [.GET, .HEAD, .POST]
        case .generations: [.POST]
        case .generation: [.GET, .DELETE]
        case .grpc, .proxy: [.POST]
        case .socketIO: [.GET, .POST]
        }
    }

    /// Whether requests to the route get a trace span (not health checks, scrapes and static files).
    var isTraced: Bool {
        switch self {
        case .healthz, .readyz, .metrics, .viewer, .adminConsole, .admin, .adminStream, .grpc, .socketIO: false
        default: true
        }
    }

    /// A low-cardinality name for metrics (`newsroom_http_requests_total{route}`); never a topic name.
    var metricName: String {
        switch self {
        case .healthz: "/healthz"
        case .readyz: "/readyz"
        case .metrics: "/metrics"
        case .topics: "/v1/topics"
        case .topic: "/v1/topics/{topic}"
        case .topicEvents: "/v1/topics/{topic}/events"
        case .topicWebSocket: "/v1/topics/{topic}/ws"
        case .multiplexWebSocket: "/v1/ws"
        case .generations: "/v1/generations"
        case .generation: "/v1/generations/{id}"
        case .viewer: "/viewer"
        case .adminConsole: "/admin"
        case .admin: "/v1/admin"
        case .adminStream: "/v1/admin/stream"
        case .grpc: "/grpc-web"
        case .proxy(let endpoint): endpoint.path
        case .socketIO: "/socket.io"
        }
    }
}
