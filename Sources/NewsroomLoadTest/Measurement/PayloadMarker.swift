/// The marker the load tester writes at the start of every published event's text, and finds again on
/// receipt: `t=<send time, ns since 1970>;s=<per-topic sequence number>;` padded with `x` to the payload
/// size.
///
/// The marker makes each delivery self-describing whatever the server: the hub puts the text inside the
/// event JSON (`"text":"t=…;s=…;xxx"`), nchan passes the body through as the `data:` line. The sequence
/// number is the publisher's own, so loss, duplicates and reordering are measured the same way on both;
/// and since a coalesced replay concatenates the texts of the merged deltas, scanning for *every* marker in
/// a `data:` line counts each merged event once.
///
/// The scan looks for `=` with `memchr` and checks the byte before it: neither the hub's JSON keys, its
/// `ts` value, the padding nor a topic name (`[A-Za-z0-9._:-]`) contains `t=` or `s=`.
public enum PayloadMarker {
    /// The text of one event: the marker, then `x` up to `size` bytes (never shorter than the marker).
    public static func text(sentAt nanoseconds: Int64, sequence: Int, size: Int) -> String {
        var text = "t=\(nanoseconds);s=\(sequence);"
        if text.utf8.count < size {
            text.append(String(repeating: "x", count: size - text.utf8.count))
        }
        return text
    }

    /// Calls `body(sentAt, sequence)` for every complete marker in `bytes`, in order.
    @inline(__always)
    public static func scan(_ bytes: UnsafeRawBufferPointer, _ body: (Int64, Int) -> Void) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        var index = 1
        while index < count {
            // Find the next '=' from `index` on.
            guard let found = memchr(base + index, Int32(UInt8(ascii: "=")), count - index) else { return }
            let equals = base.distance(to: UnsafeRawPointer(found))
            index = equals + 1
            guard bytes[equals - 1] == UInt8(ascii: "t") else { continue }
            // t=<digits>;s=<digits>;
            var position = equals + 1
            guard let sentAt = Self.digits(bytes, &position), position + 2 < count,
                bytes[position] == UInt8(ascii: ";"), bytes[position + 1] == UInt8(ascii: "s"),
                bytes[position + 2] == UInt8(ascii: "=")
            else { continue }
            position += 3
            guard let sequence = Self.digits(bytes, &position), position < count,
                bytes[position] == UInt8(ascii: ";")
            else { continue }
            body(Int64(sentAt), sequence)
            index = position + 1
        }
    }

    @inline(__always)
    private static func digits(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) -> Int? {
        let start = position
        var value = 0
        while position < bytes.count, position - start < 19 {
            let byte = bytes[position]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
            value = value &* 10 &+ Int(byte &- UInt8(ascii: "0"))
            position += 1
        }
        return position > start ? value : nil
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
