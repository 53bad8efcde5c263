import Glibc

/// The phases of start-up, timed when STORETRACE_DEBUG_TIMING is set in the
/// environment: one line per phase on stderr, wall milliseconds since
/// main() began and since the phase before, and first the CPU time the
/// process had used before main() (exec, loading, relocations: what no
/// phase of ours can show). For finding what storetrace adds before its
/// first event (BENCHMARKS.md, "Start-up"). Off, a phase costs one test of
/// a flag.
public enum StartupTiming {
    nonisolated(unsafe) private static var enabled = false
    nonisolated(unsafe) private static var origin: Int64 = 0
    nonisolated(unsafe) private static var last: Int64 = 0

    /// Called first thing in main(): reads the environment once.
    public static func begin() {
        guard let value = getenv("STORETRACE_DEBUG_TIMING"), value.pointee != 0 else { return }
        enabled = true
        origin = KernelClock.now(CLOCK_MONOTONIC)
        last = origin
        let beforeMain = KernelClock.now(CLOCK_PROCESS_CPUTIME_ID)
        fputs("storetrace: timing: \(milliseconds(beforeMain)) ms CPU before main (exec, loading, relocations)\n", stderr)
    }

    /// The phase that just ended.
    @inline(__always)
    public static func mark(_ phase: StaticString) {
        if enabled { print(phase) }
    }

    private static func print(_ phase: StaticString) {
        let now = KernelClock.now(CLOCK_MONOTONIC)
        fputs("storetrace: timing: \(milliseconds(now - origin)) ms (+\(milliseconds(now - last))) \(phase)\n", stderr)
        last = now
    }

    /// Nanoseconds as milliseconds with three decimals.
    static func milliseconds(_ nanoseconds: Int64) -> String {
        let micro = (nanoseconds + 500) / 1000
        let fraction = String(micro % 1000)
        return "\(micro / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
