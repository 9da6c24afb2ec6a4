/// A JSON config file read into dotted keys, each with the line and column it was written at (RFC 8259).
///
/// Nested objects become dotted keys (`{"http": {"maxBodyBytes": 1}}` → `http.maxBodyBytes`); a dotted
/// name in one object (`{"http.maxBodyBytes": 1}`) means the same. Arrays and scalars are values;
/// `null` means "not set". A syntax error names the line and column where the file stops being JSON.
struct ConfigurationFile: Sendable {
    /// A JSON value.
    enum Value: Sendable, Equatable {
        case string(String)
        case number(String)  // the literal, so that integers stay exact
        case bool(Bool)
        case null
        case array([Value])
        case object

        var typeName: String {
            switch self {
            case .string: "a string"
            case .number: "a number"
            case .bool: "a boolean"
            case .null: "null"
            case .array: "an array"
            case .object: "an object"
            }
        }
    }

    /// One key and where it was written (the line and column of its name).
    struct Entry: Sendable, Equatable {
        var key: String
        var value: Value
        var line: Int
        var column: Int
    }

    /// A file that is not JSON: where, and why.
    struct SyntaxError: Error, Equatable {
        var line: Int
        var column: Int
        var message: String
    }

    /// The keys in the order written (leaf values only; an object holding nothing is not a key).
    var entries: [Entry]

    /// Parses `text`.
    ///
    /// - Throws: ``SyntaxError`` at the first character that is not JSON, or at the end of a truncated
    ///   file.
    init(parsing text: String) throws(SyntaxError) {
        var parser = Parser(bytes: Array(text.utf8))
        self.entries = try parser.document()
    }
}

extension ConfigurationFile {
    fileprivate struct Parser {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var lineStart = 0
        var entries: [Entry] = []

        init(bytes: [UInt8]) {
            self.bytes = bytes
            // A UTF-8 byte order mark is allowed before the document.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { self.index = 3 }
            self.lineStart = self.index
        }

        var column: Int { self.index - self.lineStart + 1 }

        func fail(_ message: String) -> SyntaxError {
            SyntaxError(line: self.line, column: self.column, message: message)
        }

        func unexpected(_ expected: String) -> SyntaxError {
            guard self.index < self.bytes.count else {
                return self.fail("the file ends where \(expected) should be (is it truncated?)")
            }
            let byte = self.bytes[self.index]
            let shown = (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : String(format: byte)
            return self.fail("expected \(expected), found \(shown)")
        }

        mutating func document() throws(SyntaxError) -> [Entry] {
            self.skipWhitespace()
            guard self.index < self.bytes.count else { return [] }
            guard self.bytes[self.index] == UInt8(ascii: "{") else {
                throw self.unexpected("a JSON object ('{')")
            }
            try self.object(prefix: nil)
            self.skipWhitespace()
            guard self.index == self.bytes.count else { throw self.unexpected("the end of the file") }
            return self.entries
        }

        mutating func skipWhitespace() {
            while self.index < self.bytes.count {
                switch self.bytes[self.index] {
                case UInt8(ascii: "\n"):
                    self.index += 1
                    self.line += 1
                    self.lineStart = self.index
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                    self.index += 1
                default:
                    return
                }
            }
        }

        mutating func expect(_ byte: UInt8, _ description: String) throws(SyntaxError) {
            self.skipWhitespace()
            guard self.index < self.bytes.count, self.bytes[self.index] == byte else {
                throw self.unexpected(description)
            }
            self.index += 1
        }

        /// An object at `prefix`; its members become entries.
        mutating func object(prefix: String?) throws(SyntaxError) {
            try self.expect(UInt8(ascii: "{"), "'{'")
            self.skipWhitespace()
            if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
                self.index += 1
                return
            }
            while true {
                self.skipWhitespace()
                guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\"") else {
                    throw self.unexpected("a key in double quotes")
                }
                let (line, column) = (self.line, self.column)
                let name = try self.string()
                let key = prefix.map { "\($0).\(name)" } ?? name
                try self.expect(UInt8(ascii: ":"), "':' after the key \"\(name)\"")
                self.skipWhitespace()
                if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "{") {
                    try self.object(prefix: key)
                } else {
                    let value = try self.value()
                    self.entries.append(Entry(key: key, value: value, line: line, column: column))
                }
                self.skipWhitespace()
                guard self.index < self.bytes.count else { throw self.unexpected("',' or '}'") }
                switch self.bytes[self.index] {
                case UInt8(ascii: ","): self.index += 1
                case UInt8(ascii: "}"):
                    self.index += 1
                    return
                default: throw self.unexpected("',' or '}'")
                }
            }
        }

        mutating func value() throws(SyntaxError) -> Value {
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.unexpected("a value") }
            switch self.bytes[self.index] {
            case UInt8(ascii: "\""): return .string(try self.string())
            case UInt8(ascii: "["): return try self.array()
            case UInt8(ascii: "{"):
                // An object inside an array: skipped as a value (no key of the hub takes one).
                let saved = self.entries
                try self.object(prefix: "")
                self.entries = saved
                return .object
            case UInt8(ascii: "t"): return try self.literal("true", .bool(true))
            case UInt8(ascii: "f"): return try self.literal("false", .bool(false))
            case UInt8(ascii: "n"): return try self.literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.number()
            default: throw self.unexpected("a value")
            }
        }

        mutating func literal(_ word: String, _ value: Value) throws(SyntaxError) -> Value {
            let expected = Array(word.utf8)
            guard self.bytes[self.index...].starts(with: expected) else { throw self.unexpected("a value") }
            self.index += expected.count
            return value
        }

        mutating func array() throws(SyntaxError) -> Value {
            self.index += 1  // [
            var values: [Value] = []
            self.skipWhitespace()
            if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "]") {
                self.index += 1
                return .array(values)
            }
            while true {
                values.append(try self.value())
                self.skipWhitespace()
                guard self.index < self.bytes.count else { throw self.unexpected("',' or ']'") }
                switch self.bytes[self.index] {
                case UInt8(ascii: ","): self.index += 1
                case UInt8(ascii: "]"):
                    self.index += 1
                    return .array(values)
                default: throw self.unexpected("',' or ']'")
                }
            }
        }

        mutating func number() throws(SyntaxError) -> Value {
            let start = self.index
            func digits(_ parser: inout Parser) -> Int {
                let from = parser.index
                while parser.index < parser.bytes.count,
                    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.index])
                {
                    parser.index += 1
                }
                return parser.index - from
            }
            if self.bytes[self.index] == UInt8(ascii: "-") { self.index += 1 }
            guard digits(&self) > 0 else { throw self.unexpected("a digit") }
            if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ".") {
                self.index += 1
                guard digits(&self) > 0 else { throw self.unexpected("a digit after '.'") }
            }
            if self.index < self.bytes.count, self.bytes[self.index] | 0x20 == UInt8(ascii: "e") {
                self.index += 1
                if self.index < self.bytes.count,
                    self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-")
                {
                    self.index += 1
                }
                guard digits(&self) > 0 else { throw self.unexpected("a digit in the exponent") }
            }
            return .number(String(decoding: self.bytes[start..<self.index], as: UTF8.self))
        }

        mutating func string() throws(SyntaxError) -> String {
            self.index += 1  // opening quote
            var scalars = String.UnicodeScalarView()
            var run = self.index
            func flush(_ parser: Parser, _ scalars: inout String.UnicodeScalarView, _ run: Int) {
                scalars.append(
                    contentsOf: String(decoding: parser.bytes[run..<parser.index], as: UTF8.self).unicodeScalars)
            }
            while true {
                guard self.index < self.bytes.count else { throw self.unexpected("the closing '\"' of a string") }
                let byte = self.bytes[self.index]
                switch byte {
                case UInt8(ascii: "\""):
                    flush(self, &scalars, run)
                    self.index += 1
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    flush(self, &scalars, run)
                    self.index += 1
                    guard self.index < self.bytes.count else { throw self.unexpected("an escape") }
                    let escaped = self.bytes[self.index]
                    self.index += 1
                    switch escaped {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try self.hex4()
                        if (0xD800..<0xDC00).contains(code), self.bytes[self.index...].starts(with: Array("\\u".utf8)) {
                            self.index += 2
                            let low = try self.hex4()
                            code = 0x10000 + ((code - 0xD800) << 10) + (low &- 0xDC00)
                        }
                        scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                    default:
                        self.index -= 1
                        throw self.unexpected("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
                    }
                    run = self.index
                case 0..<0x20:
                    throw self.fail("a control character in a string (a newline inside quotes?)")
                default:
                    self.index += 1
                }
            }
        }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            var code: UInt32 = 0
            for _ in 0..<4 {
                guard self.index < self.bytes.count, let digit = Self.hexValue(self.bytes[self.index]) else {
                    throw self.unexpected("a hex digit")
                }
                code = code << 4 | digit
                self.index += 1
            }
            return code
        }

        static func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
            default: nil
            }
        }
    }
}

extension String {
    fileprivate init(format byte: UInt8) {
        let hex = String(byte, radix: 16, uppercase: true)
        self = "byte 0x" + (hex.count == 1 ? "0" + hex : hex)
    }
}
