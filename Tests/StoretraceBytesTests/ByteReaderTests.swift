import StoretraceBytes
import Testing

@Suite struct ByteReaderTests {
    @Test func readsInTheDeclaredOrderAndNeverPastTheEnd() {
        let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05]
        bytes.withUnsafeBytes { raw in
            var little = ByteReader(raw, order: .little)
            #expect(little.read(UInt16.self) == 0x0201)
            #expect(little.read(UInt16.self) == 0x0403)
            #expect(little.read(UInt16.self) == nil, "one byte left")
            #expect(little.offset == 4, "a failed read consumes nothing")
            #expect(little.read(UInt8.self) == 5)
            var big = ByteReader(raw, order: .big)
            #expect(big.read(UInt32.self) == 0x0102_0304)
            #expect(big.peek(UInt16.self, at: 3) == 0x0405)
            #expect(big.peek(UInt16.self, at: 4) == nil)
            #expect(big.peek(UInt16.self, at: -1) == nil)
            let tooFar = big.skip(2), last = big.skip(1)
            #expect(!tooFar)
            #expect(last)
            #expect(big.remaining.isEmpty)
        }
    }

    @Test func fieldsOfAValidatedLayoutInEitherOrder() {
        // A 16-byte layout: u16 at 0, i32 at 2 (unaligned), u64 at 8.
        let bytes: [UInt8] = [
            0x34, 0x12,              // 0: u16 0x1234 little-endian
            0xFE, 0xFF, 0xFF, 0xFF,  // 2: i32 -2 little-endian
            0x00, 0x00,              // 6: padding
            0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // 8: u64
        ]
        bytes.withUnsafeBytes { raw in
            let little = ByteReader(raw, order: .little)
            #expect(little.field(UInt16.self, at: 0) == 0x1234)
            #expect(little.field(Int32.self, at: 2) == -2)
            #expect(little.field(UInt64.self, at: 8) == 0x0102_0304_0506_0708)
            #expect(little.field(UInt64.self, at: 8) == little.peek(UInt64.self, at: 8))
            let big = ByteReader(raw, order: .big)
            #expect(big.field(UInt16.self, at: 0) == 0x3412)
            #expect(big.field(Int32.self, at: 2) == -16_777_217) // 0xFEFFFFFF
            #expect(big.field(UInt64.self, at: 8) == 0x0807_0605_0403_0201)
            #expect(ByteReader(raw, order: .host).field(UInt16.self, at: 0) == raw.loadUnaligned(as: UInt16.self))
        }
    }
}
