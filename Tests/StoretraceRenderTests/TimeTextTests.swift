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

    @Test func compactForFileNames() {
        #expect(TimeText.compactUTC(epochNanoseconds: epoch) == "20261123T140731Z")
        #expect(TimeText.compactUTC(epochNanoseconds: 0) == "19700101T000000Z")
    }
}
