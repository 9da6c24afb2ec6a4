/// Topic names: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, other than `.` and `..` (path segments
/// that URL clients — curl, browsers, httpx — resolve away before sending, so such a topic could never be
/// reached).
public enum TopicName {
    /// The longest allowed name, in characters.
    public static let maxLength = 128

    /// Whether `name` is a valid topic name.
    public static func isValid(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= Self.maxLength, name != ".", name != ".." else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
                UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }
}
