import Foundation
import NIOCore
import NIOPosix

/// A throwaway `redis-server` on a loopback port, with no persistence, in its own temporary directory.
///
/// Never the system service: each test starts its own and stops it at the end.
final class RedisServer: @unchecked Sendable {
    // @unchecked: `process` is replaced only by `restart()`, which tests call from one task at a time.
    let port: Int
    let directory: URL
    private let extraArguments: [String]
    private var process: Process?

    static let executable = "/usr/bin/redis-server"
    static let cli = "/usr/bin/redis-cli"

    var url: String { "redis://127.0.0.1:\(self.port)" }

    private init(port: Int, directory: URL, arguments: [String]) {
        self.port = port
        self.directory = directory
        self.extraArguments = arguments
    }

    /// Starts a server on a free port (or `port`) and waits until it accepts connections.
    static func start(port: Int? = nil, arguments: [String] = []) async throws -> RedisServer {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestSetupError("redis-server is not installed (apt-get install -y redis-server)")
        }
        var chosen = port
        if chosen == nil { chosen = try await freePort() }
        let port = chosen!
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("newsroom-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = RedisServer(port: port, directory: directory, arguments: arguments)
        try await server.launch()
        return server
    }

    private func launch() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments =
            [
                "--port", "\(self.port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", self.directory.path, "--logfile", "redis.log",
            ] + self.extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try await Self.waitUntilAccepting(port: self.port, process: process)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    func kill() {
        guard let process = self.process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Starts the server again on the same port (after ``kill()``).
    func restart() async throws {
        try await self.launch()
    }

    /// Stops the server and removes its directory.
    ///
    /// SIGKILL, not SIGTERM: a child of the test process inherits its blocked-signal mask, in which SIGTERM
    /// is blocked, and there is nothing to save anyway.
    func stop() {
        self.kill()
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Runs `redis-cli` with `arguments` and returns its output.
    @discardableResult
    static func cli(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.cli)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    private static func waitUntilAccepting(port: Int, process: Process) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw TestSetupError("redis-server exited at start (port \(port))") }
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            {
                try? await channel.close()
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSetupError("redis-server did not accept connections on port \(port) within 10 s")
    }
}

/// A port nothing listens on right now.
func freePort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// Runs `body` with a fresh server, stopping it however `body` ends.
func withRedisServer<T>(
    arguments: [String] = [],
    _ body: (RedisServer) async throws -> T
) async throws -> T {
    let server = try await RedisServer.start(arguments: arguments)
    do {
        let result = try await body(server)
        server.stop()
        return result
    } catch {
        server.stop()
        throw error
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
