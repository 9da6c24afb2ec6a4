import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NewsroomDemo

/// `newsroom replay-upstream`: a fake LLM provider serving recorded streams, for trying generations
/// and for load tests without keys (see ``ReplayUpstream``).
struct ReplayUpstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay-upstream",
        abstract: "Serve recorded provider streams (OpenAI, Anthropic, TGI, Ollama, Gemini, …) on loopback.")

    @Option(help: "The port (0 picks a free one).") var port: Int = 0
    @Option(help: "Milliseconds between events.") var eventDelayMs: Int = 15
    @Option(help: "A directory of extra transcripts (<provider>/<case>.sse|.ndjson).") var transcripts: String?

    func run() async throws {
        var configuration = ReplayUpstream.Configuration.defaults
        configuration.port = self.port
        configuration.eventDelay = .milliseconds(Int64(self.eventDelayMs))
        let upstream: ReplayUpstream
        if let transcripts = self.transcripts {
            upstream = try ReplayUpstream(
                directory: .init(fileURLWithPath: transcripts), configuration: configuration,
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        } else {
            upstream = ReplayUpstream(configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        }
        let port = try await upstream.start()
        print("newsroom replay-upstream: listening on http://127.0.0.1:\(port)")
        print("transcripts: \(upstream.transcriptNames.joined(separator: " "))")
        fflush(nil)
        // Runs until the process is interrupted.
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
