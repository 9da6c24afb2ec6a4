import NIOCore

/// The Redis Cluster hash slot of a key: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384.
///
/// The hash tag is the part between the first `{` and the first `}` after it, when that part is not empty
/// (Redis Cluster specification, "Hash tags"). Keys that share a tag share a slot, so one topic's keys
/// (`topic:{t1}:meta`, `topic:{t1}:log`) live on one node and one script can touch them all.
public enum RedisHashSlot {
    /// The number of slots in a cluster.
    public static let count = 16384

    /// The slot of `key`.
    public static func slot(for key: String) -> Int {
        var key = key
        return key.withUTF8 { Self.slot(forBytes: $0) }
    }

    /// The slot of a binary key.
    public static func slot(for key: ByteBuffer) -> Int {
        key.withUnsafeReadableBytes { Self.slot(forBytes: $0.bindMemory(to: UInt8.self)) }
    }

    /// The slot of a command argument (the key of a ``RedisCommand/routingKey``).
    public static func slot(for key: RedisArgument) -> Int {
        switch key.storage {
        case .string(let string): return Self.slot(for: string)
        default: return Self.slot(for: key.byteBuffer)
        }
    }

    static func slot(forBytes key: UnsafeBufferPointer<UInt8>) -> Int {
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
            close > open + 1
        {
            hashed = key[(open + 1)..<close]
        }
        return Int(Self.crc16(hashed) & 0x3FFF)
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as in the cluster specification.
    static func crc16<Bytes: Collection>(_ bytes: Bytes) -> UInt16 where Bytes.Element == UInt8 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ Self.table[Int((crc >> 8) ^ UInt16(byte)) & 0xFF]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
