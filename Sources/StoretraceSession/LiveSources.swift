import StoretraceDecode
import StoretraceKernel
import StoretraceRecords

/// Which kernel-side sources join the syscalls.
public struct SourceOptions: Sendable {
    public var ftrace = true
    public var ftraceEvents = TracefsInstanceOptions.defaultEvents
    public var functions = TracefsInstanceOptions.defaultFunctions
    public var uevents = true
    /// SUBSYSTEM values of the uevents shown; nil for every one.
    public var ueventSubsystems: [String]? = UeventSource.defaultSubsystems
    public var kmsg = true
    public var kmsgBacklog = false
    /// Scan for holders when a traced call fails with EBUSY (`HolderExplainer`).
    public var holders = true
    /// Sample the block queue settings about once a second (`QueueSettingSampler`).
    public var queueSettings = true
    /// Trace exclusive claims of block devices (`ClaimTracer`): shown as
    /// `claim` events, and named in the holders of a failed mount.
    public var claims = true
    public init() {}
}

/// The sources of `live` and `record`, opened as the filters and options
/// ask. A source the kernel refuses is reported once through `warn` and the
/// rest go on; only the syscall tracer's failure to start is fatal, and it
/// is opened first, on its own (`openSyscallTracer`).
struct LiveSources {
    private(set) var sources: [RecordSource] = []
    private(set) var tracer: SyscallTracer?
    private(set) var queueSettings: QueueSettingSampler?

    /// The syscall tracer, loaded and attached, or nil if no syscall is
    /// traced. `LiveSession` opens it before the rest of its set-up: its
    /// records wait in the ring buffer until the loop runs, so start-up
    /// (exec to the first call traced) is the program load and little else.
    static func openSyscallTracer(_ options: TracerOptions, tracefs: TracefsMount,
                                  warn: (String) -> Void) throws(KernelError) -> SyscallTracer? {
        guard !options.kinds.isEmpty else { return nil }
        let syscalls = try SyscallTracer(options: options, tracefs: tracefs)
        for (kind, reason) in syscalls.skipped { warn("not tracing \(kind.callName): \(reason)") }
        return syscalls
    }

    /// `syscalls`: from `openSyscallTracer`. `blockDevices`: the devices the
    /// session's enrichment starts from (the sampler reports what differs
    /// from them).
    init(syscalls: SyscallTracer?, tracer options: TracerOptions, sources config: SourceOptions, filter: EventFilter,
         tracefs: TracefsMount, decoder: EventDecoder, recorder: CaptureRecorder?,
         blockDevices: [NodeSnapshot.BlockDevice], warn: (String) -> Void) {
        // Kernel-side sources first: a refusal is reported once and the rest goes on.
        if config.ftrace && (filter.wants(.function) || filter.wants(.tracepoint)) {
            openFtrace(config, filter: filter, tracefs: tracefs, decoder: decoder, recorder: recorder, warn: warn)
            StartupTiming.mark("ftrace instance")
        }
        // mount_health is derived from uevents and the kernel log.
        if config.uevents && (filter.wants(.uevent) || filter.wants(.mountHealth)) {
            do { sources.append(try UeventSource()) } catch { warn("not reading uevents: \(error)") }
            StartupTiming.mark("uevent socket")
        }
        if config.kmsg && (filter.wants(.kmsg) || filter.wants(.mountHealth)) {
            do {
                let offset = KmsgSource.measurePrintkClockOffset() ?? 0
                sources.append(try KmsgSource(backlog: config.kmsgBacklog, clockOffset: offset))
            } catch {
                warn("not reading the kernel log: \(error)")
            }
            StartupTiming.mark("kernel log")
        }
        if config.queueSettings && (filter.wants(.queueSetting) || options.kinds.contains(where: \.movesData)) {
            let sampler = QueueSettingSampler(baseline: blockDevices)
            queueSettings = sampler
            sources.append(sampler)
        }
        if let syscalls {
            tracer = syscalls
            sources.insert(syscalls, at: 0)
        }
        // Claims are wanted for their own events and to explain a failed
        // mount (the scan cannot see an O_EXCL open); opened after the
        // syscall tracer, whose failure is the one that stops a session.
        if config.claims && (filter.wants(.claim) || (config.holders && options.kinds.contains(.mount))) {
            do { sources.append(try ClaimTracer()) } catch { warn(error.notice) }
            StartupTiming.mark("claim tracer")
        }
    }

    private mutating func openFtrace(_ config: SourceOptions, filter: EventFilter, tracefs: TracefsMount,
                                     decoder: EventDecoder, recorder: CaptureRecorder?, warn: (String) -> Void) {
        for removed in TracefsInstance.removeStale(tracefs: tracefs) {
            warn("removed tracefs instance \(removed) left by a run that was killed")
        }
        var options = TracefsInstanceOptions()
        options.events = filter.wants(.tracepoint) ? config.ftraceEvents : []
        options.functions = filter.wants(.function) ? config.functions : []
        do {
            let instance = try TracefsInstance(tracefs: tracefs, options: options)
            for warning in instance.warnings { warn("\(warning)") }
            if !instance.clockIsMonotonic {
                warn("ftrace clock is \(instance.clock), not mono: its events may be out of order with the others")
            }
            if instance.enabledEvents.isEmpty && !instance.functionTracerOn {
                _ = instance.close()
                return
            }
            let ftrace = try FtraceSource(instance: instance)
            for warning in ftrace.warnings { warn("\(warning)") }
            decoder.ftraceCatalog = ftrace.catalog
            decoder.describeAddress = { ftrace.describe(address: $0) }
            decoder.tasks.resolve = SavedTasks(tracefs: tracefs).resolve
            if let recorder {
                decoder.tasks.onResolved = { tid, identity in
                    recorder.appendTask(tid: tid, identity, timestamp: KernelClock.monotonicNow())
                }
                // The formats go into the capture, so replay decodes the events elsewhere.
                let now = KernelClock.monotonicNow()
                for (system, text) in ftrace.formatTexts(tracefs: tracefs) {
                    recorder.appendFormat(system: system, formatText: text, timestamp: now)
                }
            }
            sources.append(ftrace)
        } catch {
            warn("not reading ftrace events: \(error)")
        }
    }
}
