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

    @Option(name: .customLong("type"), help: ArgumentHelp(FilterOptions.typeHelp, valueName: "type"))
    var types: [String] = []

    /// Made once: swift-argument-parser makes a FilterOptions each time it
    /// reflects the command (six times a `live` start-up), and each made
    /// this text anew.
    static let typeHelp = "Only this event type (repeatable): a syscall (\(SyscallKind.allCases.map { $0.name.description }.joined(separator: ", "))) or \(KernelEventType.allCases.map(\.rawValue).joined(separator: ", "))."

    @Flag(name: .long, help: "Only calls that failed (returned an error).")
    var failed = false

    @Option(name: .long, help: ArgumentHelp("Only calls slower than this, with a unit (\(DurationText.units)): 500us, 10ms, 1.5s.", valueName: "duration"),
            transform: DurationValue.parse)
    var minLatency: DurationValue?

    @Option(name: .long, help: ArgumentHelp("Only syscall events of processes in this Kubernetes pod, by UID as `kubectl get pod -o jsonpath='{.metadata.uid}'` prints it (repeatable). Found from the process's cgroup; host processes are left out.", valueName: "uid"),
            transform: PodUIDValue.parse)
    var pod: [PodUIDValue] = []

    @Option(name: .long, help: ArgumentHelp("Only syscall events of processes in this container, by id or a prefix of it as `crictl ps` shows it (repeatable).", valueName: "id"),
            transform: ContainerIDValue.parse)
    var container: [ContainerIDValue] = []

    @Option(name: .long, help: ArgumentHelp("Only events with a path at or under this one: any path of a call (source, target, file names), a mount operation's, an unhealthy mount's mount point (repeatable; whole components: /var/lib/kubelet keeps /var/lib/kubelet/pods/..., not /var/lib/kubelet2).", valueName: "prefix"),
            transform: PathPrefixValue.parse)
    var path: [PathPrefixValue] = []

    @Option(name: .long, help: ArgumentHelp("Only events about this block device or its partitions, by name (vdb, /dev/loop0) or MAJ:MIN (254:16): copies by their files' device, mount calls by their /dev source or the device's mount points, kernel log lines, uevents, tracepoints and claims by the device they name (repeatable).", valueName: "device"),
            transform: DeviceValue.parse)
    var device: [DeviceValue] = []

    func validate() throws {
        for name in types where SyscallKind(name: name) == nil && KernelEventType(rawValue: name) == nil {
            throw ValidationError("unknown --type '\(name)'; choose from: \((SyscallKind.allCases.map { $0.name.description } + KernelEventType.allCases.map(\.rawValue)).joined(separator: ", "))")
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
        filter.minLatencyNanoseconds = minLatency?.nanoseconds ?? 0 // no --min-latency: every call
        filter.podUIDs = pod.map(\.uid)
        filter.containerPrefixes = container.map(\.prefix)
        filter.pathPrefixes = path.map(\.prefix)
        filter.devices = device.map(\.selector)
        return filter
    }
}

/// The part of a capture `replay` and `summary` read.
struct TimeSpanOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Only events at or after this time: RFC 3339 (2026-11-23T14:07:31Z) or an offset from the capture's start (+30s).", valueName: "time"),
            transform: TimeBoundValue.parse)
    var since: TimeBoundValue?

    @Option(name: .long, help: ArgumentHelp("Only events at or before this time (same forms as --since).", valueName: "time"),
            transform: TimeBoundValue.parse)
    var until: TimeBoundValue?

    func apply(to config: inout ReplayConfiguration) {
        config.since = since?.bound
        config.until = until?.bound
    }
}

/// Output shared by `live`, `record --live` and `replay`.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON lines (docs/events.md) instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Color: auto (a terminal without NO_COLOR), always or never.", valueName: "when"))
    var color: ColorChoice = .auto

    @Option(name: .long, help: ArgumentHelp("Kubelet's root directory (its --root-dir), if not /var/lib/kubelet: kubelet paths are read under it only, and the volumes' vol_data.json (driver, PV, volume handle) from it. Without it, kubelet paths are found by their shape (a `kubelet` directory holding `pods` or `plugins`).", valueName: "path"),
            transform: KubeletRootValue.parse)
    var kubeletRoot: KubeletRootValue?

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
    @Option(name: .long, help: ArgumentHelp("Stop after this long: 30s, 5m (units: \(DurationText.units)).", valueName: "duration"),
            transform: DurationValue.parse)
    var duration: DurationValue?

    @Option(name: .long, help: ArgumentHelp("Kernel buffer size for syscall events: a power of two, in bytes or with \(ByteSizeText.units), e.g. 8M, 64M (default: 8M).", valueName: "size"),
            transform: ByteSizeValue.parseAllowingBytes)
    var bufferSize = ByteSizeValue(text: "8M", bytes: 8 << 20)

    @Option(name: .long, help: ArgumentHelp("Write counters in the Prometheus text format to this file at the start, every 5 s and at exit, for node_exporter's textfile collector (give it a .prom name in the collector's directory): events by type, failures by type and errno, holders found, unhealthy mounts, losses by kind, capture bytes. Written to .NAME.tmp beside it and renamed; left in place at exit with storetrace_up 0 (storetrace_last_write_timestamp_seconds tells a stale file).", valueName: "path"))
    var metricsFile: String?

    @Flag(name: .long, help: "Use the perf buffer even where the BPF ring buffer exists (it is the fallback for kernels before 5.8).")
    var perfBuffer = false

    @Option(name: .long, help: ArgumentHelp("While syscall events stream, each CPU wakes storetrace at most this often (1ms to 40ms); the rest is read on a timer, so events show up to twice this late. 0 wakes it for every event: least delay, but the traced calls pay for each wake-up (default: 5ms).", valueName: "duration"),
            transform: DurationValue.parse)
    var wakeupInterval = DurationValue(text: "5ms", nanoseconds: 5_000_000)

    @Option(name: .customLong("function"), help: ArgumentHelp("Also trace this kernel function: with function_graph and its return value where the kernel has it, else with the function tracer (repeatable; defaults: bind_store, unbind_store, nvme_probe, nvme_remove).", valueName: "name"))
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

    @Flag(name: .long, help: "Do not scan for who holds a mount or device when a call fails with EBUSY.")
    var noHolders = false

    @Flag(name: .long, help: "Do not sample the block queue settings (read_ahead_kb, scheduler, max_sectors_kb, nr_requests, rotational) each second.")
    var noQueueSettings = false

    @Flag(name: .long, help: "At the end, print what `storetrace summary` prints of the events (--json: one JSON object).")
    var summary = false
    @Flag(name: .long, help: "Do not trace exclusive claims of block devices (bd_prepare_to_claim, by fexit or kprobes where the kernel allows them).")
    var noClaims = false

    func validate() throws {
        var tracer = TracerOptions()
        tracer.wakeupIntervalNanoseconds = wakeupInterval.nanoseconds
        if let problem = tracer.wakeupIntervalProblem {
            throw ValidationError("--wakeup-interval \(problem) (got \(wakeupInterval))")
        }
        guard bufferSize.bytes <= UInt64(Int.max) else {
            throw ValidationError("--buffer-size is too large (got \(bufferSize))")
        }
        tracer.bufferSize = Int(bufferSize.bytes)
        if let problem = tracer.bufferSizeProblem {
            throw ValidationError("--buffer-size \(problem) (got \(bufferSize))")
        }
        for event in events where event.split(separator: ":").count != 2 {
            throw ValidationError("--event '\(event)' is not SYSTEM:NAME, e.g. block:block_rq_error")
        }
    }

    func apply(to config: inout LiveConfiguration) {
        config.duration = duration?.nanoseconds
        config.metricsPath = metricsFile
        config.tracer.bufferSize = Int(bufferSize.bytes) // validate() checked that it fits
        config.tracer.forcePerfBuffer = perfBuffer
        config.tracer.wakeupIntervalNanoseconds = wakeupInterval.nanoseconds
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
        config.sources.holders = !noHolders
        config.sources.queueSettings = !noQueueSettings
        config.summary = summary
        config.sources.claims = !noClaims
    }
}
