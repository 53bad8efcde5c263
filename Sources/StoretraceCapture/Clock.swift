import Glibc

enum Clock {
    @inline(__always)
    static func now(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func monotonic() -> UInt64 { now(CLOCK_MONOTONIC) }
    static func realtime() -> UInt64 { now(CLOCK_REALTIME) }

    /// Reads CLOCK_REALTIME and CLOCK_BOOTTIME bracketed by two CLOCK_MONOTONIC
    /// reads; keeps the tightest of a few attempts. The one clock sampler
    /// (`CaptureClockSample.measure()`): captures store it, live renders with
    /// it, the node snapshot keeps its offsets.
    static func sample() -> CaptureClockSample {
        var best: CaptureClockSample? = nil
        for _ in 0..<5 {
            let m1 = now(CLOCK_MONOTONIC)
            let r = now(CLOCK_REALTIME)
            let b = now(CLOCK_BOOTTIME)
            let m2 = now(CLOCK_MONOTONIC)
            let width = m2 &- m1
            if best == nil || width < best!.uncertaintyNs {
                best = CaptureClockSample(monotonicNs: m1 &+ width / 2, realtimeNs: r, boottimeNs: b,
                                          uncertaintyNs: width)
            }
        }
        return best!
    }

    static func sleep(ns: UInt64) {
        var req = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        var rem = timespec()
        while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
    }
}
