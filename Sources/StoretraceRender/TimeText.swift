import StoretraceDecode

/// The one home of time formatting: RFC 3339 UTC with nanoseconds (JSON,
/// snapshot, info), local HH:MM:SS.micro (the text view) and the compact
/// stamp in capture file names. Appends allocate nothing.
extension OutputBuffer {
    /// "2026-11-23T14:07:31.123456789Z", without quotes.
    public mutating func appendRFC3339(epochNanoseconds: Int64) {
        let time = CivilTime(epochNanoseconds: epochNanoseconds)
        appendDecimal(time.year, width: 4)
        append(UInt8(ascii: "-"))
        appendDecimal(time.month, width: 2)
        append(UInt8(ascii: "-"))
        appendDecimal(time.day, width: 2)
        append(UInt8(ascii: "T"))
        appendClock(time)
        append(UInt8(ascii: "."))
        appendDecimal(time.nanosecond, width: 9)
        append(UInt8(ascii: "Z"))
    }

    /// "14:07:31.123456": local time of day with microseconds.
    public mutating func appendTimeOfDay(epochNanoseconds: Int64, utcOffsetSeconds: Int) {
        let time = CivilTime(epochNanoseconds: epochNanoseconds, utcOffsetSeconds: utcOffsetSeconds)
        appendClock(time)
        append(UInt8(ascii: "."))
        appendDecimal(time.nanosecond / 1000, width: 6)
    }

    private mutating func appendClock(_ time: CivilTime) {
        appendDecimal(time.hour, width: 2)
        append(UInt8(ascii: ":"))
        appendDecimal(time.minute, width: 2)
        append(UInt8(ascii: ":"))
        appendDecimal(time.second, width: 2)
    }
}

public enum TimeText {
    /// "2026-11-23T14:07:31.123456789Z".
    public static func rfc3339(epochNanoseconds: Int64) -> String {
        var out = OutputBuffer(capacity: 32)
        out.appendRFC3339(epochNanoseconds: epochNanoseconds)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// "20261123T140731Z": RFC 3339's basic form to the second, UTC, for file names.
    public static func compactUTC(epochNanoseconds: Int64) -> String {
        let time = CivilTime(epochNanoseconds: epochNanoseconds)
        var out = OutputBuffer(capacity: 16)
        out.appendDecimal(time.year, width: 4)
        out.appendDecimal(time.month, width: 2)
        out.appendDecimal(time.day, width: 2)
        out.append(UInt8(ascii: "T"))
        out.appendDecimal(time.hour, width: 2)
        out.appendDecimal(time.minute, width: 2)
        out.appendDecimal(time.second, width: 2)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out.bytes, as: UTF8.self)
    }
}
