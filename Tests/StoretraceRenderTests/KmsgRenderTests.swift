import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// /dev/kmsg records as `live --json` prints them.
@Suite struct KmsgRenderTests {
    func json(_ record: String) throws -> String {
        var out = OutputBuffer()
        try Array(record.utf8).withUnsafeBytes { bytes in
            let parsed = try KmsgRecord(parsing: bytes)
            JSONRenderer(clock: clock).renderKmsg(parsed, monotonic: 1_000_000_000, into: &out)
        }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// /dev/kmsg escapes every byte outside printable ASCII, UTF-8 included,
    /// as \xNN: JSON gets the text the kernel printed ("é", a real newline).
    @Test func messageIsUnescapedThenJSONEscaped() throws {
        // PRIORITY 12 = facility 1 (user) * 8 + level 4 (warning); seq 612; 1432459026 µs.
        let line = try json("12,612,1432459026,-;caf\\xc3\\xa9 \\x5c path\\x0asecond line\n")
        #expect(line.contains(#""level":"warning","priority":12,"facility":1,"seq":612,"kernel_time_us":1432459026,"#))
        #expect(line.contains(#""message":"café \\ path\nsecond line","#), "\(line)")
    }

    @Test func invalidUTF8BecomesReplacementAndControlBytesAreEscaped() throws {
        let line = try json("6,1,2,-;bad \\xff byte \\x01 bell\n SUBSYSTEM=block\n DEVICE=b7:0\n")
        #expect(line.contains(#""priority":6,"facility":0,"#))
        #expect(line.contains(#""message":"bad \#u{FFFD} byte \u0001 bell","subsystem":"block","device":"b7:0","resolved_device":null}"#), "\(line)")
    }
}
