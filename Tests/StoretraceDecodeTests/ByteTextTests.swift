import Testing
@testable import StoretraceDecode

// The internal text helpers every parser relies on for bounds and overflow safety.
@Suite struct ByteTextTests {
    @Test func decimalRejectsEmptyNonDigitsAndOverflow() {
        ascii("18446744073709551615 18446744073709551616 12a").withUnsafeBytes { text in
            #expect(text.decimal(0..<20) == UInt64.max)
            #expect(text.decimal(21..<41) == nil)   // UInt64.max + 1
            #expect(text.decimal(42..<45) == nil)   // "12a"
            #expect(text.decimal(42..<44) == 12)
            #expect(text.decimal(0..<0) == nil)
        }
    }

    @Test func hexadecimalAcceptsBothCasesUpTo16Digits() {
        ascii("ffffffff81000000 FFFFFFFF81000000 10000000000000000 0x10").withUnsafeBytes { text in
            #expect(text.hexadecimal(0..<16) == 0xFFFF_FFFF_8100_0000)
            #expect(text.hexadecimal(17..<33) == 0xFFFF_FFFF_8100_0000)
            #expect(text.hexadecimal(34..<51) == nil)  // 17 digits
            #expect(text.hexadecimal(52..<56) == nil)  // no 0x prefix allowed
        }
    }

    @Test func trimmingAndComparisons() {
        ascii(" \tfield: u64 timestamp; \n").withUnsafeBytes { text in
            let trimmed = text.trimmed(0..<text.count)
            #expect(trimmed == 2..<23)  // "field: u64 timestamp;" is 21 bytes
            #expect(text.view(trimmed).starts(with: "field:"))
            #expect(text.view(trimmed).starts(with: "field: u64 timestamp; and more") == false)
            #expect(text.view(2..<8).equals("field:"))
            #expect(text.view(2..<8).equals("field") == false)
            #expect(text.trimmed(0..<2).isEmpty)
            #expect(text.rangeBeforeNul(0..<5) == 0..<5)
        }
        ascii("ab\0cd").withUnsafeBytes { text in
            #expect(text.rangeBeforeNul(0..<5) == 0..<2)
            #expect(text.firstIndex(of: 0x63, in: 0..<5) == 3)
            #expect(text.firstIndex(of: 0x63, in: 0..<3) == nil)
        }
    }
}
