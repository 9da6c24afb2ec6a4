import ArgumentParser
import NIOCore
import NewsroomClient
import NewsroomCore
import NewsroomWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `newsroom publish TOPIC`: publish NDJSON events from standard input.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish events to a topic: one JSON event object per line on standard input.")

    @Argument(help: "The topic.") var topic: String
    @Option(help: "The hub's base URL.") var url: String = "http://127.0.0.1:8080"
    @Option(help: "Most events per request; lines that arrive together are sent together.") var batch: Int = 500

    func run() async throws {
        let client = HubClient(baseURL: self.url)
        var pending = ByteBuffer()
        var count = 0
        var published = 0
        func send() async throws {
            guard count > 0 else { return }
            let range = try await client.publish(ndjson: pending, to: self.topic)
            published += range.count
            pending.clear()
            count = 0
        }
        while let line = readLine(strippingNewline: true) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            pending.writeString(line)
            pending.writeStaticString("\n")
            count += 1
            // Send when the batch is full or nothing more is waiting on stdin, so a live producer's
            // lines go out at once and a file goes out in large batches.
            if count >= self.batch || !Self.stdinHasData() {
                try await send()
            }
        }
        try await send()
        FileHandleOutput.stderr("published \(published) events to '\(self.topic)'\n")
    }

    static func stdinHasData() -> Bool {
        var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }
}

/// `newsroom subscribe TOPIC`: print a topic's events, resuming by itself after a dropped connection.
struct Subscribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a topic's events (or, with --text, the assembled answer), resuming after drops.")

    @Argument(help: "The topic.") var topic: String
    @Option(help: "The hub's base URL.") var url: String = "http://127.0.0.1:8080"
    @Flag(help: "Print the assembled answer text instead of event JSON.") var text = false
    @Option(help: "Resume after this seq.") var after: Int?
    @Option(help: "Slow-consumer policy: coalesce, drop_oldest, disconnect.") var policy: String?
    @Option(help: "sse, ws or grpc.") var transport = "sse"
    @Option(help: "The hub's gRPC port, on the host of --url (with --transport grpc).") var grpcPort = 50051

    func run() async throws {
        guard let (host, port) = Self.hostAndPort(self.url) else {
            throw ValidationError("--url must look like http://HOST:PORT")
        }
        let transport: Subscription.Transport
        switch self.transport {
        case "sse": transport = .sse
        case "ws", "websocket": transport = .webSocket
        case "grpc": transport = .grpc(port: self.grpcPort)
        default: throw ValidationError("--transport must be sse, ws or grpc")
        }
        var options = SubscriptionOptions()
        options.after = self.after
        options.policy = self.policy
        let subscription = Subscription(host: host, port: port, topic: self.topic, transport: transport, options: options)
        for try await event in subscription {
            if self.text {
                switch event.payload {
                case .textDelta(let delta): FileHandleOutput.stdout(delta.text)
                case .error(let error): FileHandleOutput.stderr("\n[error \(error.code)] \(error.message)\n")
                case .streamComplete(let complete): FileHandleOutput.stdout("\n"); FileHandleOutput.stderr("[\(complete.finishReason)]\n")
                default: break
                }
            } else {
                FileHandleOutput.stdout(EventJSON.string(event) + "\n")
            }
        }
    }

    static func hostAndPort(_ url: String) -> (String, Int)? {
        var rest = Substring(url)
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        let parts = rest.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { return nil }
        return (String(parts[0]), port)
    }
}

/// Unbuffered writes to stdout/stderr (so `subscribe --text` shows tokens as they arrive).
enum FileHandleOutput {
    static func stdout(_ string: String) { write(1, string) }
    static func stderr(_ string: String) { write(2, string) }
    private static func write(_ fd: Int32, _ string: String) {
        var string = string
        string.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                #if canImport(Darwin)
                let n = Darwin.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                #elseif canImport(Musl)
                let n = Musl.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                #else
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                #endif
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
