import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads how long a provider asks to wait before a retry, as the official SDKs do
/// (`_parse_retry_after_header` in openai-python and anthropic-sdk-python): `retry-after-ms`
/// (milliseconds) first, then `retry-after` as seconds (fractions allowed) or as an HTTP-date.
enum RetryAfter {
    /// The delay the headers ask for, or `nil` when they ask for none (or for something unreadable).
    static func delay(from headers: HTTPHeaders, now: Date = Date()) -> TimeAmount? {
        if let value = headers.first(name: "retry-after-ms"), let milliseconds = Double(Self.trim(value)),
            milliseconds >= 0, milliseconds.isFinite
        {
            return .nanoseconds(Int64(min(milliseconds, 1e9) * 1_000_000))
        }
        guard let value = headers.first(name: "retry-after").map(Self.trim) else { return nil }
        if let seconds = Double(value), seconds >= 0, seconds.isFinite {
            return .nanoseconds(Int64(min(seconds, 1e6) * 1_000_000_000))
        }
        if let epoch = Self.httpDate(value) {
            let seconds = min(max(0, epoch - now.timeIntervalSince1970), 1e6)
            return .nanoseconds(Int64(seconds * 1_000_000_000))
        }
        return nil
    }

    /// Seconds since 1970 of an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Wed, 21 Oct 2015 07:28:00 GMT`.
    static func httpDate(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let monthIndex = months.firstIndex(of: String(parts[2])) else { return nil }
        let time = parts[4].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3, (1...31).contains(day), (0...23).contains(time[0]), (0...59).contains(time[1]),
            (0...60).contains(time[2])
        else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let month = monthIndex + 1
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86_400 + time[0] * 3600 + time[1] * 60 + time[2])
    }

    private static func trim(_ value: String) -> String {
        var trimmed = Substring(value)
        while trimmed.first == " " || trimmed.first == "\t" { trimmed = trimmed.dropFirst() }
        while trimmed.last == " " || trimmed.last == "\t" { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }
}
