import JWTKit
import NewsroomAuth

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Signs HS256 tokens for tests, and makes the ``Authenticator`` that accepts them.
///
/// ```swift
/// let tokens = TestTokens()
/// let auth = try await tokens.authenticator()
/// let viewer = try await tokens.token(subscribe: ["chat:*"])
/// ```
public struct TestTokens: Sendable {
    /// The shared secret.
    public let secret: String

    public init(secret: String = "newsroom-test-secret-0123456789abcdef") {
        self.secret = secret
    }

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim?
        var subscribe: [String]?
        var publish: [String]?
        var cancel: [String]?
        var generate: Bool?
        var admin: Bool?
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    /// An authenticator that accepts this secret, with `leewaySeconds` of clock skew on `exp`.
    public func authenticator(leewaySeconds: Int64 = 0) async throws -> Authenticator {
        var configuration = Authenticator.Configuration()
        configuration.hs256Secret = self.secret
        configuration.leewaySeconds = leewaySeconds
        return try await Authenticator(configuration: configuration)
    }

    /// A signed token with these capabilities, expiring in `expiresIn` seconds (`nil`: never).
    public func token(
        subject: String = "tester", subscribe: [String]? = nil, publish: [String]? = nil, cancel: [String]? = nil,
        generate: Bool? = nil, admin: Bool? = nil, expiresIn: Double? = 600
    ) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: self.secret), digestAlgorithm: .sha256)
        let claims = Claims(
            sub: SubjectClaim(value: subject),
            exp: expiresIn.map { ExpirationClaim(value: Date().addingTimeInterval($0)) }, subscribe: subscribe,
            publish: publish, cancel: cancel, generate: generate, admin: admin)
        return try await keys.sign(claims)
    }
}
