import Logging
import NIOCore
import NIOPosix
import NewsroomAuth
import NewsroomControl
import NewsroomCore
import NewsroomHTTP
import NewsroomWire

/// A hub and its HTTP listener on `127.0.0.1:0`, for integration tests over real loopback sockets.
public struct TestServer: Sendable {
    public let hub: Hub
    /// The control service every transport of the server calls.
    public let control: ControlService
    public let server: HTTPServer
    public let group: any EventLoopGroup
    public let port: Int
    /// The gRPC port: the same as ``port`` (gRPC and gRPC-Web are served on the hub's one port).
    public var grpcPort: Int { self.port }
    /// The certificate both ports serve, when the server was started with `tls: true`; a client trusts
    /// it with its ``TestCertificate/certificatePath`` as certificate authority.
    public let certificate: TestCertificate?
    public var host: String { "127.0.0.1" }
    /// `http://127.0.0.1:PORT`, or `https://` with `tls: true`.
    public var baseURL: String { (self.certificate == nil ? "http" : "https") + "://127.0.0.1:\(self.port)" }
}

/// Starts a hub and an HTTP listener on an ephemeral loopback port, runs `body`, then shuts both down.
/// - Parameters:
///   - threads: Event-loop threads of the server.
///   - configureHub: Changes to the hub's defaults (limits, heartbeat interval…).
///   - configureHTTP: Changes to the listener's defaults (host and port are forced to loopback:0).
///   - generations: An optional generation service.
///   - authenticator: Verifies tokens; `nil` (the default) leaves auth off.
///   - configureControl: Changes to the control service's rules and limits.
///   - tls: Serve TLS on both ports with ``TestCertificate`` (``TestServer/certificate``).
public func withTestServer<Result>(
    threads: Int = 2,
    configureHub: (inout Hub.Configuration) -> Void = { _ in },
    configureHTTP: (inout HTTPServer.Configuration) -> Void = { _ in },
    generations: (any GenerationService)? = nil,
    authenticator: Authenticator? = nil,
    configureControl: (inout ControlService.Configuration) -> Void = { _ in },
    tls: Bool = false,
    logger: Logger = Logger(label: "newsroom.test"),
    _ body: (TestServer) async throws -> Result
) async throws -> Result {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    let hub = Hub(
        configuration: .defaults(configure: configureHub),
        encoders: HTTPServer.encoders + [JSONFrameEncoder()],
        eventLoopGroup: group, logger: logger)
    let certificate = tls ? try TestCertificate.write() : nil
    defer { certificate?.remove() }
    var http = HTTPServer.Configuration.defaults(configure: configureHTTP)
    http.host = "127.0.0.1"
    http.port = 0
    if let certificate {
        http.tls = .init(certificateChainPath: certificate.certificatePath, privateKeyPath: certificate.privateKeyPath)
    }
    http.shutdownGracePeriod = .milliseconds(500)
    let control = ControlService(
        hub: hub, generations: generations, authenticator: authenticator,
        configuration: .defaults(configure: configureControl), logger: logger)
    let server = HTTPServer(configuration: http, control: control, eventLoopGroup: group, logger: logger)
    let address = try await server.start()
    func stop() async {
        await hub.shutdown()
        await server.shutdown()
    }
    let test = TestServer(
        hub: hub, control: control, server: server, group: group, port: address.port!,
        certificate: certificate)
    do {
        let result = try await body(test)
        await stop()
        try await group.shutdownGracefully()
        return result
    } catch {
        await stop()
        try? await group.shutdownGracefully()
        throw error
    }
}
