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
        let total = epochNanoseconds + Int64(utcOffsetSeconds) * 1_000_000_000
        var seconds = total / 1_000_000_000
        var nanos = total % 1_000_000_000
        if nanos < 0 {
            nanos += 1_000_000_000
            seconds -= 1
        }
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
