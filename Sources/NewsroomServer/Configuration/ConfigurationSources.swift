import Configuration
import NewsroomControl
import NewsroomUpstream

/// A configuration mistake and where it was written: `config.json:3:5`, `NEWSROOM_PORT`, `--port`.
public struct ConfigurationProblem: Sendable, Hashable, CustomStringConvertible {
    /// Where: a file with line and column, an environment variable, or a flag.
    public var source: String
    /// What is wrong, and what to write instead when there is a near miss.
    public var message: String

    public var description: String { "\(self.source): \(self.message)" }
}

/// Every mistake found in the configuration's sources; nothing was started.
public struct ConfigurationProblems: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigurationProblem]
    public var description: String { self.problems.map(\.description).joined(separator: "\n") }
}

/// The three sources of the configuration — flags, `NEWSROOM_*` environment variables and a JSON
/// file, in that order of precedence — checked against ``ConfigurationKey/all``: unknown keys and
/// values of the wrong type are ``problems`` naming their source (with a suggestion for a near miss).
struct ConfigurationSources: Sendable {
    struct Setting: Sendable {
        var value: ConfigValue
        /// `NEWSROOM_PORT`, `config.json:3:5`, `--port`.
        var source: String
    }

    private(set) var flags: [String: Setting] = [:]
    private(set) var environment: [String: Setting] = [:]
    private(set) var file: [String: Setting] = [:]
    private(set) var problems: [ConfigurationProblem] = []

    /// - Parameters:
    ///   - flags: the parsed command-line flags by key (their types are the keys' own).
    ///   - environment: the process's environment; only `NEWSROOM_*` names are looked at.
    ///   - file: the config file's path (as given) and text, if there is one.
    init(flags: [AbsoluteConfigKey: ConfigValue], environment: [String: String], file: (path: String, text: String)?) {
        for (key, value) in flags {
            let name = key.components.joined(separator: ".")
            let known = ConfigurationKey.named(name)
            precondition(known != nil, "flag for the undeclared configuration key \(name)")
            self.flags[name] = Setting(value: value, source: known?.flag ?? name)
        }
        var fileEntries: [ConfigurationFile.Entry] = []
        if let file {
            do {
                fileEntries = try ConfigurationFile(parsing: file.text).entries
            } catch {
                self.problems.append(
                    .init(
                        source: "\(file.path):\(error.line):\(error.column)",
                        message: "not valid JSON: \(error.message)"))
            }
        }
        // The provider ids: the built-in ones and those listed in `providers` (a flag, the environment or the file).
        var ids = Set(ProviderConfiguration.defaults.keys)
        let listed =
            environment["NEWSROOM_PROVIDERS"]
            ?? fileEntries.last(where: { $0.key == "providers" }).flatMap { entry -> String? in
                switch entry.value {
                case .string(let text): text
                case .array(let items):
                    items.compactMap { if case .string(let s) = $0 { s } else { nil } }.joined(separator: ",")
                default: nil
                }
            }
        if let listed {
            ids.formUnion(listed.split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty })
        }

        for (variable, text) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix("NEWSROOM_") {
            if ConfigurationKey.otherEnvironmentVariables[variable] != nil { continue }
            switch Self.resolveVariable(variable, providerIDs: ids) {
            case .key(let name, let type, let secret):
                switch Self.parse(text, as: type, name: name) {
                case .success(let content):
                    self.environment[name] = Setting(value: ConfigValue(content, isSecret: secret), source: variable)
                case .failure(let message):
                    let shown = secret ? "" : "=\(text)"
                    self.problems.append(.init(source: variable + shown, message: message.message))
                }
            case .unknown(let message):
                self.problems.append(.init(source: variable, message: message))
            }
        }

        guard let file else { return }
        for entry in fileEntries {
            let source = "\(file.path):\(entry.line):\(entry.column)"
            if case .null = entry.value { continue }
            switch Self.resolveFileKey(entry.key, providerIDs: ids) {
            case .key(let name, let type, let secret):
                switch Self.content(entry.value, as: type, name: name) {
                case .success(let content):
                    self.file[name] = Setting(value: ConfigValue(content, isSecret: secret), source: source)
                case .failure(let failure):
                    self.problems.append(.init(source: source, message: failure.message))
                }
            case .unknown(let message):
                self.problems.append(.init(source: source, message: message))
            }
        }
    }

    /// The providers for a ``ConfigReader``, highest precedence first.
    var providers: [any ConfigProvider] {
        func values(_ settings: [String: Setting]) -> [AbsoluteConfigKey: ConfigValue] {
            var values: [AbsoluteConfigKey: ConfigValue] = [:]
            for (name, setting) in settings {
                values[AbsoluteConfigKey(name.split(separator: ".").map(String.init))] = setting.value
            }
            return values
        }
        return [
            InMemoryProvider(name: "flags", values: values(self.flags)),
            InMemoryProvider(name: "environment", values: values(self.environment)),
            InMemoryProvider(name: "file", values: values(self.file)),
        ]
    }

    /// Where the value in effect for `name` was written, if anywhere.
    func source(of name: String) -> String? {
        (self.flags[name] ?? self.environment[name] ?? self.file[name])?.source
    }

    // MARK: Resolving names

    enum Resolution {
        case key(name: String, type: ConfigurationKey.ValueType, secret: Bool)
        case unknown(String)
    }

    static func resolveVariable(_ variable: String, providerIDs: Set<String>) -> Resolution {
        if let key = ConfigurationKey.byEnvironmentVariable[variable] {
            return .key(name: key.name, type: key.type, secret: key.isSecret)
        }
        let providerPrefix = "NEWSROOM_PROVIDER_"
        if variable.hasPrefix(providerPrefix) {
            let rest = String(variable.dropFirst(providerPrefix.count))
            // The longest id first: `OPENAI_RESPONSES_BASE_URL` is openai-responses, not openai.
            for id in providerIDs.sorted(by: { $0.count > $1.count }) {
                let idName = ConfigurationKey.upperSnakeCase(id) + "_"
                guard rest.hasPrefix(idName) else { continue }
                let fieldName = rest.dropFirst(idName.count)
                if let field = ConfigurationKey.providerFields.first(where: {
                    ConfigurationKey.upperSnakeCase($0.name) == fieldName
                }) {
                    return .key(name: "provider.\(id).\(field.name)", type: field.type, secret: field.isSecret)
                }
                let candidates = ConfigurationKey.providerFields.map {
                    providerPrefix + idName + ConfigurationKey.upperSnakeCase($0.name)
                }
                return .unknown(
                    "not a setting of provider '\(id)' (its settings: "
                        + candidates.joined(separator: ", ") + ")"
                        + Self.suggestion(variable, among: candidates, quoted: false))
            }
            return .unknown(
                "names no provider: the providers are \(providerIDs.sorted().joined(separator: ", ")); "
                    + "list others in NEWSROOM_PROVIDERS (or the file's \"providers\")")
        }
        var candidates = ConfigurationKey.all.map(\.environmentVariable)
        candidates += ConfigurationKey.otherEnvironmentVariables.keys
        return .unknown("unknown variable" + Self.suggestion(variable, among: candidates, quoted: false))
    }

    static func resolveFileKey(_ key: String, providerIDs: Set<String>) -> Resolution {
        if let known = ConfigurationKey.named(key) {
            return .key(name: known.name, type: known.type, secret: known.isSecret)
        }
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.first == "provider" {
            guard parts.count == 3 else {
                return .unknown("\"\(key)\": provider settings are provider.<id>.<setting>")
            }
            guard providerIDs.contains(parts[1]) else {
                return .unknown(
                    "\"\(key)\": no provider '\(parts[1])': the providers are "
                        + "\(providerIDs.sorted().joined(separator: ", ")); list others in \"providers\""
                        + Self.suggestion(parts[1], among: Array(providerIDs), quoted: true))
            }
            if let field = ConfigurationKey.providerFields.first(where: { $0.name == parts[2] }) {
                return .key(name: key, type: field.type, secret: field.isSecret)
            }
            return .unknown(
                "\"\(key)\": unknown provider setting (one of \(ConfigurationKey.providerFields.map(\.name).joined(separator: ", ")))"
                    + Self.suggestion(parts[2], among: ConfigurationKey.providerFields.map(\.name), quoted: true))
        }
        // A key of the hub given an object: `{"port": {"x": 1}}`.
        if let parent = ConfigurationKey.all.first(where: { key.hasPrefix($0.name + ".") }) {
            return .unknown("\"\(parent.name)\" must be \(Self.article(parent.type)), not an object")
        }
        var candidates = ConfigurationKey.all.map(\.name)
        candidates += providerIDs.flatMap { id in ConfigurationKey.providerFields.map { "provider.\(id).\($0.name)" } }
        return .unknown("unknown key \"\(key)\"" + Self.suggestion(key, among: candidates, quoted: true))
    }

    // MARK: Values

    static func article(_ type: ConfigurationKey.ValueType) -> String {
        switch type.kind {
        case .string: "a string"
        case .int: "an integer"
        case .number: "a number"
        case .seconds: "a number of seconds"
        case .duration: "a duration such as \"40ms\", \"0.5s\" or \"0\""
        case .bool: "true or false"
        case .list: "a comma-separated string"
        case .path: "a file path (a string)"
        }
    }

    /// An environment variable's text as a value of `type`, or what is wrong with it.
    static func parse(_ text: String, as type: ConfigurationKey.ValueType, name: String) -> Result<
        ConfigContent, Failure
    > {
        let trimmed = String(text.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
        let wrong = Failure("\(name) must be \(Self.article(type))")
        switch type.kind {
        case .int:
            guard let value = Int(trimmed) else { return .failure(wrong) }
            return .success(.int(value))
        case .number, .seconds:
            guard let value = Double(trimmed), value.isFinite else { return .failure(wrong) }
            return .success(.double(value))
        case .bool:
            switch trimmed.lowercased() {
            case "true", "1", "yes": return .success(.bool(true))
            case "false", "0", "no": return .success(.bool(false))
            default: return .failure(wrong)
            }
        case .duration:
            do {
                _ = try ControlService.duration(trimmed, name: name)
                return .success(.string(trimmed))
            } catch {
                return .failure(wrong)
            }
        case .string, .list, .path:
            return .success(.string(text))
        }
    }

    /// A JSON value as a value of `type`, or what is wrong with it.
    static func content(_ value: ConfigurationFile.Value, as type: ConfigurationKey.ValueType, name: String) -> Result<
        ConfigContent, Failure
    > {
        let found: String
        switch value {
        case .string(let text): found = "the string \"\(text.prefix(40))\""
        case .number(let literal): found = "the number \(literal)"
        case .bool(let flag): found = "\(flag)"
        default: found = value.typeName
        }
        let wrong = Failure("\"\(name)\" must be \(Self.article(type)), not \(found)")
        switch (type.kind, value) {
        case (.int, .number(let literal)):
            guard let int = Int(literal) else { return .failure(wrong) }
            return .success(.int(int))
        case (.number, .number(let literal)), (.seconds, .number(let literal)):
            guard let double = Double(literal), double.isFinite else { return .failure(wrong) }
            return .success(.double(double))
        case (.bool, .bool(let flag)):
            return .success(.bool(flag))
        case (.duration, .string(let text)), (.duration, .number(let text)):
            guard (try? ControlService.duration(text, name: name)) != nil else { return .failure(wrong) }
            return .success(.string(text))
        case (.string, .string(let text)), (.path, .string(let text)), (.list, .string(let text)):
            return .success(.string(text))
        case (.list, .array(let items)):
            var strings: [String] = []
            for item in items {
                guard case .string(let text) = item else { return .failure(wrong) }
                strings.append(text)
            }
            return .success(.string(strings.joined(separator: ",")))
        default:
            return .failure(wrong)
        }
    }

    struct Failure: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    // MARK: Near misses

    /// ` — did you mean "port"?` for the closest candidate, when it is close enough to be a typo.
    static func suggestion(_ name: String, among candidates: [String], quoted: Bool) -> String {
        guard let best = Self.nearest(name, among: candidates) else { return "" }
        return quoted ? " — did you mean \"\(best)\"?" : " — did you mean \(best)?"
    }

    /// The candidate within typo distance of `name` (case-insensitive edit distance with transpositions:
    /// at most 1 for names up to 7 characters, 2 up to 11, then 3), the nearest first.
    static func nearest(_ name: String, among candidates: [String]) -> String? {
        let stripped = Self.unprefixed(name)
        let allowed = stripped.count <= 7 ? 1 : stripped.count <= 11 ? 2 : 3
        var best: (candidate: String, distance: Int)?
        for candidate in candidates.sorted() {
            let distance = Self.editDistance(stripped.lowercased(), Self.unprefixed(candidate).lowercased())
            if distance <= allowed, distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        return best?.candidate
    }

    private static func unprefixed(_ name: String) -> String {
        name.hasPrefix("NEWSROOM_") ? String(name.dropFirst("NEWSROOM_".count)) : name
    }

    /// The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
    /// neighbours each cost 1 (`prot` → `port` is 1).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
