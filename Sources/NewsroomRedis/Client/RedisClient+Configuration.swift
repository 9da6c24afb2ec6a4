import NIOCore
import NIOSSL

extension RedisClient {
    /// Where the server is, how to log in, and the client's timings.
    ///
    /// Build one from a URL (`try Configuration(url: "redis://user:pass@cache:6379/2")`) or field by field.
    public struct Configuration: Sendable {
        /// The server's host name or IP address.
        public var host: String
        /// The server's port. Default 6379.
        public var port: Int = 6379
        /// The ACL user to log in as; `nil` with a ``password`` means `default`. Default `nil`.
        public var username: String?
        /// The password for `AUTH`; `nil` logs in as no one. Default `nil`.
        public var password: String?
        /// The logical database to `SELECT` (not available in a cluster). Default 0.
        public var database: Int = 0
        /// TLS settings; `nil` for plain TCP. `rediss://` URLs set the system-trust client defaults.
        public var tls: TLSConfiguration?
        /// The name sent with `HELLO … SETNAME` (shown by `CLIENT LIST`); `nil` sends none. Default `nil`.
        public var clientName: String?
        /// How long one connection attempt (TCP, TLS and handshake) may take. Default 5 s.
        public var connectTimeout: TimeAmount = .seconds(5)
        /// How long a command may wait for its reply, including any wait for a reconnect; `nil` waits
        /// forever. Each call can override it. Default 5 s.
        public var commandTimeout: TimeAmount? = .seconds(5)
        /// What to do when the connection is lost. Default ``ReconnectPolicy/exponentialBackoff(initialDelay:maximumDelay:multiplier:jitter:)``
        /// with its defaults.
        public var reconnect: ReconnectPolicy = .exponentialBackoff()
        /// Bounds on what one reply may claim. Default ``RESPDecoder/Limits/defaults``.
        public var decoderLimits: RESPDecoder.Limits = .defaults

        /// A configuration for `host:port` with every other field at its default.
        public init(host: String, port: Int = 6379) {
            self.host = host
            self.port = port
        }

        /// A configuration from a `redis://` or `rediss://` URL.
        ///
        /// The form is `redis[s]://[[user][:password]@]host[:port][/database]`, as registered with IANA
        /// (<https://www.iana.org/assignments/uri-schemes/prov/redis>). User and password may be
        /// percent-encoded; an IPv6 host is written in brackets (`redis://[::1]:6379`). `rediss://` turns
        /// on TLS with the system's trust roots.
        ///
        /// - Throws: ``RedisError/Code/invalidURL`` for anything else.
        public init(url: String) throws {
            let tls: Bool
            var rest: Substring
            if url.hasPrefix("redis://") {
                tls = false
                rest = url.dropFirst("redis://".count)
            } else if url.hasPrefix("rediss://") {
                tls = true
                rest = url.dropFirst("rediss://".count)
            } else {
                throw RedisError.invalidURL("a Redis URL starts with redis:// or rediss://")
            }
            if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
                rest = rest[..<query]
            }
            let authority: Substring
            var path: Substring = ""
            if let slash = rest.firstIndex(of: "/") {
                authority = rest[..<slash]
                path = rest[rest.index(after: slash)...]
            } else {
                authority = rest
            }

            var hostPort = authority
            var username: String?
            var password: String?
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                hostPort = authority[authority.index(after: at)...]
                if let colon = userInfo.firstIndex(of: ":") {
                    let user = userInfo[..<colon]
                    username = user.isEmpty ? nil : try Self.percentDecode(user)
                    password = try Self.percentDecode(userInfo[userInfo.index(after: colon)...])
                } else if !userInfo.isEmpty {
                    username = try Self.percentDecode(userInfo)
                }
            }

            let host: Substring
            var port = 6379
            var portText: Substring?
            if hostPort.hasPrefix("[") {
                guard let close = hostPort.firstIndex(of: "]") else {
                    throw RedisError.invalidURL("an IPv6 host in a Redis URL needs a closing ]")
                }
                host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
                let after = hostPort[hostPort.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { throw RedisError.invalidURL("bad text after the IPv6 host") }
                    portText = after.dropFirst()
                }
            } else if let colon = hostPort.lastIndex(of: ":") {
                host = hostPort[..<colon]
                portText = hostPort[hostPort.index(after: colon)...]
            } else {
                host = hostPort
            }
            guard !host.isEmpty else { throw RedisError.invalidURL("a Redis URL needs a host") }
            if let portText {
                guard let value = Int(portText), (1...65535).contains(value) else {
                    throw RedisError.invalidURL("the port of a Redis URL must be 1 to 65535")
                }
                port = value
            }

            self.init(host: String(host), port: port)
            self.username = username
            self.password = password
            if !path.isEmpty {
                guard let database = Int(path), database >= 0 else {
                    throw RedisError.invalidURL("the path of a Redis URL must be a database number")
                }
                self.database = database
            }
            if tls {
                self.tls = .makeClientConfiguration()
            }
        }

        private static func percentDecode(_ text: Substring) throws -> String {
            guard text.contains("%") else { return String(text) }
            var bytes: [UInt8] = []
            var iterator = text.utf8.makeIterator()
            while let byte = iterator.next() {
                guard byte == UInt8(ascii: "%") else {
                    bytes.append(byte)
                    continue
                }
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
                else {
                    throw RedisError.invalidURL("bad percent-encoding in a Redis URL")
                }
                bytes.append(high << 4 | low)
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        private static func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }

        /// The defaults for `host:port`, changed by `configure`.
        public static func defaults(
            host: String,
            port: Int = 6379,
            configure: (inout Configuration) -> Void = { _ in }
        ) -> Configuration {
            var configuration = Configuration(host: host, port: port)
            configure(&configuration)
            return configuration
        }
    }
}
