import Foundation

/// One recorded provider response, as the ``ReplayUpstream`` serves it.
///
/// A transcript is named `<provider>/<case>` (`openai/text`, `anthropic/tool_use`) and is one of:
/// - a stream: the exact bytes of a `200` response body (`<case>.sse`, served as `text/event-stream`,
///   or `<case>.ndjson`, served as `application/x-ndjson`). The server sends it one event at a time —
///   an SSE event ends at a blank line (LF, CRLF or CR framing), an NDJSON event at a newline — with
///   ``ReplayUpstream/Configuration/eventDelay`` between events;
/// - an HTTP response (`<case>.http`): a status line, header lines, a blank line and the body, served
///   at once. Used for errors that come before any stream (`HTTP/1.1 429 Too Many Requests`,
///   `retry-after: 1`, then the JSON error).
public struct ReplayTranscript: Sendable, Hashable {
    /// What the transcript holds.
    public enum Content: Sendable, Hashable {
        /// A streamed `200` body and its content type.
        case stream(contentType: String, body: [UInt8])
        /// A complete HTTP response.
        case response(status: Int, headers: [Header], body: [UInt8])
    }

    /// One response header.
    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// `<provider>/<case>`.
    public var name: String
    public var content: Content

    public init(name: String, content: Content) {
        self.name = name
        self.content = content
    }

    /// The provider part of the name (`openai` for `openai/text`).
    public var provider: String { String(self.name.split(separator: "/").first ?? "") }

    /// Makes a transcript from a file's name and bytes: the extension decides the kind.
    /// - Parameters:
    ///   - name: `<provider>/<case>`, without extension.
    ///   - fileExtension: `sse`, `ndjson` or `http`.
    ///   - bytes: The file's bytes.
    /// - Returns: `nil` for another extension, or an `.http` file without a valid status line.
    public static func parse(name: String, fileExtension: String, bytes: [UInt8]) -> ReplayTranscript? {
        switch fileExtension {
        case "sse":
            return ReplayTranscript(name: name, content: .stream(contentType: "text/event-stream", body: bytes))
        case "ndjson":
            return ReplayTranscript(name: name, content: .stream(contentType: "application/x-ndjson", body: bytes))
        case "http":
            return Self.parseHTTP(name: name, bytes: bytes)
        default:
            return nil
        }
    }

    private static func parseHTTP(name: String, bytes: [UInt8]) -> ReplayTranscript? {
        var lines: [String] = []
        var index = 0
        var lineStart = 0
        var bodyStart = bytes.count
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                var line = bytes[lineStart..<index]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                if line.isEmpty {
                    bodyStart = index + 1
                    break
                }
                lines.append(String(decoding: line, as: UTF8.self))
                lineStart = index + 1
            }
            index += 1
        }
        guard let statusLine = lines.first else { return nil }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else { return nil }
        let headers = lines.dropFirst().compactMap { line -> Header? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return Header(
                name: String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                value: String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        return ReplayTranscript(
            name: name,
            content: .response(status: status, headers: headers, body: Array(bytes[min(bodyStart, bytes.count)...])))
    }

    /// Loads every transcript under `directory`: `<directory>/<provider>/<case>.{sse,ndjson,http}`.
    /// - Throws: The file system's errors.
    public static func load(directory: URL) throws -> [ReplayTranscript] {
        let manager = FileManager.default
        var transcripts: [ReplayTranscript] = []
        for provider in try manager.contentsOfDirectory(atPath: directory.path).sorted() {
            let folder = directory.appendingPathComponent(provider)
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                continue
            }
            for file in try manager.contentsOfDirectory(atPath: folder.path).sorted() {
                guard let dot = file.lastIndex(of: ".") else { continue }
                let base = String(file[..<dot])
                let fileExtension = String(file[file.index(after: dot)...])
                let data = try Data(contentsOf: folder.appendingPathComponent(file))
                if let transcript = Self.parse(
                    name: "\(provider)/\(base)", fileExtension: fileExtension, bytes: Array(data))
                {
                    transcripts.append(transcript)
                }
            }
        }
        return transcripts
    }

    /// Splits a stream body into the events the server sends one at a time: SSE events end at a blank
    /// line (any of LF, CRLF, CR framing), NDJSON events at a newline. Trailing bytes form a last event.
    public var events: [[UInt8]] {
        guard case .stream(let contentType, let body) = self.content else { return [] }
        var events: [[UInt8]] = []
        var start = 0
        var index = 0
        let ndjson = contentType.contains("ndjson")
        var previousLineEmpty = true  // at the start of a line, was the line before it empty?
        var lineLength = 0
        while index < body.count {
            let byte = body[index]
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                var end = index + 1
                if byte == UInt8(ascii: "\r"), end < body.count, body[end] == UInt8(ascii: "\n") { end += 1 }
                if ndjson || (lineLength == 0 && !previousLineEmpty) {
                    events.append(Array(body[start..<end]))
                    start = end
                    previousLineEmpty = true
                } else {
                    previousLineEmpty = lineLength == 0
                }
                lineLength = 0
                index = end
            } else {
                lineLength += 1
                index += 1
            }
        }
        if start < body.count { events.append(Array(body[start...])) }
        return events
    }
}
