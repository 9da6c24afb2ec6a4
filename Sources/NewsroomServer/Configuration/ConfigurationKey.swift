import NIOCore

/// One configuration key the hub reads: its dotted name, value type, default and documentation.
///
/// The same key is set by a config file (nested objects: `{"http": {"maxBodyBytes": 1048576}}`), by an
/// environment variable (``environmentVariable``: `NEWSROOM_HTTP_MAX_BODY_BYTES`) and, for some keys, by a
/// command-line flag (``flag``). ``ConfigurationKey/all`` is the one list of them: the sources are
/// checked against it (unknown keys and wrong types are errors), `docs/configuration.md` and
/// `newsroom config defaults` are generated from it, and a unit test checks that
/// ``NewsroomConfiguration/init(reader:)`` asks for exactly these keys with these types.
public struct ConfigurationKey: Sendable {
    /// What a key's value is, and how each source spells it.
    public struct ValueType: Sendable, Hashable, CustomStringConvertible {
        enum Kind: Sendable, Hashable {
            case string, int, number, seconds, duration, bool, list, path
        }
        let kind: Kind

        /// Text.
        public static let string = ValueType(kind: .string)
        /// A whole number (a JSON integer; digits in the environment).
        public static let int = ValueType(kind: .int)
        /// A number, fractions allowed.
        public static let number = ValueType(kind: .number)
        /// Seconds as a number, fractions allowed (`0.5`).
        public static let seconds = ValueType(kind: .seconds)
        /// A duration with its unit: `40ms`, `0.5s`, `250us`; a bare number is milliseconds.
        public static let duration = ValueType(kind: .duration)
        /// `true` or `false` (the environment also takes `1`/`0`, `yes`/`no`).
        public static let bool = ValueType(kind: .bool)
        /// Comma-separated text (a config file may also give a JSON array of strings).
        public static let list = ValueType(kind: .list)
        /// The path of a file.
        public static let path = ValueType(kind: .path)

        public var description: String {
            switch self.kind {
            case .string: "string"
            case .int: "integer"
            case .number: "number"
            case .seconds: "seconds"
            case .duration: "duration"
            case .bool: "boolean"
            case .list: "list"
            case .path: "path"
            }
        }
    }

    /// The dotted key, as in a config file: `http.maxBodyBytes`.
    public let name: String
    /// The value's type.
    public let type: ValueType
    /// What the key does (Markdown, one or two sentences).
    public let summary: String
    /// The command-line flag of `serve` and `demo` that sets it, if any: `--max-body-bytes`.
    public let flag: String?
    /// Whether the value is a secret (never printed).
    public let isSecret: Bool
    /// The default as written in a config file, or `nil` when unset by default.
    let defaultValue: @Sendable (NewsroomConfiguration) -> String?
    /// The default for the documentation when it depends on the machine (`threads`).
    let defaultDescription: String?

    init(
        _ name: String, _ type: ValueType, flag: String? = nil, secret: Bool = false,
        defaultDescription: String? = nil, _ summary: String,
        default defaultValue: @escaping @Sendable (NewsroomConfiguration) -> String?
    ) {
        self.name = name
        self.type = type
        self.flag = flag
        self.isSecret = secret
        self.summary = summary
        self.defaultValue = defaultValue
        self.defaultDescription = defaultDescription
    }

    /// The environment variable: `NEWSROOM_` and the key in upper snake case (`http.maxBodyBytes` →
    /// `NEWSROOM_HTTP_MAX_BODY_BYTES`, `auth.hs256Secret` → `NEWSROOM_AUTH_HS256_SECRET`).
    public var environmentVariable: String { Self.environmentVariable(for: self.name) }

    /// The default value as text (`8080`, `40ms`), `nil` when the key is unset by default.
    public var defaultText: String? { self.defaultValue(NewsroomConfiguration()) }

    /// `NEWSROOM_` and `name` in upper snake case: a word boundary before each capital that follows a
    /// lower-case letter or a digit, `.` and `-` as `_`.
    public static func environmentVariable(for name: String) -> String {
        "NEWSROOM_" + Self.upperSnakeCase(name)
    }

    static func upperSnakeCase(_ name: String) -> String {
        var result = ""
        var previous: Character? = nil
        for character in name {
            if character.isUppercase, let previous, previous.isLowercase || previous.isNumber {
                result.append("_")
            }
            result += character.isLetter || character.isNumber ? character.uppercased() : "_"
            previous = character
        }
        return result
    }
}

extension ConfigurationKey {
    /// The fields of one provider, `provider.<id>.<field>` (`NEWSROOM_PROVIDER_<ID>_<FIELD>`): the ids are the
    /// built-in providers and those listed in `providers`.
    public static let providerFields: [ConfigurationKey] = [
        ConfigurationKey(
            "adapter", .string,
            "The wire format of an extra provider (listed in `providers`): `openai`, `openai-responses`, "
                + "`anthropic`, `tgi`, `ollama` or `gemini`.", default: { _ in nil }),
        ConfigurationKey(
            "baseUrl", .string, "The provider's base URL; the adapter appends its path.", default: { _ in nil }),
        ConfigurationKey(
            "apiKey", .string, secret: true,
            "The provider's API key, sent only to the provider; a hosted provider without one is refused.",
            default: { _ in nil }),
        ConfigurationKey(
            "passCallerKey", .bool,
            "Requests proxied to this provider carry the caller's own key instead of `apiKey`.",
            default: { _ in "false" }),
    ]

    /// `NEWSROOM_*` variables that are not hub configuration: the config file's path, and the variables
    /// of the test suites and scripts (a hub started by them inherits these).
    public static let otherEnvironmentVariables: [String: String] = [
        "NEWSROOM_CONFIG": "the JSON config file (as `--config`)",
        "NEWSROOM_BINARY": "the binary the black-box tests run",
        "NEWSROOM_NO_SKIPS": "the black-box tests fail on any skip",
        "NEWSROOM_REQUIRE_BROWSER": "the browser tests must run",
        "NEWSROOM_UPDATE_SCREENSHOT": "the viewer test refreshes docs/viewer.png",
        "NEWSROOM_RECORD_TRANSCRIPTS": "the provider tests record transcripts",
        "NEWSROOM_FUZZ_TARGET": "scripts/fuzz: the fuzzing target",
        "NEWSROOM_FUZZ_UPSTREAM": "scripts/fuzz: fuzz the providers' decoders too",
    ]

    /// The key named `name` in ``all``.
    public static func named(_ name: String) -> ConfigurationKey? { Self.byName[name] }

    static let byName: [String: ConfigurationKey] = Dictionary(
        uniqueKeysWithValues: ConfigurationKey.all.map { ($0.name, $0) })
    static let byEnvironmentVariable: [String: ConfigurationKey] = Dictionary(
        uniqueKeysWithValues: ConfigurationKey.all.map { ($0.environmentVariable, $0) })
}

/// A default as a config file writes it: whole seconds without a fraction (`15`, `0.5`).
func secondsText(_ amount: TimeAmount) -> String {
    let seconds = Double(amount.nanoseconds) / 1e9
    return seconds == seconds.rounded() ? String(Int64(seconds)) : String(seconds)
}

/// A default duration with its unit (`40ms`, `25s`, `0`).
func durationText(_ amount: TimeAmount) -> String {
    let nanoseconds = amount.nanoseconds
    if nanoseconds == 0 { return "0" }
    if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
    if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
    if nanoseconds % 1_000 == 0 { return "\(nanoseconds / 1_000)us" }
    return "\(nanoseconds)ns"
}
