import StoretraceDecode
import Testing
@testable import StoretraceRender

@Suite struct TimeTextTests {
    /// 2026-11-23T14:07:31.123456789Z.
    let epoch: Int64 = 1_795_442_851_123_456_789

    @Test func rfc3339() {
        #expect(TimeText.rfc3339(epochNanoseconds: epoch) == "2026-11-23T14:07:31.123456789Z")
        #expect(TimeText.rfc3339(epochNanoseconds: 0) == "1970-01-01T00:00:00.000000000Z")
        #expect(TimeText.rfc3339(epochNanoseconds: 1_709_164_800_000_000_001) == "2024-02-29T00:00:00.000000001Z")
    }

    @Test func timeOfDay() {
        var out = OutputBuffer()
        out.appendTimeOfDay(epochNanoseconds: epoch, utcOffsetSeconds: 0)
        out.append(" ")
        out.appendTimeOfDay(epochNanoseconds: epoch, utcOffsetSeconds: -5 * 3600) // microseconds, not rounded
        out.append(" ")
        out.appendTimeOfDay(epochNanoseconds: epoch, utcOffsetSeconds: 10 * 3600 + 1800)
        #expect(String(decoding: out.bytes, as: UTF8.self) == "14:07:31.123456 09:07:31.123456 00:37:31.123456")
    }

    /// Times at either end of Int64 with a UTC offset that takes them past
    /// it: the offset in nanoseconds overflowed and trapped (the
    /// syscall-record fuzz target's finding; a capture's timestamps are
    /// whatever the file says).
    @Test func offsetPastTheEndsOfInt64DoesNotTrap() {
        var out = OutputBuffer()
        out.appendTimeOfDay(epochNanoseconds: .max, utcOffsetSeconds: 3600)
        out.append(" ")
        out.appendTimeOfDay(epochNanoseconds: .min, utcOffsetSeconds: -3600)
        #expect(String(decoding: out.bytes, as: UTF8.self) == "00:47:16.854775 23:12:43.145224")
        let late = CivilTime(epochNanoseconds: .max, utcOffsetSeconds: 3600) // 2262-04-11T23:47:16.854775807Z
        #expect([late.year, late.month, late.day, late.hour, late.minute, late.second, late.nanosecond]
                == [2262, 4, 12, 0, 47, 16, 854_775_807])
        let early = CivilTime(epochNanoseconds: .min, utcOffsetSeconds: -3600) // 1677-09-21T00:12:43.145224192Z
        #expect([early.year, early.month, early.day, early.hour, early.minute, early.second, early.nanosecond]
                == [1677, 9, 20, 23, 12, 43, 145_224_192])
    }

    @Test func compactForFileNames() {
        #expect(TimeText.compactUTC(epochNanoseconds: epoch) == "20261123T140731Z")
        #expect(TimeText.compactUTC(epochNanoseconds: 0) == "19700101T000000Z")
    }
}
