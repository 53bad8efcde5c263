import Testing
@testable import StoretraceRender

@Suite struct OutputBufferTests {
    func text(_ build: (inout OutputBuffer) -> Void) -> String {
        var out = OutputBuffer(capacity: 8) // small: every test also grows it
        build(&out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func decimalsAtEveryDigitBoundary() {
        var values: [UInt64] = [0, 1, 9, UInt64.max, UInt64.max - 1]
        var power: UInt64 = 1
        for _ in 0..<19 {
            power *= 10
            values += [power - 1, power, power + 1]
        }
        for value in values {
            #expect(text { $0.appendDecimal(value) } == String(value))
        }
        #expect(text { $0.appendDecimal(Int64.min) } == "-9223372036854775808")
        #expect(text { $0.appendDecimal(Int32(-16)) } == "-16")
        #expect(text { $0.appendDecimal(7, width: 3) } == "007")
        #expect(text { $0.appendDecimal(123_456_789, width: 9) } == "123456789")
    }

    @Test func hexAndSpaces() {
        #expect(text { $0.appendHex(0) } == "0x0")
        #expect(text { $0.appendHex(0xffff_ffff_81d5_1da4) } == "0xffffffff81d51da4")
        #expect(text {
            $0.append("abc")
            $0.insertSpaces(at: 1, count: 20)
        } == "a" + String(repeating: " ", count: 20) + "bc")
        #expect(text {
            $0.append("é")
            $0.pad(since: 0, to: 3)
            $0.append("|")
        } == "é  |")
    }

    /// A copy keeps its contents when the original goes on (copy on write).
    @Test func copiesAreIndependent() {
        var first = OutputBuffer(capacity: 8)
        first.append("one")
        var second = first
        second.append(" two")
        first.removeAll()
        first.append("three")
        #expect(String(decoding: first.bytes, as: UTF8.self) == "three")
        #expect(String(decoding: second.bytes, as: UTF8.self) == "one two")
        #expect(second.count == 7 && second[4] == UInt8(ascii: "t"))
    }

    @Test func jsonStringRunsAndEscapes() {
        let input = "plain/path \"q\" back\\slash tab\t nl\n del\u{7f} é"
        let rendered = text { out in
            var copy = input
            copy.withUTF8 { out.appendJSONString(UnsafeRawBufferPointer($0)) }
        }
        #expect(rendered == #""plain/path \"q\" back\\slash tab\t nl\n del\u007f é""#)
    }
}
