import ArgumentParser
import NewsroomServer

/// `newsroom config`: check a configuration without starting the hub, print the defaults, print the reference.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check a configuration, or print every key with its default.",
        subcommands: [Check.self, Defaults.self, Docs.self])

    /// `newsroom config check [FILE]`.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a config file, the NEWSROOM_* environment and any serve flags, without starting.",
            discussion: """
                Runs the checks `newsroom serve` runs before it starts: unknown keys and variables (with the \
                nearest known name), values of the wrong type, a file that is not JSON (with its line and column), \
                values that are not allowed. Prints 'configuration OK' and exits 0, or prints every mistake on \
                standard error and exits 1. FILE defaults to --config, then NEWSROOM_CONFIG; without any, only \
                the environment and the flags are checked.
                """)

        @Argument(help: "The JSON config file.") var file: String?
        @OptionGroup var options: ServerOptions

        func run() async throws {
            var options = self.options
            if let file = self.file { options.config = file }
            _ = try await options.load()
            FileHandleOutput.stdout("configuration OK\n")
        }
    }

    /// `newsroom config defaults`.
    struct Defaults: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every configuration key at its default.",
            discussion: """
                env (the default): an environment file, each key's documentation in a comment above it; keys \
                unset by default are commented out. For systemd's EnvironmentFile=, docker run --env-file, or \
                `set -a; . ./newsroom.env`. json: a config file for --config (JSON has no comments: \
                docs/configuration.md documents each key; null means unset).
                """)

        @Option(help: "env or json.") var format = "env"

        func validate() throws {
            guard ["env", "json"].contains(self.format) else { throw ValidationError("--format must be env or json") }
        }

        func run() async throws {
            FileHandleOutput.stdout(
                self.format == "json" ? ConfigurationKey.jsonDocument() : ConfigurationKey.environmentFileDocument())
        }
    }

    /// `newsroom config docs`: docs/configuration.md.
    struct Docs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the configuration reference (docs/configuration.md) in Markdown.")

        func run() async throws {
            FileHandleOutput.stdout(ConfigurationKey.markdownDocument())
        }
    }
}
