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
        for bits in 1..<64 { values += [(1 << bits) - 1, 1 << bits] } // where the digit-count guess changes
        for value in values {
            #expect(text { $0.appendDecimal(value) } == String(value))
        }
        #expect(text { $0.appendDecimal(Int64.min) } == "-9223372036854775808")
        #expect(text { $0.appendDecimal(Int32(-16)) } == "-16")
        #expect(text { $0.appendDecimal(7, width: 3) } == "007")
        #expect(text { $0.appendDecimal(123_456_789, width: 9) } == "123456789")
        #expect(text { $0.appendDecimal(0, width: 1) } == "0")
        #expect(text { $0.appendDecimal(5, width: 2) } == "05")
        #expect(text { $0.appendDecimal(42, width: 6) } == "000042")
        #expect(text { $0.appendDecimal(1234, width: 2) } == "1234") // wider than asked: whole
        #expect(text { $0.appendDecimal(-3, width: 2) } == "-3")
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

    /// Growing moves what was written; `removeAll` keeps the capacity and
    /// the next appends start at the front.
    @Test func growsKeepingContentsAndReusesItsMemory() {
        var out = OutputBuffer(capacity: 8) // raised to the minimum, 64
        for index in 0..<100 { out.appendDecimal(index % 10) }
        out.append(" end")
        #expect(out.count == 104 && out[99] == UInt8(ascii: "9") && out[103] == UInt8(ascii: "d"))
        #expect(String(decoding: out.bytes.prefix(12), as: UTF8.self) == "012345678901")
        out.removeAll()
        let emptied = out.isEmpty
        #expect(emptied)
        out.append("three")
        #expect(String(decoding: out.bytes, as: UTF8.self) == "three")
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
