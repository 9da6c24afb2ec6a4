import NIOCore

/// SplitMix64: a tiny deterministic generator, seeded from the input so a crash replays exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    /// Seeded with the FNV-1a hash of `bytes`, so the chunking is a function of the input alone.
    init(hashing bytes: UnsafeRawBufferPointer, salt: UInt64 = 0) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ salt
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        self.state = hash
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Ways of cutting an input into reads, as a network would.
enum Chunking {
    /// Cut points (ascending, within `0...count`, possibly repeated — an empty read must be harmless)
    /// chosen from the input's hash: mostly small reads, so line ends, CRLFs, BOMs and UTF-8 characters
    /// get split, with an occasional long one.
    static func cuts(count: Int, generator: inout SplitMix64) -> [Int] {
        guard count > 0 else { return [0, 0] }
        var cuts = [0]
        var position = 0
        while position < count {
            let roll = generator.next() % 16
            let size: Int
            switch roll {
            case 0: size = 0
            case 1...9: size = Int(generator.next() % 4) + 1
            case 10...13: size = Int(generator.next() % 32) + 1
            default: size = Int(generator.next() % UInt64(count)) + 1
            }
            position = min(count, position + size)
            cuts.append(position)
        }
        return cuts
    }

    /// The reads between consecutive cut points, as `ByteBuffer`s (slices of one copy of the input,
    /// so cutting into many small reads costs no allocation per read).
    static func buffers(_ data: UnsafeRawBufferPointer, cuts: [Int]) -> [ByteBuffer] {
        let whole = ByteBuffer(bytes: data)
        return zip(cuts, cuts.dropFirst()).map { start, end in
            whole.getSlice(at: whole.readerIndex + start, length: end - start)!
        }
    }

    /// The input cut at positions derived from it, with `salt` picking another set of cuts.
    static func derived(_ data: UnsafeRawBufferPointer, salt: UInt64 = 0) -> [ByteBuffer] {
        var generator = SplitMix64(hashing: data, salt: salt)
        return Self.buffers(data, cuts: Self.cuts(count: data.count, generator: &generator))
    }

    /// One read per byte (only for inputs up to `limit` bytes; `nil` otherwise).
    static func bytewise(_ data: UnsafeRawBufferPointer, limit: Int = 1024) -> [ByteBuffer]? {
        guard data.count <= limit else { return nil }
        return Self.buffers(data, cuts: Array(0...data.count))
    }
}
