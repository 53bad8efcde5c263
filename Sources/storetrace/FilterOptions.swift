import ArgumentParser
import Glibc
import StoretraceKernel
import StoretraceDecode
import StoretraceSession

/// The filters shared by `live` (and by `record` and `replay` later).
struct FilterOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Only this process id (repeatable).", valueName: "pid"))
    var pid: [UInt32] = []

    @Option(name: .long, help: ArgumentHelp("Only processes with this command name, as in /proc/PID/comm (repeatable).", valueName: "name"))
    var comm: [String] = []

    @Option(name: .customLong("type"), help: ArgumentHelp(
        "Only this event type (repeatable): a syscall (\(SyscallKind.allCases.map { $0.name.description }.joined(separator: ", "))) or \(KernelEventType.allCases.map(\.rawValue).joined(separator: ", ")).",
        valueName: "type"))
    var types: [String] = []

    @Flag(name: .long, help: "Only calls that failed (returned an error).")
    var failed = false

    @Option(name: .long, help: ArgumentHelp("Only calls slower than this: 500us, 10ms, 1.5s.", valueName: "duration"))
    var minLatency: String?

    func validate() throws {
        for name in types where SyscallKind(name: name) == nil && KernelEventType(rawValue: name) == nil {
            throw ValidationError("unknown --type '\(name)'; choose from: \((SyscallKind.allCases.map { $0.name.description } + KernelEventType.allCases.map(\.rawValue)).joined(separator: ", "))")
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
        filter.kernelTypes = Set(types.compactMap(KernelEventType.init(rawValue:)))
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

/// Output shared by `live`, `record --live` and `replay`.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON lines (docs/events.md) instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Color: auto (a terminal without NO_COLOR), always or never.", valueName: "when"))
    var color: ColorChoice = .auto

    enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, always, never
    }

    func useColor(fd: Int32) -> Bool {
        switch color {
        case .always: return true
        case .never: return false
        case .auto: return !json && isatty(fd) == 1 && getenv("NO_COLOR") == nil
        }
    }
}

/// Tracing options shared by `live` and `record`.
struct TraceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Stop after this long: 30s, 5m.", valueName: "duration"))
    var duration: String?

    @Option(name: .long, help: ArgumentHelp("Kernel buffer size for syscall events: a power of two, e.g. 8M, 64M.", valueName: "size"))
    var bufferSize: String = "8M"

    @Flag(name: .long, help: "Use the perf buffer even where the BPF ring buffer exists (it is the fallback for kernels before 5.8).")
    var perfBuffer = false

    @Option(name: .long, help: ArgumentHelp("While syscall events stream, each CPU wakes storetrace at most this often; the rest is read on a timer, so events show up to twice this late. 0 wakes it for every event: least delay, but the traced calls pay for each wake-up.", valueName: "duration"))
    var wakeupInterval: String = "5ms"

    @Option(name: .customLong("function"), help: ArgumentHelp("Also trace this kernel function with the function tracer (repeatable; defaults: bind_store, unbind_store, nvme_probe, nvme_remove).", valueName: "name"))
    var functions: [String] = []

    @Option(name: .customLong("event"), help: ArgumentHelp("Also record this tracepoint, SYSTEM:NAME (repeatable; defaults: iommu device/group events, block:block_rq_error).", valueName: "event"))
    var events: [String] = []

    @Option(name: .customLong("subsystem"), help: ArgumentHelp("Uevents of this subsystem (repeatable; defaults: block, pci, nvme, scsi, virtio; 'all' for every one).", valueName: "name"))
    var subsystems: [String] = []

    @Flag(name: .long, help: "Do not use the tracefs function tracer and tracepoint events.")
    var noFtrace = false

    @Flag(name: .long, help: "Do not listen for kernel uevents.")
    var noUevents = false

    @Flag(name: .long, help: "Do not read the kernel log (/dev/kmsg).")
    var noKmsg = false

    @Flag(name: .long, help: "Include the kernel log from before storetrace started.")
    var kmsgBacklog = false

    func validate() throws {
        if let duration, Duration.parseNanoseconds(duration) == nil {
            throw ValidationError("cannot read --duration '\(duration)'; write e.g. 30s or 5m")
        }
        guard let bytes = ByteSize.parse(bufferSize) else {
            throw ValidationError("cannot read --buffer-size '\(bufferSize)'; write e.g. 8M or 64M")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard bytes >= page, bytes & (bytes - 1) == 0, bytes <= 1 << 30 else {
            throw ValidationError("--buffer-size must be a power of two between \(page >> 10)K and 1G (got \(bufferSize))")
        }
        // At most 40 ms: records then reach the merge of sources within 80 ms,
        // inside its 100 ms window, so the timeline stays in order.
        guard let interval = Duration.parseNanoseconds(wakeupInterval), interval == 0 || (1_000_000...40_000_000).contains(interval) else {
            throw ValidationError("--wakeup-interval must be 0 (wake for every event) or from 1ms to 40ms (got \(wakeupInterval))")
        }
        for event in events where event.split(separator: ":").count != 2 {
            throw ValidationError("--event '\(event)' is not SYSTEM:NAME, e.g. block:block_rq_error")
        }
    }

    func apply(to config: inout LiveConfiguration) {
        config.duration = duration.flatMap(Duration.parseNanoseconds)
        config.tracer.bufferSize = ByteSize.parse(bufferSize) ?? (8 << 20)
        config.tracer.forcePerfBuffer = perfBuffer
        config.tracer.wakeupIntervalNanoseconds = Duration.parseNanoseconds(wakeupInterval) ?? 5_000_000
        config.sources.ftrace = !noFtrace
        if !functions.isEmpty { config.sources.functions = TracefsInstanceOptions.defaultFunctions + functions }
        if !events.isEmpty { config.sources.ftraceEvents = TracefsInstanceOptions.defaultEvents + events }
        config.sources.uevents = !noUevents
        if subsystems.contains("all") {
            config.sources.ueventSubsystems = nil
        } else if !subsystems.isEmpty {
            config.sources.ueventSubsystems = subsystems
        }
        config.sources.kmsg = !noKmsg
        config.sources.kmsgBacklog = kmsgBacklog
    }
}
