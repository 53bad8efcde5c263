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

/// The time stamps of a stream of events, formatted as `appendRFC3339` and
/// `appendTimeOfDay` do, but the text up to the fraction once a second, and
/// the date, hour and minute once a minute (`RenderMemo`s): per event within
/// the second only a subtraction and the fraction's digits. The civil-date
/// arithmetic was a tenth of rendering a line, and splitting each stamp into
/// minute, second and fraction still a twentieth.
struct TimeStampMemo: ~Copyable {
    private var minute = RenderMemo()
    /// "2026-11-23T14:07:31." or "14:07:31.", for the second that began at `secondStart`.
    private var second = RenderMemo()
    private var secondStart: Int64 = 0
    private static let none = UnsafeRawBufferPointer(start: nil, count: 0)

    /// "2026-11-23T14:07:31.123456789Z", without quotes.
    mutating func appendRFC3339(epochNanoseconds: Int64, into out: inout OutputBuffer) {
        if let fraction = appendRememberedSecond(epochNanoseconds, utcOffsetSeconds: 0, withDate: true, into: &out) {
            out.appendDecimal(fraction, width: 9)
            out.append(UInt8(ascii: "Z"))
            return
        }
        guard let split = Self.split(epochNanoseconds, utcOffsetSeconds: 0) else {
            out.appendRFC3339(epochNanoseconds: epochNanoseconds)
            return
        }
        appendSecond(split, utcOffsetSeconds: 0, withDate: true, into: &out)
        out.appendDecimal(split.nanosecond, width: 9)
        out.append(UInt8(ascii: "Z"))
    }

    /// "14:07:31.123456": local time of day with microseconds.
    mutating func appendTimeOfDay(epochNanoseconds: Int64, utcOffsetSeconds: Int, into out: inout OutputBuffer) {
        if let fraction = appendRememberedSecond(epochNanoseconds, utcOffsetSeconds: utcOffsetSeconds, withDate: false,
                                                 into: &out) {
            out.appendDecimal(fraction / 1000, width: 6)
            return
        }
        guard let split = Self.split(epochNanoseconds, utcOffsetSeconds: utcOffsetSeconds) else {
            out.appendTimeOfDay(epochNanoseconds: epochNanoseconds, utcOffsetSeconds: utcOffsetSeconds)
            return
        }
        appendSecond(split, utcOffsetSeconds: utcOffsetSeconds, withDate: false, into: &out)
        out.appendDecimal(split.nanosecond / 1000, width: 6)
    }

    /// The remembered text up to the fraction, if `epochNanoseconds` falls in
    /// its second: then the nanoseconds into the second, else nil (nothing appended).
    @inline(__always)
    private mutating func appendRememberedSecond(_ epochNanoseconds: Int64, utcOffsetSeconds: Int, withDate: Bool,
                                                 into out: inout OutputBuffer) -> Int? {
        let (within, overflow) = epochNanoseconds.subtractingReportingOverflow(secondStart)
        guard !overflow, within >= 0, within < 1_000_000_000,
              second.append(Self.secondKey(secondStart, utcOffsetSeconds, withDate), Self.none, into: &out) else { return nil }
        return Int(within)
    }

    private static func secondKey(_ start: Int64, _ utcOffsetSeconds: Int, _ withDate: Bool) -> MemoKey {
        MemoKey(a: UInt64(bitPattern: start), b: 0, c: UInt64(bitPattern: Int64(utcOffsetSeconds)), d: withDate ? 1 : 2,
                generation: 0)
    }

    /// "2026-11-23T14:07:31." or "14:07:31.", remembered for the second.
    private mutating func appendSecond(_ split: Split, utcOffsetSeconds: Int, withDate: Bool, into out: inout OutputBuffer) {
        let start = out.count
        appendMinute(split, utcOffsetSeconds: utcOffsetSeconds, withDate: withDate, into: &out)
        out.appendDecimal(split.second, width: 2)
        out.append(UInt8(ascii: "."))
        // Cannot overflow: the minute's start, earlier still, did not (`split`).
        secondStart = split.minuteStart + Int64(split.second) * 1_000_000_000
        second.remember(Self.secondKey(secondStart, utcOffsetSeconds, withDate), Self.none, rendered: out, since: start)
    }

    /// "2026-11-23T14:07:" or "14:07:", remembered for the minute.
    private mutating func appendMinute(_ split: Split, utcOffsetSeconds: Int, withDate: Bool, into out: inout OutputBuffer) {
        let key = MemoKey(a: UInt64(bitPattern: split.minute), b: 0, c: UInt64(bitPattern: Int64(utcOffsetSeconds)),
                          d: withDate ? 1 : 2, generation: 0)
        if minute.append(key, Self.none, into: &out) { return }
        let start = out.count
        let time = CivilTime(epochNanoseconds: split.minuteStart, utcOffsetSeconds: utcOffsetSeconds)
        if withDate {
            out.appendDecimal(time.year, width: 4)
            out.append(UInt8(ascii: "-"))
            out.appendDecimal(time.month, width: 2)
            out.append(UInt8(ascii: "-"))
            out.appendDecimal(time.day, width: 2)
            out.append(UInt8(ascii: "T"))
        }
        out.appendDecimal(time.hour, width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(time.minute, width: 2)
        out.append(UInt8(ascii: ":"))
        minute.remember(key, Self.none, rendered: out, since: start)
    }

    /// The (local) minute of a time, its second and nanosecond within it, and
    /// the instant the minute began.
    private struct Split {
        var minute: Int64
        var second: Int
        var nanosecond: Int
        var minuteStart: Int64
    }

    /// nil where the minute's start is out of Int64's range (a fuzzed time
    /// stamp: the caller formats it whole).
    private static func split(_ epochNanoseconds: Int64, utcOffsetSeconds: Int) -> Split? {
        var seconds = epochNanoseconds / 1_000_000_000
        var nanos = epochNanoseconds % 1_000_000_000
        if nanos < 0 {
            nanos += 1_000_000_000
            seconds -= 1
        }
        let local = seconds + Int64(utcOffsetSeconds)
        var minute = local / 60
        var second = local % 60
        if second < 0 {
            second += 60
            minute -= 1
        }
        let (minuteStart, overflow) = epochNanoseconds.subtractingReportingOverflow(second * 1_000_000_000 + nanos)
        guard !overflow else { return nil }
        return Split(minute: minute, second: Int(second), nanosecond: Int(nanos), minuteStart: minuteStart)
    }
}
