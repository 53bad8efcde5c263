import Testing
@testable import StoretraceCapture

private func bitwiseCRC32C(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    }
    return ~c
}

@Suite struct CRC32CTests {
    @Test func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func rfc3720Vectors() {
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func matchesBitwiseReferenceAtAllLengthsAndAlignments() {
        var rng = SplitMix(seed: 42)
        let data = (0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for start in 0..<9 {
            for len in stride(from: 0, through: 280, by: 7) {
                let slice = Array(data[start..<(start + len)])
                #expect(CRC32C.checksum(slice) == bitwiseCRC32C(slice), "start \(start) len \(len)")
            }
        }
    }

    /// The CPU instruction and the tables agree on every length and
    /// alignment (on a CPU without it both are the tables).
    @Test func hardwareMatchesSoftware() {
        var rng = SplitMix(seed: 99)
        let data = (0..<4200).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        data.withUnsafeBytes { all in
            for start in 0..<9 {
                for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 176, 216, 1000, 4096] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + len)])
                    #expect(CRC32C.update(0x1234_5678, slice) == CRC32C.software(0x1234_5678, slice), "start \(start) len \(len)")
                    #expect(CRC32C.checksum(slice) == CRC32C.software(0, slice))
                }
            }
        }
        #if arch(x86_64)
        #expect(CRC32C.usesHardware, "every x86-64 CPU storetrace runs on in CI has SSE4.2")
        #endif
    }

    @Test func incrementalUpdate() {
        var rng = SplitMix(seed: 7)
        let data = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let whole = CRC32C.checksum(data)
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let a = CRC32C.checksum(Array(data[..<split]))
            let b = Array(data[split...]).withUnsafeBytes { CRC32C.update(a, $0) }
            #expect(b == whole)
        }
    }
}
