import NIOCore

/// Where a hub listens: host, port, whether it speaks TLS, and the path its API sits under.
///
/// Parsed from the URLs users give (`http://`, `https://`, `ws://`, `wss://`); every connection of the
/// client library is made from one, so an IPv6 host, a default port or a path prefix is handled once.
struct HubAddress: Sendable, Hashable {
    /// A name or an IP address, without the brackets of an IPv6 literal.
    var host: String
    var port: Int
    /// Whether connections speak TLS (`https://`, `wss://`).
    var secure: Bool
    /// The path the hub's API is under (`""`, or e.g. `/newsroom` behind a proxy), without a trailing `/`.
    var basePath: String = ""

    private static let schemes: [(prefix: String, secure: Bool, defaultPort: Int)] = [
        ("http://", false, 80), ("https://", true, 443), ("ws://", false, 80), ("wss://", true, 443),
    ]

    /// Parses `scheme://host[:port][/path]`; `nil` for another scheme or a malformed authority.
    init?(url: String) {
        let lowered = url.lowercased()
        guard let (scheme, secure, defaultPort) = Self.schemes.first(where: { lowered.hasPrefix($0.prefix) }) else {
            return nil
        }
        var rest = url.dropFirst(scheme.count)
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        while path.hasSuffix("/") { path.removeLast() }
        guard !path.contains("?"), !path.contains("#") else { return nil }
        let host: Substring
        var port = defaultPort
        if rest.hasPrefix("[") {  // [IPv6]:port (RFC 3986 section 3.2.2)
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let value = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = value
        } else {
            host = rest
        }
        guard !host.isEmpty, (0...65535).contains(port), !host.contains("@") else { return nil }
        self.init(host: String(host), port: port, secure: secure, basePath: path)
    }

    init(host: String, port: Int, secure: Bool, basePath: String = "") {
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = port
        self.secure = secure
        self.basePath = basePath
    }

    /// The host as it appears in a URL or a `Host` header (an IPv6 literal in brackets) with the port.
    var authority: String {
        (self.host.contains(":") ? "[\(self.host)]" : self.host) + ":\(self.port)"
    }

    /// `http://` or `https://`, the authority, the base path and `path`.
    func httpURL(_ path: String) -> String {
        (self.secure ? "https://" : "http://") + self.authority + self.basePath + path
    }

    /// `ws://` or `wss://`, the authority, the base path and `path`.
    func webSocketURL(_ path: String) -> String {
        (self.secure ? "wss://" : "ws://") + self.authority + self.basePath + path
    }

    /// The name to send in TLS's server name indication and to check the certificate against; `nil` for
    /// an IP address (RFC 6066 section 3 forbids literal addresses there; the certificate is then
    /// checked against the address connected to).
    var serverHostname: String? {
        (try? SocketAddress(ipAddress: self.host, port: 0)) == nil ? self.host : nil
    }
}
