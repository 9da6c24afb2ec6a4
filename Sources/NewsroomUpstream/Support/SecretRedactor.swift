/// Removes API keys from text that leaves the hub (error messages in events, logs, error bodies).
///
/// Providers sometimes echo the key they were sent (OpenAI's 401: "Incorrect API key provided:
/// sk-…"), in full or masked. The redactor replaces the configured key wherever it appears, and any
/// word that looks like a provider key (`sk-`, `sk_`, `AIza`, `hf_`, … followed by at least 8 key
/// characters, masking `*`s included) with `[redacted]`.
struct SecretRedactor: Sendable {
    static let replacement = "[redacted]"
    /// Prefixes of well-known key formats.
    static let keyPrefixes = ["sk-", "sk_", "AIza", "hf_", "gsk_", "xai-", "pplx-", "r8_", "nvapi-"]

    /// The exact secrets to remove.
    let secrets: [String]

    init(secrets: [String?]) {
        self.secrets = secrets.compactMap { $0 }.filter { $0.utf8.count >= 4 }.sorted { $0.utf8.count > $1.utf8.count }
    }

    func redact(_ text: String) -> String {
        var text = text
        for secret in self.secrets where text.contains(secret) {
            text = text.replacing(secret, with: Self.replacement)
        }
        return Self.redactKeyLikeWords(text)
    }

    static func isKeyCharacter(_ character: Character) -> Bool {
        character.isASCII
            && (character.isLetter || character.isNumber || character == "-" || character == "_" || character == "*")
    }

    /// Replaces words that start with a known key prefix and go on for at least 8 key characters.
    static func redactKeyLikeWords(_ text: String) -> String {
        guard Self.keyPrefixes.contains(where: { text.contains($0) }) else { return text }
        var result = ""
        var index = text.startIndex
        while index < text.endIndex {
            // Only at the start of a word.
            let atWordStart = index == text.startIndex || !Self.isKeyCharacter(text[text.index(before: index)])
            if atWordStart, let prefix = Self.keyPrefixes.first(where: { text[index...].hasPrefix($0) }) {
                var end = text.index(index, offsetBy: prefix.count)
                var length = 0
                while end < text.endIndex, Self.isKeyCharacter(text[end]) {
                    end = text.index(after: end)
                    length += 1
                }
                if length >= 8 {
                    result += Self.replacement
                    index = end
                    continue
                }
            }
            result.append(text[index])
            index = text.index(after: index)
        }
        return result
    }
}
