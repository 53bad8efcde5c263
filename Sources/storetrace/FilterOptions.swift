import ArgumentParser
import StoretraceDecode
import StoretraceSession

/// The filters shared by `live` (and by `record` and `replay` later).
struct FilterOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Only this process id (repeatable).", valueName: "pid"))
    var pid: [UInt32] = []

    @Option(name: .long, help: ArgumentHelp("Only processes with this command name, as in /proc/PID/comm (repeatable).", valueName: "name"))
    var comm: [String] = []

    @Option(name: .customLong("type"), help: ArgumentHelp(
        "Only this call (repeatable): \(SyscallKind.allCases.map { $0.name.description }.joined(separator: ", ")).",
        valueName: "call"))
    var types: [String] = []

    @Flag(name: .long, help: "Only calls that failed (returned an error).")
    var failed = false

    @Option(name: .long, help: ArgumentHelp("Only calls slower than this: 500us, 10ms, 1.5s.", valueName: "duration"))
    var minLatency: String?

    func validate() throws {
        for name in types where SyscallKind(name: name) == nil {
            throw ValidationError("unknown --type '\(name)'; choose from: \(SyscallKind.allCases.map { $0.name.description }.joined(separator: ", "))")
        }
        if let minLatency, Duration.parseNanoseconds(minLatency) == nil {
            throw ValidationError("cannot read --min-latency '\(minLatency)'; write a number with a unit: 500us, 10ms, 2s")
        }
        for name in comm where name.utf8.count > 15 {
            throw ValidationError("--comm '\(name)' is longer than the kernel's 15-byte comm; use its first 15 bytes")
        }
    }

    var filter: EventFilter {
        var filter = EventFilter()
        filter.pids = pid
        filter.comms = comm.map { Array($0.utf8) }
        filter.kinds = Set(types.compactMap(SyscallKind.init(name:)))
        filter.failedOnly = failed
        filter.minLatencyNanoseconds = minLatency.flatMap(Duration.parseNanoseconds) ?? 0
        return filter
    }
}

enum Duration {
    /// "10ms" -> 10_000_000. Units: ns, us (or µs), ms, s, m, h. A bare number is seconds.
    static func parseNanoseconds(_ text: String) -> UInt64? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
            return UInt64(value * scale)
        }
        guard let value = Double(text), value >= 0, value.isFinite else { return nil }
        return UInt64(value * 1e9)
    }
}
