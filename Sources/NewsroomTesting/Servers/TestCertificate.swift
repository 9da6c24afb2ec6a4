#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A self-signed certificate for `localhost`, `127.0.0.1` and `::1` (ECDSA P-256, valid until 2126),
/// with its private key: for TLS over loopback in tests only — the key is public.
///
/// A client trusts it by using ``certificatePath`` as its certificate authority; a server serves it with
/// ``certificatePath`` and ``privateKeyPath``.
public struct TestCertificate: Sendable {
    /// The PEM file of the certificate.
    public let certificatePath: String
    /// The PEM file of the private key.
    public let privateKeyPath: String

    /// Writes the certificate and its key to a new temporary directory.
    public static func write() throws -> TestCertificate {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("newsroom-test-tls-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("cert.pem")
        let key = directory.appendingPathComponent("key.pem")
        try Data(Self.certificatePEM.utf8).write(to: certificate)
        try Data(Self.privateKeyPEM.utf8).write(to: key)
        return TestCertificate(certificatePath: certificate.path, privateKeyPath: key.path)
    }

    /// Removes the files.
    public func remove() {
        try? FileManager.default.removeItem(atPath: self.certificatePath)
        try? FileManager.default.removeItem(atPath: self.privateKeyPath)
        let directory = String(self.certificatePath.dropLast("/cert.pem".count))
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
    /// -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,IP:0:0:0:0:0:0:0:1,DNS:localhost`
    public static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBrjCCAVSgAwIBAgIUeijSueGQiO+ldEiUy2d6JJwSShwwCgYIKoZIzj0EAwIw
        FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjE1NDM0NloYDzIxMjYxMTA4
        MTU0MzQ2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
        PQMBBwNCAARyX+JLI9xM9NBF21Sp69TAVKNUqfJP2HICqB/UtN9eF6zYAV6Ttw0l
        bBfPimfDiE9DeynbXFWwRBBVc2/bvcQao4GBMH8wHQYDVR0OBBYEFIlt91ZMCcsI
        9XTwJaNFPjGtOhVVMB8GA1UdIwQYMBaAFIlt91ZMCcsI9XTwJaNFPjGtOhVVMA8G
        A1UdEwEB/wQFMAMBAf8wLAYDVR0RBCUwI4cEfwAAAYcQAAAAAAAAAAAAAAAAAAAA
        AYIJbG9jYWxob3N0MAoGCCqGSM49BAMCA0gAMEUCIHXCzBGF646+zgWAMZg9AV+k
        u07rSI7fyQyOKjHe7HSMAiEAzfWu6K9PdEwrrHZp12PGulV6a7xZT/X9WWxajSDo
        +es=
        -----END CERTIFICATE-----
        """

    public static let privateKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghIcCryBd7+fH/yo0
        Z7RdzOqkyI8IOcrXD7ZiIFO1D6KhRANCAARyX+JLI9xM9NBF21Sp69TAVKNUqfJP
        2HICqB/UtN9eF6zYAV6Ttw0lbBfPimfDiE9DeynbXFWwRBBVc2/bvcQa
        -----END PRIVATE KEY-----
        """
}
