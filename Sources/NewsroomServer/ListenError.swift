import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A port the hub could not listen on: the address, the cause in words, and the setting to change.
///
/// `cannot listen on 127.0.0.1:8080: address already in use — pick another with --port (or NEWSROOM_PORT)`.
public struct ListenError: Error, CustomStringConvertible {
    /// Which listener: the HTTP port or the extra gRPC port.
    public struct Listener: Sendable, Hashable {
        let flag: String
        let key: String

        /// The main port (`--port`, `port`).
        public static let http = Listener(flag: "--port", key: "port")
        /// The extra gRPC port (`--grpc-port`, `grpc.port`).
        public static let grpc = Listener(flag: "--grpc-port", key: "grpc.port")
    }

    /// The address as configured (`127.0.0.1:8080`, `[::1]:8080`).
    public var address: String
    /// Why, in words: `address already in use`.
    public var reason: String
    /// What to change: `pick another with --port (or NEWSROOM_PORT)`.
    public var hint: String
    /// The error the socket layer reported.
    public var cause: any Error

    public var description: String { "cannot listen on \(self.address): \(self.reason) — \(self.hint)" }

    /// Describes `cause`, the failure to bind `host`:`port` for `listener`.
    public init(host: String, port: Int, listener: Listener, cause: any Error) {
        self.address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        self.cause = cause
        let portSetting = "\(listener.flag) (or \(ConfigurationKey.environmentVariable(for: listener.key)))"
        let hostSetting = "--host (or NEWSROOM_HOST)"
        switch (cause as? IOError)?.errnoCode {
        case EADDRINUSE?:
            self.reason = "address already in use"
            self.hint = "pick another with \(portSetting)"
        case EACCES?:
            self.reason = "permission denied"
            self.hint = "ports below 1024 need privileges: pick another with \(portSetting)"
        case EADDRNOTAVAIL?:
            self.reason = "this machine has no such address"
            self.hint = "change \(hostSetting)"
        case let code?:
            self.reason = String(cString: strerror(code)).lowercased()
            self.hint = "check \(hostSetting) and \(portSetting)"
        case nil:
            if cause is SocketAddressError {
                self.reason = "cannot resolve the host"
                self.hint = "change \(hostSetting)"
            } else {
                self.reason = "\(cause)"
                self.hint = "check \(hostSetting) and \(portSetting)"
            }
        }
    }
}
