import JWTKit
import Logging
import NewsroomCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies bearer tokens (JWT) with vapor/jwt-kit and turns their claims into a ``Principal``.
///
/// Keys: an HS256 secret, PEM public keys (RSA → RS256, P-256 → ES256, P-384 → ES384), and/or a JWKS
/// file; any of them may sign. `exp` and `nbf` are checked with a small leeway, `aud` and `iss` when
/// configured. Claims (all optional): `sub`, `exp`, `nbf`, `aud`, `iss`, `subscribe`, `publish`,
/// `cancel` (lists of topic patterns), `generate`, `admin` (booleans).
///
/// Verification is asynchronous (jwt-kit's key collection is an actor), so results are cached by token
/// (bounded, failures included): a token seen before is checked on the event loop without a hop, and
/// the fan-out and control paths never wait on the actor twice for the same token.
public final class Authenticator: Sendable {
    /// How tokens are checked.
    public struct Configuration: Sendable {
        /// An HMAC-SHA256 secret.
        public var hs256Secret: String?
        /// PEM public keys (contents, not paths).
        public var publicKeysPEM: [String] = []
        /// A JSON Web Key Set (contents).
        public var jwksJSON: String?
        /// Required `aud` value, if any.
        public var audience: String?
        /// Required `iss` value, if any.
        public var issuer: String?
        /// Clock skew allowed on `exp` and `nbf`, in seconds. Default 30.
        public var leewaySeconds: Int64 = 30
        /// Verified tokens remembered. Default 10,000.
        public var cacheSize: Int = 10_000

        public init() {}

        /// Whether any key is configured (auth is on).
        public var isEnabled: Bool { self.hs256Secret != nil || !self.publicKeysPEM.isEmpty || self.jwksJSON != nil }
    }

    struct Claims: JWTPayload {
        var sub: SubjectClaim?
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        var aud: AudienceClaim?
        var iss: IssuerClaim?
        var subscribe: [String]?
        var publish: [String]?
        var cancel: [String]?
        var generate: Bool?
        var admin: Bool?

        // Time claims are checked by ``Authenticator`` with its leeway, after the signature.
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    public let configuration: Configuration
    /// One collection per configured key source. jwt-kit's collection keeps a single default key for
    /// tokens without a `kid`, and each key added without one replaces it; holding the secret, each PEM
    /// and the JWKS apart lets every one of them sign, as documented.
    private let keys: [JWTKeyCollection]
    private let cache = Mutex<[String: Result<Principal, AuthError>]>([:])

    /// Loads the keys.
    /// - Throws: when a PEM or the JWKS cannot be read as a key.
    public init(configuration: Configuration) async throws {
        self.configuration = configuration
        var collections: [JWTKeyCollection] = []
        if let secret = configuration.hs256Secret {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            collections.append(keys)
        }
        for pem in configuration.publicKeysPEM {
            let keys = JWTKeyCollection()
            collections.append(keys)
            if let rsa = try? Insecure.RSA.PublicKey(pem: pem) {
                await keys.add(rsa: rsa, digestAlgorithm: .sha256)
            } else if let p256 = try? ES256PublicKey(pem: pem) {
                await keys.add(ecdsa: p256)
            } else if let p384 = try? ES384PublicKey(pem: pem) {
                await keys.add(ecdsa: p384)
            } else {
                throw AuthConfigurationError("a public key is neither an RSA nor a P-256/P-384 PEM public key")
            }
        }
        if let jwks = configuration.jwksJSON {
            let keys = JWTKeyCollection()
            try await keys.add(jwksJSON: jwks)
            collections.append(keys)
        }
        self.keys = collections
    }

    /// The result for a token verified before, without a suspension point (still checked for expiry).
    public func cachedResult(for token: String) -> Result<Principal, AuthError>? {
        guard let result = self.cache.withLock({ $0[token] }) else { return nil }
        if case .success(let principal) = result, let expiry = principal.expiresAt,
            Timestamp.now().millisecondsSince1970 > expiry.millisecondsSince1970
        {
            return .failure(Self.expired)
        }
        return result
    }

    static let expired = AuthError(code: .unauthenticated, reason: "token_expired", message: "the token has expired")

    /// Verifies a token (signature, time claims, audience, issuer) and returns its principal.
    public func verify(_ token: String) async -> Result<Principal, AuthError> {
        if let cached = self.cachedResult(for: token) { return cached }
        var result = Result<Principal, AuthError>.failure(
            AuthError(code: .unauthenticated, reason: "invalid_token", message: "the token is not valid"))
        for keys in self.keys {
            if let claims = try? await keys.verify(token, as: Claims.self) {
                result = self.principal(from: claims)
                break
            }
        }
        self.remember(token, result)
        return result
    }

    private func principal(from claims: Claims) -> Result<Principal, AuthError> {
        let now = Date()
        let leeway = TimeInterval(self.configuration.leewaySeconds)
        if let exp = claims.exp, exp.value.addingTimeInterval(leeway) < now { return .failure(Self.expired) }
        if let nbf = claims.nbf, nbf.value.addingTimeInterval(-leeway) > now {
            return .failure(AuthError(code: .unauthenticated, reason: "token_not_yet_valid", message: "the token is not valid yet"))
        }
        if let audience = self.configuration.audience, !(claims.aud?.value.contains(audience) ?? false) {
            return .failure(AuthError(code: .unauthenticated, reason: "wrong_audience", message: "the token is for another audience"))
        }
        if let issuer = self.configuration.issuer, claims.iss?.value != issuer {
            return .failure(AuthError(code: .unauthenticated, reason: "wrong_issuer", message: "the token has another issuer"))
        }
        let capabilities = Capabilities(
            subscribe: claims.subscribe ?? [], publish: claims.publish ?? [], cancel: claims.cancel ?? [],
            generate: claims.generate ?? false, admin: claims.admin ?? false)
        // The moment the token stops being accepted: `exp` plus the leeway.
        let expiresAt = claims.exp.map {
            Timestamp(millisecondsSince1970: Int64(($0.value.timeIntervalSince1970 + leeway) * 1000))
        }
        return .success(Principal(subject: claims.sub?.value ?? "unknown", capabilities: capabilities, expiresAt: expiresAt))
    }

    private func remember(_ token: String, _ result: Result<Principal, AuthError>) {
        self.cache.withLock { cache in
            if cache.count >= self.configuration.cacheSize {
                // Bounded: drop an arbitrary half rather than track recency per lookup.
                for key in cache.keys.prefix(max(1, cache.count / 2)) { cache[key] = nil }
            }
            cache[token] = result
        }
    }
}

/// A key that cannot be used.
public struct AuthConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
