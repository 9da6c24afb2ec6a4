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

/// Where the hub is and how to reach it: the options `publish` and `subscribe` share.
struct HubOptions: ParsableArguments {
    @Option(help: "The hub's base URL: http://HOST:PORT, or https://HOST:PORT for TLS.")
    var url: String = "http://127.0.0.1:8080"
    @Option(
        help: ArgumentHelp(
            "A PEM file holding the certificate authority (or the hub's self-signed certificate) to trust for an "
                + "https:// URL, instead of the system's trust store.", valueName: "pem-file"))
    var caCertificate: String?
    @Option(help: "A bearer token, sent as 'authorization: Bearer TOKEN'.") var token: String?

    func validate() throws {
        let url = self.url.lowercased()
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ValidationError("--url must look like http://HOST:PORT or https://HOST:PORT (got '\(self.url)')")
        }
        if let caCertificate {
            guard url.hasPrefix("https://") else { throw ValidationError("--ca-certificate needs an https:// --url") }
            guard access(caCertificate, R_OK) == 0 else {
                throw ValidationError("cannot read the --ca-certificate file '\(caCertificate)'")
            }
        }
    }

    var tls: ClientTLS? { self.caCertificate.map { .certificateAuthority(pemFile: $0) } }
    var headers: [(String, String)] { self.token.map { [("authorization", "Bearer \($0)")] } ?? [] }
}

/// `newsroom publish TOPIC`: publish NDJSON events from standard input.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish events to a topic: one JSON event object per line on standard input.",
        discussion: """
            A hub that cannot be reached, or that refuses a batch (its status, code and message are printed), \
            ends the command at once with exit status 1.
            """)

    @Argument(help: "The topic.") var topic: String
    @OptionGroup var hub: HubOptions
    @Option(help: "Most events per request; lines that arrive together are sent together.") var batch: Int = 500

    func run() async throws {
        var published = 0
        do {
            try await withHubClient(baseURL: self.hub.url, tls: self.hub.tls, headers: self.hub.headers) { client in
                var pending = ByteBuffer()
                var count = 0
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
            }
        } catch {
            if published > 0 { FileHandleOutput.stderr("newsroom: published \(published) events before the error\n") }
            throw CommandFailure.report(error)
        }
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
        abstract: "Print a topic's events (or, with --text, the assembled answer), resuming after drops.",
        discussion: """
            After a dropped connection (or a retryable notice such as server_shutdown) it reconnects with \
            exponential backoff and resumes after the last event it printed, reporting each attempt on \
            standard error. If the hub no longer has that point (resume_unavailable: it restarted, or evicted \
            the history), it says so on standard error and prints the answer again from what the hub holds. \
            It exits 0 after the topic's end, and 1 when the hub refuses the subscription or --max-retries \
            attempts in a row failed.
            """)

    @Argument(help: "The topic.") var topic: String
    @OptionGroup var hub: HubOptions
    @Flag(help: "Print the assembled answer text instead of event JSON.") var text = false
    @Option(help: "Resume after this seq.") var after: Int?
    @Option(help: "Slow-consumer policy: coalesce, drop_oldest, disconnect.") var policy: String?
    @Option(help: "sse, ws or grpc.") var transport = "sse"
    @Option(help: "The hub's gRPC port, on the host of --url (default: the port of --url, where the hub serves gRPC).")
    var grpcPort: Int?
    @Option(help: "Give up after this many reconnection attempts in a row failed (default: keep trying).")
    var maxRetries: Int?

    func validate() throws {
        if let maxRetries, maxRetries < 0 { throw ValidationError("--max-retries must be 0 or more") }
    }

    func run() async throws {
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
        options.maxRetries = self.maxRetries
        options.headers = self.hub.headers
        options.tls = self.hub.tls
        // Without --max-retries it never gives up, and says so with every attempt.
        let limit = self.maxRetries == nil ? " (no limit: --max-retries N gives up)" : ""
        options.onReconnect = { reconnection in FileHandleOutput.stderr("newsroom: \(reconnection)\(limit)\n") }
        var lastSeq = self.after
        var midLine = false  // --text printed text that did not end a line
        do {
            let subscription = try Subscription(
                url: self.hub.url, topic: self.topic, transport: transport, options: options)
            for try await event in subscription {
                if case .error(let notice) = event.payload, event.seq == nil, notice.code == "resume_unavailable" {
                    // Never print the answer twice without saying so.
                    if midLine { FileHandleOutput.stdout("\n") }
                    midLine = false
                    FileHandleOutput.stderr(
                        "newsroom: the hub no longer has the events after seq \(lastSeq ?? 0) (it restarted, or evicted "
                            + "them); the answer starts again from what it holds\n")
                }
                if let seq = event.seq { lastSeq = seq }
                guard self.text else {
                    FileHandleOutput.stdout(EventJSON.string(event) + "\n")
                    continue
                }
                switch event.payload {
                case .textDelta(let delta):
                    FileHandleOutput.stdout(delta.text)
                    if !delta.text.isEmpty { midLine = !delta.text.hasSuffix("\n") }
                case .error(let error) where event.seq != nil:
                    FileHandleOutput.stderr("\n[error \(error.code)] \(error.message)\n")
                case .streamComplete(let complete):
                    FileHandleOutput.stdout("\n")
                    midLine = false
                    FileHandleOutput.stderr("[\(complete.finishReason)]\n")
                default:
                    break  // notices without a seq are reported with the reconnection or the final error
                }
            }
        } catch {
            if midLine { FileHandleOutput.stdout("\n") }
            throw CommandFailure.report(error)
        }
    }
}

/// Prints a failure as one line on standard error and ends the command with exit status 1.
enum CommandFailure {
    /// Prints `newsroom: 403 forbidden: …`, `newsroom: cannot reach URL: connection refused`… for `error`;
    /// returns what to throw (`ExitCode.failure`, or `error` itself for ArgumentParser's own errors).
    static func report(_ error: any Error) -> any Error {
        if error is ValidationError || error is ExitCode || error is CancellationError { return error }
        FileHandleOutput.stderr("newsroom: \(error)\n")
        return ExitCode.failure
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
