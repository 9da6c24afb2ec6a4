import GRPCNIOTransportHTTP2
import NIOSSL

/// How the client checks the hub's certificate on a TLS connection (`https://`, `wss://`, gRPC with TLS).
///
/// The default, ``systemTrustStore``, accepts a certificate that chains to the operating system's trust
/// store and names the host connected to (its DNS name, or its IP address when the URL holds one).
/// A hub with a certificate from a private certificate authority, or a self-signed one, is trusted with
/// ``certificateAuthority(pemFile:)``, which replaces the system's trust store (as `curl --cacert` does).
///
/// ```swift
/// let hub = HubClient(baseURL: "https://hub.internal:8443", tls: .certificateAuthority(pemFile: "ca.pem"))
/// ```
public struct ClientTLS: Sendable, Hashable {
    enum TrustRoots: Sendable, Hashable {
        case system
        case pemFile(String)
    }

    let trustRoots: TrustRoots

    /// The operating system's trust store.
    public static var systemTrustStore: ClientTLS { ClientTLS(trustRoots: .system) }

    /// Trust only the certificates in a PEM file: a private certificate authority, or the hub's own
    /// self-signed certificate.
    /// - Parameter path: The PEM file; it is read when a connection is first made.
    public static func certificateAuthority(pemFile path: String) -> ClientTLS {
        ClientTLS(trustRoots: .pemFile(path))
    }

    /// The NIOSSL client configuration: TLS 1.2 or later, full verification, these trust roots.
    /// - Parameter applicationProtocols: The ALPN protocols to offer (`http/1.1` for SSE and WebSocket,
    ///   which the hub then speaks even though it also offers `h2`).
    func configuration(applicationProtocols: [String] = []) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        configuration.applicationProtocols = applicationProtocols
        if case .pemFile(let path) = self.trustRoots {
            configuration.trustRoots = .file(path)
        }
        return configuration
    }

    /// A context for raw NIO connections (SSE, WebSocket). Loads the trust roots: call it off the event
    /// loops, once per subscription rather than per connection.
    package func makeContext(applicationProtocols: [String]) throws -> NIOSSLContext {
        try NIOSSLContext(configuration: self.configuration(applicationProtocols: applicationProtocols))
    }

    /// The context for an HTTP/1.1 connection (SSE, WebSocket) to `address`, offering `http/1.1` by ALPN:
    /// `nil` in cleartext, the system's trust store when `tls` is `nil`.
    static func http1Context(for address: HubAddress, _ tls: ClientTLS?) throws -> NIOSSLContext? {
        guard address.secure else { return nil }
        return try (tls ?? .systemTrustStore).makeContext(applicationProtocols: ["http/1.1"])
    }

    /// The same settings for grpc-swift's HTTP/2 transport.
    var grpcTransportSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        .tls { tls in
            if case .pemFile(let path) = self.trustRoots {
                tls.trustRoots = .certificates([.file(path: path, format: .pem)])
            }
        }
    }
}
