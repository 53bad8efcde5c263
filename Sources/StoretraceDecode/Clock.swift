/// Relates the kernel's CLOCK_MONOTONIC, which every source stamps events
/// with, to wall time. The offset is measured once at start (and stored in
/// captures) so that events keep their true order even if the wall clock is
/// stepped while tracing.
public struct ClockOffset: Sendable, Equatable {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds.
    public var realtimeMinusMonotonic: Int64

    public init(realtimeMinusMonotonic: Int64) {
        self.realtimeMinusMonotonic = realtimeMinusMonotonic
    }

    /// Nanoseconds since the Unix epoch for a CLOCK_MONOTONIC timestamp.
    @inline(__always)
    public func wallNanoseconds(monotonic: UInt64) -> Int64 {
        Int64(bitPattern: monotonic) &+ realtimeMinusMonotonic
    }
}

/// A civil (proleptic Gregorian) date and time, UTC or shifted, from epoch
/// nanoseconds; pure arithmetic (Howard Hinnant's days_from_civil inverse),
/// no libc and no allocation.
public struct CivilTime: Equatable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var nanosecond: Int

    public init(epochNanoseconds: Int64, utcOffsetSeconds: Int = 0) {
        // The offset is added in seconds: in nanoseconds it overflowed (a
        // trap) for times near either end of Int64, which a capture's
        // timestamps can be (found by the syscall-record fuzz target).
        var seconds = epochNanoseconds / 1_000_000_000
        var nanos = epochNanoseconds % 1_000_000_000
        if nanos < 0 {
            nanos += 1_000_000_000
            seconds -= 1
        }
        seconds += Int64(utcOffsetSeconds)
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        // civil_from_days
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        self.year = Int(y)
        self.month = Int(m)
        self.day = Int(d)
        self.hour = Int(secondOfDay / 3600)
        self.minute = Int(secondOfDay % 3600 / 60)
        self.second = Int(secondOfDay % 60)
        self.nanosecond = Int(nanos)
    }
}

/// RFC 3339 date-times ("2026-11-23T14:07:31Z", "2026-11-23T14:07:31.5+01:00")
/// to epoch nanoseconds. Pure and overflow-checked: nil for anything
/// malformed and for times an Int64 of nanoseconds since 1970 cannot hold
/// (before 1970-01-01T00:00:00Z or after 2262-04-11T23:47:16Z).
public enum RFC3339 {
    public static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " "),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var nanos = 0
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int(bytes[index] - 48); digits += 1 }
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanos *= 10 }
        }
        var offsetSeconds = 0
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
            index += 1
        } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            guard let hours = number((index + 1)..<(index + 3)), index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                  let minutes = number((index + 4)..<(index + 6)), hours < 24, minutes < 60 else { return nil }
            offsetSeconds = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        // days_from_civil (Howard Hinnant); years 0000-9999 keep this far inside Int.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = Int64(days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds)
        guard seconds >= 0 else { return nil }
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflow2) = scaled.addingReportingOverflow(Int64(nanos))
        return overflow || overflow2 ? nil : total
    }
}
