import JWTKit
import NewsroomAuth
import NewsroomCore
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Tokens signed with jwt-kit (HS256, an ES256 PEM key, a JWKS) through ``Authenticator``: the principal
/// of a valid token, each rejection reason, and the cache.
@Suite("Authenticator")
struct AuthenticatorTests {
    static let secret = "a-unit-test-secret-of-enough-length-0123456789"

    /// The claims a test token carries; every field optional, and a nil one is left out of the JSON.
    struct TestClaims: JWTPayload {
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

        func verify(using algorithm: some JWTAlgorithm) throws {}

        /// A subject and an expiry an hour away, nothing else.
        static func plain(_ sub: String = "user-1") -> TestClaims {
            TestClaims(sub: SubjectClaim(value: sub), exp: ExpirationClaim(value: Date().addingTimeInterval(3600)))
        }
    }

    static func configuration(
        secret: String? = AuthenticatorTests.secret, audience: String? = nil, issuer: String? = nil,
        leeway: Int64 = 30, cacheSize: Int = 10_000
    ) -> Authenticator.Configuration {
        var configuration = Authenticator.Configuration()
        configuration.hs256Secret = secret
        configuration.audience = audience
        configuration.issuer = issuer
        configuration.leewaySeconds = leeway
        configuration.cacheSize = cacheSize
        return configuration
    }

    static func hs256(_ claims: TestClaims, secret: String = AuthenticatorTests.secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    static func base64URL(_ json: String) -> String {
        Data(json.utf8).base64EncodedString()
            .replacing("+", with: "-")
            .replacing("/", with: "_")
            .replacing("=", with: "")
    }

    static var nowSeconds: Int { Int(Date().timeIntervalSince1970) }

    // MARK: - A valid token

    @Test("a valid HS256 token gives a principal with its subject, capabilities and expiry")
    func validToken() async throws {
        let authenticator = try await Authenticator(configuration: Self.configuration())
        let exp = Date(timeIntervalSince1970: TimeInterval(Self.nowSeconds + 600))
        let token = try await Self.hs256(TestClaims(
            sub: SubjectClaim(value: "user-7"), exp: ExpirationClaim(value: exp),
            subscribe: ["chat:*", "demo"], publish: ["chat:42"], cancel: ["chat:42"], generate: true, admin: false))
        let principal = try await authenticator.verify(token).get()
        #expect(principal.subject == "user-7")
        #expect(principal.capabilities == Capabilities(
            subscribe: ["chat:*", "demo"], publish: ["chat:42"], cancel: ["chat:42"], generate: true, admin: false))
        // The moment it stops being accepted: exp plus the 30 s leeway.
        #expect(principal.expiresAt?.millisecondsSince1970 == Int64(exp.timeIntervalSince1970 + 30) * 1000)
        #expect(principal.capabilities.allows(.subscribe, topic: "chat:1"))
        #expect(!principal.capabilities.allows(.publish, topic: "chat:1"))
    }

    @Test("an admin token's principal allows everything")
    func adminToken() async throws {
        let authenticator = try await Authenticator(configuration: Self.configuration())
        var claims = TestClaims.plain()
        claims.admin = true
        let principal = try await authenticator.verify(Self.hs256(claims)).get()
        #expect(principal.capabilities.admin)
        #expect(principal.capabilities.allows(.cancel, topic: "anything"))
    }

    @Test("a token with no claims at all: subject 'unknown', no capabilities, never expires")
    func missingClaims() async throws {
        let authenticator = try await Authenticator(configuration: Self.configuration())
        let principal = try await authenticator.verify(Self.hs256(TestClaims())).get()
        #expect(principal.subject == "unknown")
        #expect(principal.capabilities == Capabilities())
        #expect(!principal.capabilities.generate && !principal.capabilities.admin)
        #expect(principal.expiresAt == nil)
        for action in [Capabilities.Action.subscribe, .publish, .cancel] {
            #expect(!principal.capabilities.allows(action, topic: "x"))
        }
    }

    @Test("a token without exp has no expiry, and its cached result stays valid")
    func noExpiry() async throws {
        let authenticator = try await Authenticator(configuration: Self.configuration())
        let token = try await Self.hs256(TestClaims(sub: SubjectClaim(value: "forever"), subscribe: ["*"]))
        let principal = try await authenticator.verify(token).get()
        #expect(principal.subject == "forever")
        #expect(principal.expiresAt == nil)
        #expect(authenticator.cachedResult(for: token) == .success(principal))
    }

    // MARK: - Time claims

    /// `exp` and `nbf` as offsets from now (fractional seconds are kept in the token), with the default
    /// 30 s leeway.
    struct TimeCase: Sendable, CustomTestStringConvertible {
        let name: String
        let exp: TimeInterval?
        let nbf: TimeInterval?
        /// nil: accepted.
        let reason: String?
        var testDescription: String { self.name }
    }

    @Test("exp and nbf, with the leeway", arguments: [
        TimeCase(name: "no exp, no nbf: accepted", exp: nil, nbf: nil, reason: nil),
        TimeCase(name: "exp in an hour: accepted", exp: 3600, nbf: nil, reason: nil),
        TimeCase(name: "expired 5 s ago (within the leeway): accepted", exp: -5, nbf: nil, reason: nil),
        TimeCase(name: "expired 25 s ago (within the leeway): accepted", exp: -25, nbf: nil, reason: nil),
        TimeCase(name: "expired 40 s ago (beyond the leeway): token_expired", exp: -40, nbf: nil, reason: "token_expired"),
        TimeCase(name: "expired an hour ago: token_expired", exp: -3600, nbf: nil, reason: "token_expired"),
        TimeCase(name: "nbf an hour ago: accepted", exp: 3600, nbf: -3600, reason: nil),
        TimeCase(name: "nbf 5 s ahead (within the leeway): accepted", exp: 3600, nbf: 5, reason: nil),
        TimeCase(name: "nbf 40 s ahead: token_not_yet_valid", exp: 3600, nbf: 40, reason: "token_not_yet_valid"),
        TimeCase(name: "nbf 5 min ahead, no exp: token_not_yet_valid", exp: nil, nbf: 300, reason: "token_not_yet_valid"),
    ])
    func timeClaims(_ c: TimeCase) async throws {
        let authenticator = try await Authenticator(configuration: Self.configuration())
        let now = Date()
        let token = try await Self.hs256(TestClaims(
            sub: SubjectClaim(value: "user-1"),
            exp: c.exp.map { ExpirationClaim(value: now.addingTimeInterval($0)) },
            nbf: c.nbf.map { NotBeforeClaim(value: now.addingTimeInterval($0)) },
            subscribe: ["t"]))
        let result = await authenticator.verify(token)
        switch (result, c.reason) {
        case (.success(let principal), nil):
            #expect(principal.subject == "user-1")
            #expect((principal.expiresAt == nil) == (c.exp == nil))
        case (.failure(let error), let reason?):
            #expect(error.reason == reason)
            #expect(error.code == .unauthenticated)
        case (.success, let reason?):
            Issue.record("accepted, expected \(reason)")
        case (.failure(let error), nil):
            Issue.record("rejected with \(error.reason), expected accepted")
        }
    }

    // MARK: - Audience and issuer

    struct AudienceCase: Sendable, CustomTestStringConvertible {
        let name: String
        let audience: String?
        let issuer: String?
        let aud: [String]?
        let iss: String?
        let reason: String?
        var testDescription: String { self.name }
    }

    @Test("aud and iss, when configured", arguments: [
        AudienceCase(name: "both match", audience: "newsroom", issuer: "https://auth.example",
                     aud: ["newsroom"], iss: "https://auth.example", reason: nil),
        AudienceCase(name: "aud is a list holding the audience", audience: "newsroom", issuer: nil,
                     aud: ["other", "newsroom"], iss: nil, reason: nil),
        AudienceCase(name: "another audience", audience: "newsroom", issuer: nil,
                     aud: ["other"], iss: nil, reason: "wrong_audience"),
        AudienceCase(name: "no aud while one is required", audience: "newsroom", issuer: nil,
                     aud: nil, iss: nil, reason: "wrong_audience"),
        AudienceCase(name: "audience match is exact", audience: "newsroom", issuer: nil,
                     aud: ["newsroom-staging"], iss: nil, reason: "wrong_audience"),
        AudienceCase(name: "another issuer", audience: nil, issuer: "https://auth.example",
                     aud: nil, iss: "https://evil.example", reason: "wrong_issuer"),
        AudienceCase(name: "no iss while one is required", audience: nil, issuer: "https://auth.example",
                     aud: nil, iss: nil, reason: "wrong_issuer"),
        AudienceCase(name: "right audience, wrong issuer", audience: "newsroom", issuer: "https://auth.example",
                     aud: ["newsroom"], iss: "https://evil.example", reason: "wrong_issuer"),
        AudienceCase(name: "not configured: any aud and iss pass", audience: nil, issuer: nil,
                     aud: ["whatever"], iss: "https://anyone.example", reason: nil),
    ])
    func audienceAndIssuer(_ c: AudienceCase) async throws {
        let authenticator = try await Authenticator(configuration: Self.configuration(audience: c.audience, issuer: c.issuer))
        var claims = TestClaims.plain()
        claims.aud = c.aud.map { AudienceClaim(value: $0) }
        claims.iss = c.iss.map { IssuerClaim(value: $0) }
        let token = try await Self.hs256(claims)
        let result = await authenticator.verify(token)
        switch result {
        case .success(let principal):
            #expect(c.reason == nil, "accepted, expected \(c.reason ?? "")")
            #expect(principal.subject == "user-1")
        case .failure(let error):
            #expect(error.reason == c.reason)
            #expect(error.code == .unauthenticated)
        }
    }

    // MARK: - Signatures and malformed tokens

    struct BadTokenCase: Sendable, CustomTestStringConvertible {
        let name: String
        let make: @Sendable () async throws -> String
        var testDescription: String { self.name }
    }

    static let badTokens: [BadTokenCase] = [
        BadTokenCase(name: "signed with another secret") {
            var claims = TestClaims.plain()
            claims.admin = true
            return try await AuthenticatorTests.hs256(claims, secret: "another-secret-of-enough-length-9876543210")
        },
        BadTokenCase(name: "unsigned, alg none (empty signature)") {
            let header = AuthenticatorTests.base64URL(#"{"alg":"none","typ":"JWT"}"#)
            let payload = AuthenticatorTests.base64URL(
                #"{"sub":"mallory","exp":\#(AuthenticatorTests.nowSeconds + 600),"admin":true,"subscribe":["*"]}"#)
            return "\(header).\(payload)."
        },
        BadTokenCase(name: "alg none with the signature of a real token") {
            let real = try await AuthenticatorTests.hs256(TestClaims.plain()).split(separator: ".")
            let header = AuthenticatorTests.base64URL(#"{"alg":"none"}"#)
            return "\(header).\(real[1]).\(real[2])"
        },
        BadTokenCase(name: "payload swapped for an admin one, signature kept") {
            let real = try await AuthenticatorTests.hs256(TestClaims.plain()).split(separator: ".")
            let payload = AuthenticatorTests.base64URL(
                #"{"sub":"user-1","exp":\#(AuthenticatorTests.nowSeconds + 600),"admin":true}"#)
            return "\(real[0]).\(payload).\(real[2])"
        },
        BadTokenCase(name: "signature truncated") {
            let real = try await AuthenticatorTests.hs256(TestClaims.plain())
            return String(real.dropLast(4))
        },
        BadTokenCase(name: "garbage") { "garbage" },
        BadTokenCase(name: "empty string") { "" },
        BadTokenCase(name: "three empty parts") { ".." },
        BadTokenCase(name: "three parts that are not base64url JSON") { "not.a.jwt" },
        BadTokenCase(name: "a JSON array as payload") {
            let header = AuthenticatorTests.base64URL(#"{"alg":"HS256","typ":"JWT"}"#)
            return "\(header).\(AuthenticatorTests.base64URL("[1,2]")).AAAA"
        },
    ]

    @Test("bad signatures and malformed tokens are invalid_token", arguments: badTokens)
    func badTokensAreInvalid(_ c: BadTokenCase) async throws {
        let authenticator = try await Authenticator(configuration: Self.configuration())
        let token = try await c.make()
        let result = await authenticator.verify(token)
        #expect(result == .failure(AuthError(code: .unauthenticated, reason: "invalid_token", message: "the token is not valid")))
    }

    // MARK: - Public keys

    @Test("an ES256 PEM public key verifies its private key's tokens and only those")
    func es256PublicKeyPEM() async throws {
        let key = ES256PrivateKey()
        var configuration = Self.configuration(secret: nil)
        configuration.publicKeysPEM = [key.publicKey.pemRepresentation]
        #expect(configuration.isEnabled)
        let authenticator = try await Authenticator(configuration: configuration)

        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key)
        var claims = TestClaims.plain("svc")
        claims.publish = ["*"]
        let principal = try await authenticator.verify(signer.sign(claims)).get()
        #expect(principal.subject == "svc" && principal.capabilities.publish == ["*"])

        let stranger = JWTKeyCollection()
        await stranger.add(ecdsa: ES256PrivateKey())
        let forged = try await stranger.sign(claims)
        #expect(await authenticator.verify(forged).failureReason == "invalid_token")
        // An HS256 token means nothing to a hub that has only the public key.
        let hs = try await Self.hs256(claims)
        #expect(await authenticator.verify(hs).failureReason == "invalid_token")
    }

    @Test("a JWKS key verifies tokens that name its kid")
    func jwks() async throws {
        let key = ES256PrivateKey()
        let parameters = try #require(key.publicKey.parameters)
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(parameters.x)","y":"\#(parameters.y)","kid":"ec-1","alg":"ES256","use":"sig"}]}"#
        var configuration = Self.configuration(secret: nil)
        configuration.jwksJSON = jwks
        #expect(configuration.isEnabled)
        let authenticator = try await Authenticator(configuration: configuration)

        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key, kid: "ec-1")
        var claims = TestClaims.plain("svc")
        claims.subscribe = ["room"]
        let principal = try await authenticator.verify(signer.sign(claims, kid: "ec-1")).get()
        #expect(principal.subject == "svc" && principal.capabilities.subscribe == ["room"])

        // The right kid, another key.
        let forger = JWTKeyCollection()
        await forger.add(ecdsa: ES256PrivateKey(), kid: "ec-1")
        let forged = try await forger.sign(claims, kid: "ec-1")
        #expect(await authenticator.verify(forged).failureReason == "invalid_token")
        // A kid the set does not hold, signed by a key it does not hold either. (jwt-kit falls back to
        // its default key for an unknown kid, so what rejects this is the signature.)
        let unknown = JWTKeyCollection()
        await unknown.add(ecdsa: ES256PrivateKey(), kid: "ec-2")
        let unknownKid = try await unknown.sign(claims, kid: "ec-2")
        #expect(await authenticator.verify(unknownKid).failureReason == "invalid_token")
    }

    @Test("a secret and a public key together: tokens signed by either are accepted")
    func secretAndPublicKeyTogether() async throws {
        let key = ES256PrivateKey()
        var configuration = Self.configuration()
        configuration.publicKeysPEM = [key.publicKey.pemRepresentation]
        let authenticator = try await Authenticator(configuration: configuration)
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key)
        let es = try await signer.sign(TestClaims.plain("es"))
        #expect(await authenticator.verify(es).failureReason == nil)
        let hs = try await Self.hs256(TestClaims.plain("hs"))
        // "Any of them may sign": jwt-kit's collection keeps one default (kid-less) key, so each key
        // source has its own collection (a regression test: the PEM key used to replace the secret).
        #expect(await authenticator.verify(hs).failureReason == nil)
    }

    @Test("a key that is not a public key is a configuration error", arguments: [
        "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
        "not a pem at all",
        ES256PrivateKey().pemRepresentation,
    ])
    func badPublicKey(_ pem: String) async {
        var configuration = Self.configuration(secret: nil)
        configuration.publicKeysPEM = [pem]
        await #expect(throws: AuthConfigurationError.self) {
            _ = try await Authenticator(configuration: configuration)
        }
    }

    struct KeysCase: Sendable, CustomTestStringConvertible {
        let name: String
        var secret: String?
        var pems: [String] = []
        var jwks: String?
        let enabled: Bool
        var testDescription: String { self.name }
    }

    @Test("auth is on when any key is configured", arguments: [
        KeysCase(name: "no key: off", enabled: false),
        KeysCase(name: "a secret: on", secret: "s", enabled: true),
        KeysCase(name: "a PEM key: on", pems: ["pem"], enabled: true),
        KeysCase(name: "a JWKS: on", jwks: #"{"keys":[]}"#, enabled: true),
    ])
    func isEnabled(_ c: KeysCase) {
        var configuration = Authenticator.Configuration()
        configuration.hs256Secret = c.secret
        configuration.publicKeysPEM = c.pems
        configuration.jwksJSON = c.jwks
        #expect(configuration.isEnabled == c.enabled)
    }

    @Test("defaults: 30 s leeway, 10,000 cached tokens, no audience or issuer")
    func defaults() {
        let configuration = Authenticator.Configuration()
        #expect(configuration.leewaySeconds == 30)
        #expect(configuration.cacheSize == 10_000)
        #expect(configuration.audience == nil && configuration.issuer == nil)
    }

    // MARK: - The cache

    @Test("cachedResult is nil before verify and the verified result after, failures included")
    func cachedResultAfterVerify() async throws {
        let authenticator = try await Authenticator(configuration: Self.configuration())
        let token = try await Self.hs256(TestClaims.plain())
        #expect(authenticator.cachedResult(for: token) == nil)
        let result = await authenticator.verify(token)
        #expect(result.failureReason == nil)
        #expect(authenticator.cachedResult(for: token) == result)

        #expect(authenticator.cachedResult(for: "garbage") == nil)
        let failure = await authenticator.verify("garbage")
        #expect(authenticator.cachedResult(for: "garbage") == failure)
        #expect(failure.failureReason == "invalid_token")
        // Another token is not answered from the cache.
        #expect(authenticator.cachedResult(for: token + "x") == nil)
    }

    @Test("a cached token whose expiry passes is reported token_expired")
    func cachedTokenExpires() async throws {
        // exp 0.4 s ago with a 1 s leeway: accepted now, no longer about 0.6 s later.
        let authenticator = try await Authenticator(configuration: Self.configuration(leeway: 1))
        let token = try await Self.hs256(TestClaims(
            sub: SubjectClaim(value: "short"), exp: ExpirationClaim(value: Date().addingTimeInterval(-0.4)),
            subscribe: ["live"]))
        let principal = try await authenticator.verify(token).get()
        let expiresAt = try #require(principal.expiresAt)
        let left = expiresAt.millisecondsSince1970 - Timestamp.now().millisecondsSince1970
        #expect(left > 0 && left <= 1_000)
        #expect(authenticator.cachedResult(for: token) == .success(principal))

        try await Task.sleep(for: .milliseconds(max(left, 0) + 150))
        #expect(authenticator.cachedResult(for: token)?.failureReason == "token_expired")
        // verify answers from the cache the same way.
        #expect(await authenticator.verify(token).failureReason == "token_expired")
    }

    /// Verifies `count` distinct tokens; returns, after each, how many of them the cache still answers.
    static func cachedCounts(cacheSize: Int, count: Int) async throws -> [Int] {
        let authenticator = try await Authenticator(configuration: Self.configuration(cacheSize: cacheSize))
        var tokens: [String] = []
        var counts: [Int] = []
        for i in 0..<count {
            // Failures are cached too, so garbage tokens fill the cache without signing.
            let token = "garbage-\(i)"
            tokens.append(token)
            _ = await authenticator.verify(token)
            #expect(authenticator.cachedResult(for: token) != nil, "the newest token is cached")
            counts.append(tokens.filter { authenticator.cachedResult(for: $0) != nil }.count)
        }
        return counts
    }

    @Test("the cache stays bounded at cacheSize", arguments: [2, 4, 8, 100])
    func cacheIsBounded(cacheSize: Int) async throws {
        let counts = try await Self.cachedCounts(cacheSize: cacheSize, count: cacheSize * 5 + 3)
        // Nothing is dropped until the cache is full...
        #expect(Array(counts.prefix(cacheSize)) == Array(1...cacheSize))
        // ...and it never holds more than cacheSize tokens.
        #expect(counts.max() == cacheSize)
    }

    @Test("a one-entry cache holds one token")
    func oneEntryCache() async throws {
        let counts = try await Self.cachedCounts(cacheSize: 1, count: 6)
        // Eviction drops at least one entry (a regression test: count / 2 is none when it holds one).
        #expect(counts.max() == 1)
    }
}

extension Result where Success == Principal, Failure == AuthError {
    /// The rejection's reason, nil when accepted.
    var failureReason: String? {
        if case .failure(let error) = self { return error.reason }
        return nil
    }
}
