import Configuration
import NIOCore
import NewsroomCore
import NewsroomHTTP
import NewsroomUpstream
import Synchronization
import Testing

@testable import NewsroomServer

/// Records every key the reader asks for, with the type it asks for.
private final class KeyRecorder: AccessReporter, Sendable {
    let keys = Mutex<[String: ConfigType]>([:])
    func report(_ event: AccessEvent) {
        let name = event.metadata.key.components.joined(separator: ".")
        self.keys.withLock { $0[name] = event.metadata.valueType }
    }
}

@Suite("The declared configuration keys")
struct ConfigurationKeyTests {
    @Test("the reader asks for exactly the declared keys, with their types")
    func readerUsesTheTable() throws {
        let recorder = KeyRecorder()
        let reader = ConfigReader(provider: InMemoryProvider(values: [:]), accessReporter: recorder)
        _ = try NewsroomConfiguration(reader: reader)
        let asked = recorder.keys.withLock { $0 }.filter { !$0.key.hasPrefix("provider.") }
        #expect(Set(asked.keys) == Set(ConfigurationKey.all.map(\.name)))
        for key in ConfigurationKey.all {
            let expected: ConfigType =
                switch key.type.kind {
                case .int: .int
                case .number, .seconds: .double
                case .bool: .bool
                default: .string
                }
            #expect(asked[key.name] == expected, "\(key.name)")
        }
        let providerFields = Set(recorder.keys.withLock { $0 }.keys.filter { $0.hasPrefix("provider.openai.") })
        #expect(providerFields == Set(ConfigurationKey.providerFields.map { "provider.openai.\($0.name)" }))
    }

    @Test(
        "environment variable names",
        arguments: [
            ("port", "NEWSROOM_PORT"), ("http.maxBodyBytes", "NEWSROOM_HTTP_MAX_BODY_BYTES"),
            ("auth.hs256Secret", "NEWSROOM_AUTH_HS256_SECRET"), ("grpc.port", "NEWSROOM_GRPC_PORT"),
            ("limits.maxConnectionsPerIp", "NEWSROOM_LIMITS_MAX_CONNECTIONS_PER_IP"),
            ("provider.openai-responses.baseUrl", "NEWSROOM_PROVIDER_OPENAI_RESPONSES_BASE_URL"),
        ])
    func environmentNames(key: String, variable: String) {
        #expect(ConfigurationKey.environmentVariable(for: key) == variable)
    }

    @Test("names, flags and environment variables are unique")
    func unique() {
        #expect(Set(ConfigurationKey.all.map(\.name)).count == ConfigurationKey.all.count)
        #expect(Set(ConfigurationKey.all.map(\.environmentVariable)).count == ConfigurationKey.all.count)
        let flags = ConfigurationKey.all.compactMap(\.flag)
        #expect(Set(flags).count == flags.count)
    }

    @Test("every default is a valid value of its key")
    func defaultsAreValid() throws {
        for key in ConfigurationKey.all {
            guard let text = key.defaultText, !text.isEmpty else { continue }
            let parsed = ConfigurationSources.parse(text, as: key.type, name: key.name)
            #expect((try? parsed.get()) != nil, "\(key.name) = \(text)")
        }
    }

    @Test("edit distance counts a swap of neighbours as one")
    func editDistance() {
        #expect(ConfigurationSources.editDistance("prot", "port") == 1)
        #expect(ConfigurationSources.editDistance("", "abc") == 3)
        #expect(ConfigurationSources.editDistance("kitten", "sitting") == 3)
        #expect(ConfigurationSources.nearest("prot", among: ConfigurationKey.all.map(\.name)) == "port")
        #expect(
            ConfigurationSources.nearest("http.maxBodyByte", among: ConfigurationKey.all.map(\.name))
                == "http.maxBodyBytes")
        #expect(ConfigurationSources.nearest("zzzz", among: ConfigurationKey.all.map(\.name)) == nil)
    }
}

@Suite("Configuration sources")
struct ConfigurationSourcesTests {
    func problems(env: [String: String] = [:], file: String? = nil) -> [String] {
        ConfigurationSources(flags: [:], environment: env, file: file.map { ("c.json", $0) }).problems.map(
            \.description)
    }

    @Test("an unknown key in the file names the file, the line and the nearest key")
    func unknownFileKey() {
        #expect(problems(file: "{\n  \"prot\": 9000\n}") == [#"c.json:2:3: unknown key "prot" — did you mean "port"?"#])
        #expect(
            problems(file: #"{"http": {"maxBodyByte": 1}}"#)
                == [#"c.json:1:11: unknown key "http.maxBodyByte" — did you mean "http.maxBodyBytes"?"#])
        #expect(problems(file: #"{"nothingLikeIt": 1}"#) == [#"c.json:1:2: unknown key "nothingLikeIt""#])
    }

    @Test("an unknown NEWSROOM_ variable is an error with the nearest name; other variables are ignored")
    func unknownVariable() {
        #expect(
            problems(env: ["NEWSROOM_PROT": "1"]) == ["NEWSROOM_PROT: unknown variable — did you mean NEWSROOM_PORT?"])
        #expect(
            problems(env: ["NEWSROOM_AUTH_HS256SECRET": "x"]).first?.hasSuffix(
                "did you mean NEWSROOM_AUTH_HS256_SECRET?") == true)
        #expect(
            problems(env: ["HOME": "/", "NEWSROOM_BINARY": "x", "NEWSROOM_CONFIG": "x", "OTHER_PORT": "x"]).isEmpty)
    }

    @Test("wrong types are errors naming the source and the key")
    func wrongTypes() {
        #expect(
            problems(file: #"{"port": "abc"}"#) == [#"c.json:1:2: "port" must be an integer, not the string "abc""#])
        #expect(problems(file: #"{"port": 1.5}"#) == [#"c.json:1:2: "port" must be an integer, not the number 1.5"#])
        #expect(problems(file: #"{"metrics": {"enabled": "yes"}}"#).count == 1)
        #expect(problems(file: #"{"port": {"x": 1}}"#) == [#"c.json:1:11: "port" must be an integer, not an object"#])
        #expect(problems(env: ["NEWSROOM_PORT": "abc"]) == ["NEWSROOM_PORT=abc: port must be an integer"])
        #expect(problems(env: ["NEWSROOM_FLUSH_INTERVAL": "soon"]).count == 1)
        #expect(problems(env: ["NEWSROOM_AUTH_HS256_SECRET": "x"]).isEmpty)
        #expect(
            problems(env: ["NEWSROOM_METRICS_ENABLED": "maybe"]) == [
                "NEWSROOM_METRICS_ENABLED=maybe: metrics.enabled must be true or false"
            ])
    }

    @Test("values of the right type reach the reader; null is unset")
    func values() throws {
        let sources = ConfigurationSources(
            flags: [:], environment: ["NEWSROOM_PORT": "9001", "NEWSROOM_METRICS_ENABLED": "0"],
            file: (
                "c.json",
                #"{"port": 1, "threads": 3, "flush": {"interval": 10}, "log": {"level": null}, "cors": {"allowedOrigins": ["a", "b"]}}"#
            ))
        #expect(sources.problems.isEmpty)
        let configuration = try NewsroomConfiguration(reader: ConfigReader(providers: sources.providers))
        #expect(configuration.http.port == 9001)
        #expect(configuration.threads == 3)
        #expect(configuration.metricsEnabled == false)
        #expect(configuration.hub.flushInterval == .milliseconds(10))
        #expect(configuration.http.allowedOrigins == ["a", "b"])
        #expect(sources.source(of: "port") == "NEWSROOM_PORT")
        #expect(sources.source(of: "threads") == "c.json:1:13")
    }

    @Test("provider keys follow the provider pattern")
    func providers() throws {
        let sources = ConfigurationSources(
            flags: [:],
            environment: [
                "NEWSROOM_PROVIDER_OPENAI_RESPONSES_BASE_URL": "http://r", "NEWSROOM_PROVIDERS": "my-llama",
                "NEWSROOM_PROVIDER_MY_LLAMA_ADAPTER": "openai", "NEWSROOM_PROVIDER_MY_LLAMA_BASE_URL": "http://l",
            ],
            file: ("c.json", #"{"provider": {"anthropic": {"apiKey": "k"}}}"#))
        #expect(sources.problems.isEmpty)
        let configuration = try NewsroomConfiguration(reader: ConfigReader(providers: sources.providers))
        #expect(configuration.generations.providers["openai-responses"]?.baseURL == "http://r")
        #expect(configuration.generations.providers["my-llama"]?.baseURL == "http://l")
        #expect(configuration.generations.providers["anthropic"]?.apiKey == "k")

        #expect(
            problems(env: ["NEWSROOM_PROVIDER_OPENAI_BASE_ULR": "x"]).first?.contains(
                "did you mean NEWSROOM_PROVIDER_OPENAI_BASE_URL?") == true)
        #expect(problems(env: ["NEWSROOM_PROVIDER_NOPE_BASE_URL": "x"]).first?.contains("names no provider") == true)
        #expect(
            problems(file: #"{"provider": {"nope": {"baseUrl": "x"}}}"#).first?.contains("no provider 'nope'") == true)
        #expect(
            problems(file: #"{"provider": {"openai": {"apikey": "x"}}}"#).first?.contains(#"did you mean "apiKey"?"#)
                == true)
    }

    @Test("the generated defaults are a valid configuration, as a file and as an environment")
    func defaultsRoundTrip() throws {
        #expect(problems(file: ConfigurationKey.jsonDocument()).isEmpty)
        var environment: [String: String] = [:]
        for line in ConfigurationKey.environmentFileDocument().split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            environment[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        #expect(environment.count > 50)
        #expect(problems(env: environment).isEmpty)
        let sources = ConfigurationSources(
            flags: [:], environment: environment, file: ("c.json", ConfigurationKey.jsonDocument()))
        _ = try NewsroomConfiguration(reader: ConfigReader(providers: sources.providers))
    }

    @Test("a value that is not allowed names its source")
    func valueErrors() {
        #expect(throws: ConfigurationProblems.self) {
            try NewsroomConfiguration.load(overrides: [:], environment: ["NEWSROOM_THREADS": "0"], configFile: nil)
        }
        do {
            _ = try NewsroomConfiguration.load(overrides: [:], environment: ["NEWSROOM_THREADS": "0"], configFile: nil)
        } catch {
            #expect(error.description == "NEWSROOM_THREADS: threads must be positive")
        }
    }
}

@Suite("The config file's JSON")
struct ConfigurationFileTests {
    @Test("nested objects become dotted keys with their positions")
    func entries() throws {
        let file = try ConfigurationFile(
            parsing: "{\n  \"http\": {\"maxBodyBytes\": 64},\n  \"a\\u00e9\": [1, \"x\"], \"b\": -1.5e3\n}")
        #expect(
            file.entries == [
                .init(key: "http.maxBodyBytes", value: .number("64"), line: 2, column: 12),
                .init(key: "aé", value: .array([.number("1"), .string("x")]), line: 3, column: 3),
                .init(key: "b", value: .number("-1.5e3"), line: 3, column: 24),
            ])
    }

    @Test(
        "a truncated or broken file names the line and the column",
        arguments: [
            (
                "{\n  \"port\": 80,\n  \"host\": \"a", 3, 13,
                "the file ends where the closing '\"' of a string should be (is it truncated?)"
            ),
            ("{\n  \"port\": 80\n  \"host\": 1}", 3, 3, "expected ',' or '}', found '\"'"),
            ("{\"port\": 80,}", 1, 13, "expected a key in double quotes, found '}'"),
            ("[1]", 1, 1, "expected a JSON object ('{'), found '['"),
            ("{\"port\": tru}", 1, 10, "expected a value, found 't'"),
            ("{\"port\": 80", 1, 12, "the file ends where ',' or '}' should be (is it truncated?)"),
        ])
    func syntaxErrors(text: String, line: Int, column: Int, message: String) {
        #expect(throws: ConfigurationFile.SyntaxError(line: line, column: column, message: message)) {
            try ConfigurationFile(parsing: text)
        }
    }
}
