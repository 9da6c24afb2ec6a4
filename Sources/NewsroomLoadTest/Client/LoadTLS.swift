import NIOCore
import NIOSSL
import NewsroomClient

/// TLS for a run against an `https://` URL: one client context per ALPN protocol, made once per process
/// (loading the trust roots is file I/O) and shared by every connection.
struct LoadTLS: Sendable {
    /// For SSE, WebSocket and the control connections: ALPN `http/1.1`.
    let http1: NIOSSLContext
    /// For gRPC viewers: ALPN `h2`.
    let h2: NIOSSLContext
    /// The name for server name indication and the certificate check; `nil` for an IP address (checked
    /// against the address connected to).
    let serverHostname: String?

    /// `nil` for an `http://` URL.
    ///
    /// - Throws: ``LoadTestError`` when the trust roots (`--ca-certificate`) cannot be loaded.
    init?(_ configuration: LoadTestRunner.Configuration) throws(LoadTestError) {
        guard let endpoint = Endpoint(url: configuration.url), endpoint.secure else { return nil }
        let trust = configuration.caCertificate.map { ClientTLS.certificateAuthority(pemFile: $0) } ?? .systemTrustStore
        do {
            self.http1 = try trust.makeContext(applicationProtocols: ["http/1.1"])
            self.h2 = try trust.makeContext(applicationProtocols: ["h2"])
        } catch {
            throw .invalidConfiguration("cannot load the TLS trust roots (--ca-certificate): \(error)")
        }
        self.serverHostname = (try? SocketAddress(ipAddress: endpoint.host, port: 0)) == nil ? endpoint.host : nil
    }

    /// Adds the TLS client handler at the front of `channel`'s pipeline (`h2` for gRPC).
    func addHandler(to channel: any Channel, h2: Bool = false) throws {
        try channel.pipeline.syncOperations.addHandler(
            NIOSSLClientHandler(context: h2 ? self.h2 : self.http1, serverHostname: self.serverHostname))
    }
}
