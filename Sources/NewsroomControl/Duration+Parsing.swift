import NIOCore

extension ControlService {
    /// Reads a duration as people write it in a query parameter or a setting: `40ms`, `0.5s`, `2s`,
    /// `250us`, or a bare number of milliseconds (`40`). `0` is zero.
    ///
    /// Hand-written: swift-configuration reads numbers and strings, and Foundation's `Duration` parsing
    /// is not available on Linux; this is the one parser of the API, the CLI and the configuration.
    /// - Throws: `bad_request` naming `name`, for anything else or a negative value.
    public static func duration(_ text: String, name: String) throws(ControlError) -> TimeAmount {
        let trimmed = text.trimmingPrefix(" ").reversed().trimmingPrefix(" ").reversed()
        let string = String(trimmed)
        let units: [(suffix: String, nanoseconds: Double)] = [("ms", 1e6), ("us", 1e3), ("µs", 1e3), ("ns", 1), ("s", 1e9)]
        var number = string
        var scale = 1e6  // a bare number is milliseconds
        for unit in units where string.hasSuffix(unit.suffix) {
            number = String(string.dropLast(unit.suffix.count))
            scale = unit.nanoseconds
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale < 9.2e18 else {
            throw ControlError.invalidArgument(
                "'\(name)' must be a duration such as 40ms, 0.5s or 0 (got '\(text.prefix(32))')")
        }
        return .nanoseconds(Int64(value * scale))
    }
}
