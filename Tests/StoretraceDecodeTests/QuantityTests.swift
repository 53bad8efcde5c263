import Testing
@testable import StoretraceDecode

@Suite struct DurationTextTests {
    static let durations: [(String, UInt64)] = [
        ("812ns", 812),
        ("500us", 500_000),
        ("500µs", 500_000),
        ("10ms", 10_000_000),
        ("1.5s", 1_500_000_000),
        ("0.1s", 100_000_000),      // exact: no binary floating point in between
        (".5ms", 500_000),
        ("1.ms", 1_000_000),
        ("1.5m", 90_000_000_000),
        ("2h", 7_200_000_000_000),
        ("0.0000000015s", 1),       // below a nanosecond: dropped
        ("0", 0),                   // zero needs no unit
        ("0.0", 0),
        ("18446744073709551615ns", UInt64.max),
    ]

    @Test(arguments: durations)
    func reads(_ text: String, _ nanoseconds: UInt64) throws {
        #expect(try DurationText.nanoseconds(text) == nanoseconds)
    }

    @Test func aUnitIsRequired() {
        #expect(throws: QuantityError.missingUnit(units: "ns, us (or µs), ms, s, m, h")) { try DurationText.nanoseconds("10") }
        #expect(throws: QuantityError.missingUnit(units: DurationText.units)) { try DurationText.nanoseconds("1.5") }
        #expect(QuantityError.missingUnit(units: DurationText.units).description
                == "a unit is required: ns, us (or µs), ms, s, m, h")
    }

    @Test func badUnitsAndNumbers() {
        #expect(throws: QuantityError.unknownUnit("sec", units: DurationText.units)) { try DurationText.nanoseconds("10sec") }
        #expect(throws: QuantityError.unknownUnit("MS", units: DurationText.units)) { try DurationText.nanoseconds("10MS") }
        #expect(throws: QuantityError.notANumber) { try DurationText.nanoseconds("soon") }
        #expect(throws: QuantityError.notANumber) { try DurationText.nanoseconds("-5ms") }
        #expect(throws: QuantityError.notANumber) { try DurationText.nanoseconds(".s") }
        #expect(throws: QuantityError.empty) { try DurationText.nanoseconds("") }
    }

    /// The values that trapped the CLI (issue 13): each an error now.
    @Test func overflowIsAnError() throws {
        let tooLarge = QuantityError.tooLarge(limit: "5124095h")
        #expect(throws: tooLarge) { try DurationText.nanoseconds("99999999999999999999s") }
        #expect(throws: tooLarge) { try DurationText.nanoseconds("18446744073709551616ns") }
        #expect(throws: tooLarge) { try DurationText.nanoseconds("18446744074s") }
        #expect(throws: tooLarge) { try DurationText.nanoseconds("5124096h") }
        #expect(throws: tooLarge) { try DurationText.nanoseconds("18446744073.709551616s") }
        #expect(try DurationText.nanoseconds("18446744073.709551615s") == UInt64.max)
        #expect(try DurationText.nanoseconds("5124095h") == 5_124_095 * 3_600_000_000_000)
    }
}

@Suite struct ByteSizeTextTests {
    static let sizes: [(String, UInt64)] = [
        ("8M", 8 << 20),
        ("8m", 8 << 20),
        ("8MB", 8 << 20),
        ("8MiB", 8 << 20),
        ("64k", 64 << 10),
        ("512KiB", 512 << 10),
        ("2G", 2 << 30),
        ("2gib", 2 << 30),
    ]

    @Test(arguments: sizes)
    func reads(_ text: String, _ bytes: UInt64) throws {
        #expect(try ByteSizeText.bytes(text, bareBytes: false) == bytes)
        #expect(try ByteSizeText.bytes(text, bareBytes: true) == bytes)
    }

    @Test func bareBytesOnlyWhereAllowed() throws {
        #expect(try ByteSizeText.bytes("4096", bareBytes: true) == 4096)
        #expect(throws: QuantityError.missingUnit(units: "K, M, G (or KiB, MiB, GiB)")) {
            try ByteSizeText.bytes("4096", bareBytes: false)
        }
    }

    @Test func badSizes() throws {
        #expect(throws: QuantityError.unknownUnit("T", units: ByteSizeText.units)) { try ByteSizeText.bytes("1T", bareBytes: false) }
        #expect(throws: QuantityError.unknownUnit("IB", units: "bytes, " + ByteSizeText.units)) { try ByteSizeText.bytes("8IB", bareBytes: true) }
        #expect(throws: QuantityError.fraction) { try ByteSizeText.bytes("1.5G", bareBytes: false) }
        #expect(throws: QuantityError.zero) { try ByteSizeText.bytes("0M", bareBytes: false) }
        #expect(throws: QuantityError.notANumber) { try ByteSizeText.bytes("big", bareBytes: false) }
        #expect(throws: QuantityError.tooLarge(limit: "17179869183G")) { try ByteSizeText.bytes("17179869184G", bareBytes: false) }
        #expect(throws: QuantityError.tooLarge(limit: "17179869183G")) { try ByteSizeText.bytes("99999999999999999999", bareBytes: true) }
        #expect(try ByteSizeText.bytes("17179869183G", bareBytes: false) == 17_179_869_183 << 30)
    }
}

@Suite struct RFC3339Tests {
    static let times: [(String, Int64)] = [
        ("1970-01-01T00:00:00Z", 0),
        ("2026-11-23T14:07:31Z", 1_795_442_851_000_000_000),
        ("2026-11-23T14:07:31.123456789Z", 1_795_442_851_123_456_789),
        ("2026-11-23t14:07:31.5z", 1_795_442_851_500_000_000),
        ("2026-11-23 14:07:31.1234567891Z", 1_795_442_851_123_456_789), // digits past 9 dropped
        ("2026-11-23T15:07:31+01:00", 1_795_442_851_000_000_000),
        ("2026-11-23T09:37:31-04:30", 1_795_442_851_000_000_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000_000),               // a leap day
        ("2262-04-11T23:47:16.854775807Z", Int64.max),                     // the last nanosecond an Int64 holds
    ]

    @Test(arguments: times)
    func parses(_ text: String, _ epochNanoseconds: Int64) {
        #expect(RFC3339.parse(text) == epochNanoseconds)
    }

    @Test(arguments: [
        "", "2026-11-23", "2026-11-23T14:07:31", "2026-11-23T14:07:31.Z", "2026-13-01T00:00:00Z",
        "2026-11-23T24:00:00Z", "2026-11-23T14:07:31+0100", "2026-11-23T14:07:31+25:00", "2026-11-23T14:07:31Zjunk",
        "2026-11-23X14:07:31Z", "20x6-11-23T14:07:31Z",
        "1969-12-31T23:59:59Z",              // before the epoch: no capture holds it
        "2262-04-11T23:47:16.854775808Z",    // one nanosecond past Int64
        "9999-12-31T23:59:59Z",              // trapped the old parser
    ])
    func rejects(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }
}
