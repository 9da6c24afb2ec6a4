import GRPCCore
import NewsroomAuth
import NewsroomGRPC

/// The gRPC port's ``GRPCAuthorizer`` when tokens are required: the `authorization: Bearer <JWT>` metadata
/// is verified by the same ``Authenticator`` as HTTP and WebSocket, and its capabilities decide, with the
/// same rules as the HTTP API (see the README's security section).
///
/// Missing or invalid token → `UNAUTHENTICATED`; a valid token without the capability → `PERMISSION_DENIED`.
/// A subscription granted here ends at the token's expiry (the grant carries it).
struct TokenGRPCAuthorizer: GRPCAuthorizer {
    let authenticator: Authenticator

    func authorize(_ access: GRPCAccess, metadata: Metadata) async throws(RPCError) -> GRPCGrant {
        guard let header = metadata[stringValues: "authorization"].first(where: { _ in true }) else {
            throw RPCError(code: .unauthenticated, message: AuthError.missingToken.message)
        }
        guard let token = Self.bearerToken(header) else {
            throw RPCError(code: .unauthenticated, message: "the authorization metadata must be 'Bearer <token>'")
        }
        let principal: Principal
        switch await self.authenticator.verify(token) {
        case .success(let verified): principal = verified
        case .failure(let error): throw RPCError(code: .unauthenticated, message: error.message)
        }
        guard Self.allows(principal.capabilities, access) else {
            throw RPCError(
                code: .permissionDenied,
                message: "the token does not allow \(access.action) on \(access.topic.map { "'\($0)'" } ?? "this call")")
        }
        return GRPCGrant(subject: principal.subject, expiresAt: principal.expiresAt)
    }

    /// The HTTP API's rules: per-topic capabilities for subscribe, publish and cancel; `generate` (or
    /// `admin`) to start generations; `admin` for the management view. A call about no known topic
    /// (an unknown generation id) needs `admin`, so it cannot probe for other users' generations.
    static func allows(_ capabilities: Capabilities, _ access: GRPCAccess) -> Bool {
        if capabilities.admin { return true }
        switch access.action {
        case .generate: return capabilities.generate
        case .admin: return false
        default:
            guard let topic = access.topic else { return false }
            let action: Capabilities.Action =
                switch access.action {
                case .publish: .publish
                case .cancel: .cancel
                default: .subscribe
                }
            return capabilities.allows(action, topic: topic)
        }
    }

    /// `Bearer <token>` (the scheme is case-insensitive, RFC 6750 section 2.1).
    static func bearerToken(_ header: String) -> String? {
        let parts = header.split(separator: " ")
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1])
    }
}
