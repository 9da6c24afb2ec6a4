import ArgumentParser

@main
struct Newsroom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "newsroom",
        abstract: "A broadcast hub for AI token streams.",
        subcommands: [
            Serve.self, Demo.self, Publish.self, Subscribe.self, LoadTest.self, ReplayUpstreamCommand.self,
            ConfigCommand.self,
        ],
        defaultSubcommand: Serve.self)
}
