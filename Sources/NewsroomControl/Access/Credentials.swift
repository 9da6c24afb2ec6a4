/// Reads the credentials clients send, the same way on every transport.
public enum Credentials {
    /// The token of an `Authorization: Bearer <token>` header (or gRPC `authorization` metadata): the
    /// scheme is case-insensitive and separated by spaces or tabs (RFC 6750 section 2.1, RFC 9110
    /// section 11.4); anything else is `nil`.
    public static func bearerToken(authorization: String?) -> String? {
        guard let authorization else { return nil }
        let parts = authorization.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else { return nil }
        return String(parts[1])
    }
}
