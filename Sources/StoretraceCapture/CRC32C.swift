import CStoretraceCRC

/// CRC-32C (Castagnoli), as used by iSCSI, ext4 and btrfs.
///
/// Polynomial 0x1EDC6F41 (reflected form 0x82F63B78), initial value
/// 0xFFFFFFFF, input and output reflected, final XOR 0xFFFFFFFF.
/// Check value: CRC-32C("123456789") == 0xE3069283.
///
/// The CPU's CRC-32C instruction where it has one (SSE4.2, ARMv8 CRC);
/// otherwise software slicing-by-8 (eight 256-entry tables, 8 KiB).
public enum CRC32C {
    /// Whether `update` uses the CPU instruction (checked once).
    public static let usesHardware = st_crc32c_hw_available() == 1

    /// Checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0, bytes)
    }

    /// Checksum of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Continues a checksum: `update(checksum(a), b) == checksum(a + b)`.
    /// `crc` is a finished checksum value (0 for the empty string).
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        if usesHardware { return ~st_crc32c_hw(~crc, base, bytes.count) }
        return software(crc, bytes)
    }

    /// The table-driven form: CPUs without the instruction, and the tests'
    /// cross-check of the instruction.
    public static func software(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return crc }
        var n = bytes.count
        var c = ~crc
        return crc32cTables.withUnsafeBufferPointer { tb -> UInt32 in
            let t = tb.baseAddress!
            while n >= 8 {
                let w = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
                let lo = UInt32(truncatingIfNeeded: w) ^ c
                let hi = UInt32(truncatingIfNeeded: w &>> 32)
                c = t[7 &* 256 &+ Int(lo & 0xFF)]
                    ^ t[6 &* 256 &+ Int((lo &>> 8) & 0xFF)]
                    ^ t[5 &* 256 &+ Int((lo &>> 16) & 0xFF)]
                    ^ t[4 &* 256 &+ Int(lo &>> 24)]
                    ^ t[3 &* 256 &+ Int(hi & 0xFF)]
                    ^ t[2 &* 256 &+ Int((hi &>> 8) & 0xFF)]
                    ^ t[1 &* 256 &+ Int((hi &>> 16) & 0xFF)]
                    ^ t[Int(hi &>> 24)]
                p += 8
                n &-= 8
            }
            while n > 0 {
                let b = p.load(as: UInt8.self)
                c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c &>> 8)
                p += 1
                n &-= 1
            }
            return ~c
        }
    }
}

/// tables[k*256 + i]: table k of the slicing-by-8 scheme.
private let crc32cTables: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 8 * 256)
    for i in 0..<256 {
        var c = UInt32(i)
        for _ in 0..<8 {
            c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1
        }
        t[i] = c
    }
    for k in 1..<8 {
        for i in 0..<256 {
            let prev = t[(k - 1) * 256 + i]
            t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
        }
    }
    return t
}()
