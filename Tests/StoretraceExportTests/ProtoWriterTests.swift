import Testing
@testable import StoretraceExport

/// The wire format, byte by byte (protobuf encoding reference: a key is
/// field << 3 | wire type, as a varint).
@Suite struct ProtoWriterTests {
    @Test func varintsTakeSevenBitsPerByteLowFirst() {
        var out = ProtoWriter()
        out.appendVarint(1)
        out.appendVarint(300) // 0b10_0101100: 0xAC (0x2C | continuation), 0x02
        out.appendVarint(UInt64.max) // nine bytes of 7 ones, then the last bit
        #expect(out.bytes == [0x01, 0xAC, 0x02] + Array(repeating: 0xFF, count: 9) + [0x01])
    }

    @Test func scalarFields() {
        var out = ProtoWriter()
        out.uint(9, 3)          // key 9<<3|0 = 0x48, value 3
        out.int(4, -1)          // key 0x20, -1 as ten bytes of two's complement
        out.bool(2, true)       // key 0x10, 1
        out.fixed64(47, 0x0102_0304_0506_0708) // key 47<<3|1 = 377: 0xF9 0x02; value little-endian
        out.double(44, 1.5)     // key 44<<3|1 = 353: 0xE1 0x02; 0x3FF8000000000000 little-endian
        #expect(out.bytes == [0x48, 0x03]
            + [0x20] + Array(repeating: 0xFF, count: 9) + [0x01]
            + [0x10, 0x01]
            + [0xF9, 0x02, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]
            + [0xE1, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F])
    }

    @Test func lengthDelimitedFieldsAndMessages() {
        var out = ProtoWriter()
        out.string(2, "ab")                  // key 2<<3|2 = 0x12, length 2, "ab"
        out.message(11) { $0.uint(9, 3) }    // key 11<<3|2 = 0x5A, length 2, then 0x48 0x03
        out.message(60) { _ in }             // key 60<<3|2 = 482: 0xE2 0x03, length 0
        #expect(out.bytes == [0x12, 0x02, 0x61, 0x62, 0x5A, 0x02, 0x48, 0x03, 0xE2, 0x03, 0x00])
    }

    @Test func aLengthPastOneByteTakesTwo() {
        var out = ProtoWriter()
        out.lengthDelimited(1, [UInt8](repeating: 0x41, count: 200)) // 200 = 0xC8 0x01
        #expect(Array(out.bytes.prefix(3)) == [0x0A, 0xC8, 0x01])
        #expect(out.bytes.count == 203)
    }
}
