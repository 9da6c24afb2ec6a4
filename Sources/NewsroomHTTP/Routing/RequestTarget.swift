/// The path segments and query parameters of a request target (`/v1/topics/demo/events?after=3`).
///
/// Path segments are percent-decoded (RFC 3986 section 2.1), so `chat%3A42` — what a browser's
/// `encodeURIComponent("chat:42")` and Python's `quote` produce — names the topic `chat:42`. A segment
/// with a malformed escape is kept as it is (and then fails validation as a name).
struct RequestTarget {
    var segments: [String]
    var query: [String: String]

    init(_ uri: String) {
        // Split on the bytes of `?`, `/`, `&` and `=` (ASCII, so never inside a multi-byte character):
        // splitting the `String` itself walks it by grapheme clusters, which was most of this parse's
        // cost — and it runs for every request.
        let utf8 = uri.utf8
        let queryStart = utf8.firstIndex(of: UInt8(ascii: "?"))
        let pathBytes = utf8[..<(queryStart ?? utf8.endIndex)]
        self.segments = pathBytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map { bytes in
            let segment = Substring(bytes)
            return bytes.contains(UInt8(ascii: "%"))
                ? (Self.percentDecode(segment, plusIsSpace: false) ?? String(segment)) : String(segment)
        }
        var query: [String: String] = [:]
        if let queryStart {
            for pair in utf8[utf8.index(after: queryStart)...].split(separator: UInt8(ascii: "&")) {
                let equals = pair.firstIndex(of: UInt8(ascii: "="))
                guard let key = Self.percentDecode(Substring(pair[..<(equals ?? pair.endIndex)]), plusIsSpace: true) else {
                    continue
                }
                let value = equals.map { Self.percentDecode(Substring(pair[pair.index(after: $0)...]), plusIsSpace: true) ?? "" } ?? ""
                if query[key] == nil { query[key] = value }
            }
        }
        self.query = query
    }

    /// Decodes `%XX` escapes, and `+` as a space in a query (HTML form encoding); `nil` if an escape is
    /// malformed or the result is not UTF-8.
    static func percentDecode(_ string: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(string.utf8.count)
        var iterator = string.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
                else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
