import CLibbpf
import CStoretraceABI
import Glibc
import StoretraceBPF
import StoretraceDecode
import StoretraceRecords
import SystemPackage

/// Options for `SyscallTracer`.
public struct TracerOptions: Sendable {
    /// Only this process (thread group); 0 for every process.
    public var targetPID: UInt32 = 0
    /// Never report this process (storetrace itself); 0 for none.
    public var excludePID: UInt32 = 0
    /// Ring-buffer size in bytes: a power of two, at least one page.
    public var bufferSize: Int = 8 << 20
    /// Use the perf buffer even where the BPF ring buffer exists.
    public var forcePerfBuffer = false
    /// The calls to trace; the others are not even loaded.
    public var kinds: [SyscallKind] = SyscallKind.allCases
    /// Ring buffer only: a CPU wakes the reader at most once per this many
    /// nanoseconds while records stream (or when a quarter of the buffer is
    /// waiting); the reader drains the rest every `drainIntervalMilliseconds`. 0 wakes
    /// it whenever it has caught up, the kernel's default: lowest latency,
    /// but one irq_work per record on a storm, paid by the traced call.
    public var wakeupIntervalNanoseconds: UInt64 = 5_000_000
    /// Use the per-thread hash map and helper reads even where task storage
    /// and bpf_get_current_task_btf() exist (they are the path for kernels
    /// before 5.11; this forces it, for testing).
    public var forceLegacyTaskState = false
    /// Read the copy calls' open files with helper calls even where the
    /// kernel has bpf_rdonly_cast() (they are the path for kernels before
    /// 6.2; this forces it, for testing).
    public var forceHelperFileReads = false

    public init() {}

    /// The largest ring buffer storetrace asks for (the BPF map's size is a u32).
    public static let maxBufferSize = 1 << 30

    /// Why `bufferSize` cannot be used, or nil: the ring buffer's size must be
    /// a power of two of at least a page; the perf buffer's pages are derived
    /// from it. Phrased to follow the option's name.
    public var bufferSizeProblem: String? {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard bufferSize >= page, bufferSize <= Self.maxBufferSize, bufferSize & (bufferSize - 1) == 0 else {
            return "must be a power of two between \(page >> 10)K and \(Self.maxBufferSize >> 30)G"
        }
        return nil
    }

    /// Why `wakeupIntervalNanoseconds` cannot be used, or nil. At most 40 ms:
    /// records then reach the merge of sources within 80 ms (the drain timer
    /// runs at twice the interval), inside its 100 ms window, so the timeline
    /// stays in order.
    public var wakeupIntervalProblem: String? {
        let interval = wakeupIntervalNanoseconds
        guard interval == 0 || (1_000_000...40_000_000).contains(interval) else {
            return "must be 0 (wake for every event) or from 1ms to 40ms"
        }
        return nil
    }

    /// Throws for options the tracer cannot use, instead of trapping on them.
    public func validate() throws(KernelError) {
        if let problem = bufferSizeProblem { throw .invalidOption("buffer size \(bufferSize) \(problem)") }
        if let problem = wakeupIntervalProblem { throw .invalidOption("wake-up interval \(wakeupIntervalNanoseconds) ns \(problem)") }
    }
}

/// Loss counters, summed over CPUs. Nothing is dropped silently: every way a
/// record can go missing between the syscall and us has a counter here.
public struct LossCounters: Equatable, Sendable {
    /// BPF could not output into the ring buffer (user space too slow);
    /// ring-buffer mode only.
    public var bufferFull: UInt64 = 0
    /// BPF could not output into the perf buffer (perf-buffer mode only):
    /// counted by the program, one per event, exact at any moment.
    public var perfLost: UInt64 = 0
    /// The same losses as the kernel reports them in lost-sample records
    /// (libbpf's lost callback): information, never added to `lost`. They
    /// arrive late (when that CPU's buffer has room again), so this can be
    /// below `perfLost`, never above.
    public var perfLostReported: UInt64 = 0
    /// The per-thread entry table was full, so the call was not recorded.
    public var pendingFull: UInt64 = 0
    /// Exits without a recorded entry (calls already running at attach).
    public var exitUnmatched: UInt64 = 0
    /// User strings that could not be read (the event is kept, the field is null).
    public var stringFaults: UInt64 = 0

    /// Events that were lost.
    public var lost: UInt64 { bufferFull + perfLost + pendingFull }

    public init() {}

    /// As the summary and the capture trailer name them.
    public var named: [LossCount] {
        [LossCount(name: "ring buffer full", count: bufferFull, kind: .events),
         LossCount(name: "perf buffer lost", count: perfLost, kind: .events),
         LossCount(name: "entry table full", count: pendingFull, kind: .events),
         LossCount(name: "exits without entry", count: exitUnmatched, kind: .information),
         LossCount(name: "unreadable strings", count: stringFaults, kind: .information)]
    }
}

/// Loads the embedded BPF object, attaches the syscall tracepoints and, as a
/// `RecordSource`, hands each record on in place, straight from ring-buffer
/// memory.
public final class SyscallTracer: RecordSource {
    public let kind = SourceKind.syscall
    public let usesPerfBuffer: Bool
    /// Pending calls in task storage, task read through BTF (Linux 5.11+).
    public let usesTaskStorage: Bool
    /// The copy calls' exit programs read the open files with plain loads
    /// through bpf_rdonly_cast() (Linux 6.2+), not helper calls. False when
    /// no copy call is traced.
    public let usesPlainFileLoads: Bool
    /// Why the plain-load programs did not load where they were tried (the
    /// load error, with the verifier's last lines); nil otherwise.
    public let plainFileLoadsRefusal: String?
    /// How often the owner must call `consume()` after records arrived, since
    /// not every record wakes `pollFD` (see `TracerOptions.wakeupIntervalNanoseconds`);
    /// nil when every record wakes it.
    public let drainIntervalMilliseconds: Int?
    public private(set) var attached: [SyscallKind] = []
    /// What the kernel buffer holds, in bytes over all CPUs: the ring
    /// buffer's size, or the perf buffer's pages (see `bufferNotice`).
    public private(set) var bufferBytes = 0
    /// Set when `bufferBytes` is larger than `TracerOptions.bufferSize`
    /// (the perf buffer's minimum): one line to show once.
    public private(set) var bufferNotice: String?
    /// Calls this kernel cannot trace, with the reason.
    public private(set) var skipped: [(kind: SyscallKind, reason: String)] = []

    private var object: OpaquePointer?
    private var links: [OpaquePointer] = []
    private var ringBuffer: OpaquePointer?
    private var perfBuffer: OpaquePointer?
    private let handlerBox: HandlerBox
    private let countersFD: Int32
    private let possibleCPUs: Int

    /// The descriptor to poll (an epoll fd libbpf keeps over the buffers).
    public var pollFD: Int32 {
        if let ringBuffer { return ring_buffer__epoll_fd(ringBuffer) }
        if let perfBuffer { return perf_buffer__epoll_fd(perfBuffer) }
        return -1
    }
    public var pollFDs: [Int32] { pollFD >= 0 ? [pollFD] : [] }
    public var redrainMilliseconds: Int? { drainIntervalMilliseconds }
    public var losses: [LossCount] { counters().named }

    /// What libbpf's C callbacks reach: the `emit` of the drain in progress.
    final class HandlerBox {
        var emit: (RawRecord) -> Void = HandlerBox.discard
        static let discard: (RawRecord) -> Void = { _ in }
        var perfLost: UInt64 = 0

        @inline(__always)
        func deliver(_ bytes: UnsafeRawBufferPointer) {
            // Stamped at entry; a record too short to hold the stamp gets 0
            // and is counted malformed when the pipeline validates it.
            emit(RawRecord(source: .syscall, timestamp: SyscallRecord.timestamp(of: bytes) ?? 0, bytes: bytes))
        }
    }

    /// The BPF ring buffer appeared in Linux 5.8.
    public static func kernelHasRingBuffer() -> Bool {
        ringBufferProbe() == .present
    }

    /// Whether the kernel has a BPF feature, or why it could not be told:
    /// a probe refused for lack of privilege says nothing about the kernel.
    public enum FeatureProbe: Equatable, Sendable {
        case present
        case absent
        case notChecked(Errno)
    }

    /// libbpf's probe result (1 yes, 0 no, -errno) as a FeatureProbe; without
    /// CAP_BPF (or CAP_SYS_ADMIN) the answer is never "absent".
    static func feature(_ result: Int32, privileged: Bool) -> FeatureProbe {
        if result == 1 { return .present }
        if result < 0 { return .notChecked(Errno(rawValue: -result)) }
        return privileged ? .absent : .notChecked(.notPermitted)
    }

    static var mayUseBPF: Bool {
        let caps = Privileges.effective()
        return caps & (1 << UInt64(Capability.sysAdmin.rawValue)) != 0 || caps & (1 << UInt64(Capability.bpf.rawValue)) != 0
    }

    /// BPF_MAP_TYPE_RINGBUF (Linux 5.8+).
    public static func ringBufferProbe() -> FeatureProbe {
        feature(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nil), privileged: mayUseBPF)
    }

    /// Task storage and bpf_get_current_task_btf() (Linux 5.11+).
    public static func taskStorageProbe() -> FeatureProbe {
        let privileged = mayUseBPF
        for result in [libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nil),
                       libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, nil),
                       libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_storage_get, nil)] {
            let probe = feature(result, privileged: privileged)
            if probe != .present { return probe }
        }
        return .present
    }

    /// Task storage and bpf_get_current_task_btf() in tracepoint programs (Linux 5.11+).
    public static func kernelHasTaskStorage() -> Bool {
        taskStorageProbe() == .present
    }

    public init(options: TracerOptions, tracefs: TracefsMount) throws(KernelError) {
        try options.validate()
        try Privileges.checkTracing()
        // Tracepoints are attached by the ids in tracefs: an events/ that
        // may not be searched is the cause, not a kernel without them.
        if let failure = tracefs.lookUp("events/syscalls"), failure == .permissionDenied {
            throw tracefs.eventsUnreadable(failure)
        }
        LibbpfLog.install()
        _ = LibbpfLog.drain()
        handlerBox = HandlerBox()
        possibleCPUs = Int(max(libbpf_num_possible_cpus(), 1))

        guard let bytes = EmbeddedBPF.object(named: "storetrace.bpf.o") else {
            throw .missingFeature("an embedded BPF object (storetrace was built without it)")
        }
        StartupTiming.mark("tracer: object decoded")

        // Which calls this kernel has: a missing tracepoint is reported, not fatal.
        var wanted: [SyscallKind] = []
        for kind in SyscallKind.allCases where options.kinds.contains(kind) {
            if tracefs.exists("events/syscalls/sys_enter_\(kind.tracepoint)") {
                wanted.append(kind)
            } else {
                skipped.append((kind, "tracepoint syscalls:sys_enter_\(kind.tracepoint) not in this kernel"))
            }
        }

        let (object, paths, plainRefusal) = try Self.load(bytes, options: options, wanted: wanted)
        self.object = object
        let perf = paths.perfBuffer
        usesPerfBuffer = perf
        usesTaskStorage = paths.taskStorage
        usesPlainFileLoads = paths.plainFileLoads
        plainFileLoadsRefusal = plainRefusal
        // Twice the interval: every record written without a wake-up
        // follows a forced one by less than an interval, so a drain that
        // late always finds it.
        drainIntervalMilliseconds = !perf && options.wakeupIntervalNanoseconds > 0
            ? max(Int(2 * options.wakeupIntervalNanoseconds / 1_000_000), 1) : nil
        let events = bpf_object__find_map_by_name(object, "st_events")
        let perfEvents = bpf_object__find_map_by_name(object, "st_perf_events")
        countersFD = bpf_map__fd(bpf_object__find_map_by_name(object, "st_counters"))
        StartupTiming.mark("tracer: object loaded (BTF, maps, verifier)")

        do {
            for kind in wanted {
                for name in Self.programs(for: kind, plainFileLoads: usesPlainFileLoads) {
                    guard let program = bpf_object__find_program_by_name(object, name) else { continue }
                    guard let link = bpf_program__attach(program) else {
                        throw KernelError.attach(program: name, errno: Errno(rawValue: errno))
                    }
                    links.append(link)
                }
                attached.append(kind)
            }
            StartupTiming.mark("tracer: programs attached")
            try openBuffer(perf: perf, options: options, events: events, perfEvents: perfEvents)
        } catch let error as KernelError {
            close()
            throw error
        } catch {
            close()
            throw .system(call: "attach", errno: .invalidArgument)
        }
    }

    /// How the object keeps its records and its pending calls: the perf
    /// buffer (before Linux 5.8) or the ring buffer, a per-thread hash map
    /// (before 5.11) or task storage.
    /// and whether the copy calls' exit programs read open files with plain
    /// loads (bpf_rdonly_cast, Linux 6.2+) or helper calls.
    struct LoadPaths: Equatable {
        var perfBuffer: Bool
        var taskStorage: Bool
        var plainFileLoads = false

        /// The paths to load with after the kernel refused these, given
        /// what it has; nil when it has what they use and the plain loads
        /// were not tried (the refusal is then the answer).
        func fallback(ringBuffer: Bool, taskStorage hasTaskStorage: Bool) -> LoadPaths? {
            var next = self
            if !perfBuffer && !ringBuffer { next.perfBuffer = true }
            if taskStorage && !hasTaskStorage { next.taskStorage = false }
            if next != self {
                // A kernel without either is older than 6.2: no bpf_rdonly_cast.
                next.plainFileLoads = false
                return next
            }
            // It has both: what it refused is bpf_rdonly_cast (Linux 5.11 to 6.1).
            guard plainFileLoads else { return nil }
            next.plainFileLoads = false
            return next
        }
    }

    /// The object opened, configured and loaded with the ring buffer, task
    /// storage and (where a traced call has them) the plain-load programs
    /// first. The kernel is probed only when it refuses the object, which
    /// is then loaded again without what it lacks: a kernel that has
    /// everything (Linux 6.2 and later) pays for no probe (0.25 ms of each
    /// start-up, BENCHMARKS.md), one from 5.11 to 6.1 for a second load.
    /// Also returns why the plain-load programs were given up, if they were.
    private static func load(_ bytes: [UInt8], options: TracerOptions, wanted: [SyscallKind])
        throws(KernelError) -> (OpaquePointer, LoadPaths, plainRefusal: String?) {
        var paths = LoadPaths(perfBuffer: options.forcePerfBuffer, taskStorage: !options.forceLegacyTaskState)
        // (The plain loads need the kernel's BTF task, not the task-storage
        // path: they are tried with a forced legacy task state too.)
        paths.plainFileLoads = !options.forceHelperFileReads && wanted.contains(where: plainFileLoadKinds.contains)
        var plainRefusal: String?
        while true {
            var openOptions = bpf_object_open_opts()
            openOptions.sz = MemoryLayout<bpf_object_open_opts>.size
            let opened: OpaquePointer? = "storetrace".withCString { name in
                openOptions.object_name = name
                return bytes.withUnsafeBytes { bpf_object__open_mem($0.baseAddress, $0.count, &openOptions) }
            }
            guard let object = opened else {
                throw .load(program: nil, errno: Errno(rawValue: errno), log: LibbpfLog.verifierFailure(in: LibbpfLog.drain()).log)
            }
            StartupTiming.mark("tracer: object opened")
            do {
                try configure(object, paths: paths, options: options, wanted: wanted)
            } catch {
                bpf_object__close(object)
                throw error
            }
            let loaded = ObjectLoad.load(object)
            if loaded == 0 { return (object, paths, plainRefusal) }
            let failure = LibbpfLog.verifierFailure(in: LibbpfLog.drain())
            bpf_object__close(object)
            let refusal = KernelError.load(program: failure.program, errno: Errno(rawValue: -loaded), log: failure.log)
            guard let next = paths.fallback(ringBuffer: paths.perfBuffer || kernelHasRingBuffer(),
                                            taskStorage: !paths.taskStorage || kernelHasTaskStorage()) else {
                throw refusal
            }
            if paths.plainFileLoads && !next.plainFileLoads {
                plainRefusal = refusal.description
                StartupTiming.mark("tracer: plain-load programs refused")
            }
            paths = next
        }
    }

    /// Settings, programs and maps of an opened object, before its load.
    private static func configure(_ object: OpaquePointer, paths: LoadPaths, options: TracerOptions,
                                  wanted: [SyscallKind]) throws(KernelError) {
        // Settings into .rodata, before load: the verifier then prunes the
        // paths they disable (the perf-buffer branch, the pid filter).
        var settings = st_settings()
        settings.target_pid = options.targetPID
        settings.exclude_pid = options.excludePID
        settings.use_perfbuf = paths.perfBuffer ? 1 : 0
        settings.use_task_btf = paths.taskStorage ? 1 : 0
        if !paths.perfBuffer && options.wakeupIntervalNanoseconds > 0 {
            settings.wakeup_interval_ns = options.wakeupIntervalNanoseconds
            settings.wakeup_bytes = UInt64(options.bufferSize / 4)
        }
        try writeReadOnly(settings, named: "st_settings", into: object)

        // Only the traced calls' programs, one exit variant each.
        let names = Set(wanted.flatMap { programs(for: $0, plainFileLoads: paths.plainFileLoads) })
        var program = bpf_object__next_program(object, nil)
        while let current = program {
            bpf_program__set_autoload(current, names.contains(String(cString: bpf_program__name(current))))
            program = bpf_object__next_program(object, current)
        }

        // The pending-call table of the other path is never created; its
        // code is pruned by the verifier (use_task_btf is a constant).
        bpf_map__set_autocreate(bpf_object__find_map_by_name(object, paths.taskStorage ? "st_pending" : "st_task_pending"), false)
        let events = bpf_object__find_map_by_name(object, "st_events")
        let perfEvents = bpf_object__find_map_by_name(object, "st_perf_events")
        if paths.perfBuffer {
            bpf_map__set_autocreate(events, false)
        } else {
            bpf_map__set_max_entries(events, UInt32(options.bufferSize))
            bpf_map__set_autocreate(perfEvents, false)
        }
    }

    private func openBuffer(perf: Bool, options: TracerOptions, events: OpaquePointer?,
                            perfEvents: OpaquePointer?) throws(KernelError) {
        let context = Unmanaged.passUnretained(handlerBox).toOpaque()
        if perf {
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            let pages = Self.perfBufferPagesPerCPU(requestedBytes: options.bufferSize, cpus: possibleCPUs, pageSize: pageSize)
            bufferBytes = pages * pageSize * possibleCPUs
            bufferNotice = Self.perfBufferNotice(requestedBytes: options.bufferSize, cpus: possibleCPUs, pageSize: pageSize)
            perfBuffer = perf_buffer__new(bpf_map__fd(perfEvents), pages, perfSample, perfLost, context, nil)
            if perfBuffer == nil { throw .system("perf_buffer__new") }
        } else {
            bufferBytes = options.bufferSize
            ringBuffer = ring_buffer__new(bpf_map__fd(events), ringSample, context, nil)
            if ringBuffer == nil { throw .system("ring_buffer__new") }
        }
    }

    /// The requested size split over the CPUs, in pages, a power of two per
    /// CPU (perf_buffer__new needs one), and at least 8: fewer loses events
    /// in any burst.
    public static func perfBufferPagesPerCPU(requestedBytes: Int, cpus: Int, pageSize: Int) -> Int {
        var pages = 1
        while pages * 2 * pageSize * cpus <= requestedBytes { pages *= 2 }
        return max(pages, minimumPerfBufferPages)
    }

    static let minimumPerfBufferPages = 8

    /// One line when the perf buffer must be larger than `--buffer-size`
    /// asked for (nil when it is not): the size is not changed quietly.
    public static func perfBufferNotice(requestedBytes: Int, cpus: Int, pageSize: Int) -> String? {
        let pages = perfBufferPagesPerCPU(requestedBytes: requestedBytes, cpus: cpus, pageSize: pageSize)
        let total = pages * pageSize * cpus
        guard total > requestedBytes else { return nil }
        return "perf buffer: --buffer-size \(requestedBytes >> 10) KiB is below its minimum of \(minimumPerfBufferPages) pages per CPU; "
            + "using \(total >> 10) KiB (\(pages * pageSize >> 10) KiB on each of \(cpus) CPUs)"
    }

    /// The same, for this machine's possible CPUs and page size.
    public static func perfBufferNotice(requestedBytes: Int) -> String? {
        perfBufferNotice(requestedBytes: requestedBytes, cpus: Int(max(libbpf_num_possible_cpus(), 1)),
                         pageSize: Int(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// Finds the `const volatile` global `name` in an object's .rodata
    /// through BTF and writes `value` into it, before load (ClaimTracer too).
    static func writeReadOnly<T>(_ value: T, named variableName: String, into object: OpaquePointer) throws(KernelError) {
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            if let name = bpf_map__name(current), String(cString: name).hasSuffix(".rodata") { break }
            map = bpf_object__next_map(object, current)
        }
        guard let rodata = map, let btf = bpf_object__btf(object) else {
            throw .load(program: nil, errno: .invalidArgument, log: ["BPF object has no .rodata or BTF"])
        }
        let sectionID = btf__find_by_name_kind(btf, ".rodata", 15 /* BTF_KIND_DATASEC */)
        guard sectionID > 0, let section = btf__type_by_id(btf, UInt32(sectionID)) else {
            throw .load(program: nil, errno: .invalidArgument, log: ["no .rodata section in BTF"])
        }
        let count = Int(section.pointee.info & 0xffff) // btf_vlen
        let variables = UnsafeRawPointer(section.advanced(by: 1)).assumingMemoryBound(to: btf_var_secinfo.self)
        var size = 0
        guard let initial = bpf_map__initial_value(rodata, &size) else {
            throw .load(program: nil, errno: .invalidArgument, log: ["no initial value for .rodata"])
        }
        for index in 0..<count {
            let variable = variables[index]
            guard let type = btf__type_by_id(btf, variable.type),
                  let name = btf__name_by_offset(btf, type.pointee.name_off),
                  String(cString: name) == variableName else { continue }
            guard Int(variable.size) == MemoryLayout<T>.size,
                  Int(variable.offset) + Int(variable.size) <= size else {
                throw .load(program: nil, errno: .invalidArgument,
                            log: ["\(variableName) is \(variable.size) bytes in BPF, \(MemoryLayout<T>.size) in Swift"])
            }
            var copy = value
            withUnsafeBytes(of: &copy) { bytes in
                UnsafeMutableRawPointer(mutating: initial).advanced(by: Int(variable.offset)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
            return
        }
        throw .load(program: nil, errno: .invalidArgument, log: ["\(variableName) not found in .rodata"])
    }

    /// Hands every record available now to `emit`; returns how many.
    @discardableResult
    public func drain(_ emit: @escaping (RawRecord) -> Void) -> Int {
        handlerBox.emit = emit
        defer { handlerBox.emit = HandlerBox.discard }
        if let ringBuffer { return Int(max(ring_buffer__consume(ringBuffer), 0)) }
        if let perfBuffer { return Int(max(perf_buffer__consume(perfBuffer), 0)) }
        return 0
    }

    /// Waits up to `timeoutMilliseconds` for a wake-up, then hands every
    /// record available, including those written without a wake-up, to `emit`.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32, _ emit: @escaping (RawRecord) -> Void) -> Int {
        handlerBox.emit = emit
        defer { handlerBox.emit = HandlerBox.discard }
        if let ringBuffer {
            let woken = Int(max(ring_buffer__poll(ringBuffer, timeoutMilliseconds), 0))
            return woken + Int(max(ring_buffer__consume(ringBuffer), 0))
        }
        if let perfBuffer { return Int(max(perf_buffer__poll(perfBuffer, timeoutMilliseconds), 0)) }
        return 0
    }

    /// Reads the per-CPU loss counters from the kernel and sums them.
    public func counters() -> LossCounters {
        var result = LossCounters()
        result.perfLostReported = handlerBox.perfLost
        var values = [UInt64](repeating: 0, count: possibleCPUs)
        for counter in 0..<Int(ST_COUNTER_MAX.rawValue) {
            var key = UInt32(counter)
            guard bpf_map_lookup_elem(countersFD, &key, &values) == 0 else { continue }
            let sum = values.reduce(0, &+)
            switch UInt32(counter) {
            case ST_COUNTER_RINGBUF_FULL.rawValue: result.bufferFull = sum
            case ST_COUNTER_PERFBUF_FULL.rawValue: result.perfLost = sum
            case ST_COUNTER_PENDING_FULL.rawValue: result.pendingFull = sum
            case ST_COUNTER_EXIT_UNMATCHED.rawValue: result.exitUnmatched = sum
            case ST_COUNTER_STRING_FAULT.rawValue: result.stringFaults = sum
            default: break
            }
        }
        return result
    }

    /// Detaches everything and frees the buffers. Safe to call twice.
    public func close() {
        Self.destroyConcurrently(links)
        links.removeAll()
        if let ringBuffer { ring_buffer__free(ringBuffer) }
        ringBuffer = nil
        if let perfBuffer { perf_buffer__free(perfBuffer) }
        perfBuffer = nil
        if let object { bpf_object__close(object) }
        object = nil
    }

    deinit { close() }

    /// Detaching a tracepoint program waits for an RCU grace period (tens of
    /// milliseconds); one after another, 24 links take seconds. Destroyed from
    /// one thread each, the grace periods overlap and Ctrl-C returns at once.
    static func destroyConcurrently(_ links: [OpaquePointer]) {
        var threads: [pthread_t] = []
        for link in links {
            var thread = pthread_t()
            let started = pthread_create(&thread, nil, { argument in
                bpf_link__destroy(OpaquePointer(argument))
                return nil
            }, UnsafeMutableRawPointer(link))
            if started == 0 { threads.append(thread) } else { bpf_link__destroy(link) }
        }
        for thread in threads { pthread_join(thread, nil) }
    }
}

private func ringSample(_ context: UnsafeMutableRawPointer?, _ data: UnsafeMutableRawPointer?, _ size: Int) -> Int32 {
    guard let context, let data else { return 0 }
    let box = Unmanaged<SyscallTracer.HandlerBox>.fromOpaque(context).takeUnretainedValue()
    box.deliver(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

private func perfSample(_ context: UnsafeMutableRawPointer?, _ cpu: Int32, _ data: UnsafeMutableRawPointer?, _ size: UInt32) {
    guard let context, let data else { return }
    let box = Unmanaged<SyscallTracer.HandlerBox>.fromOpaque(context).takeUnretainedValue()
    box.deliver(UnsafeRawBufferPointer(start: data, count: Int(size)))
}

private func perfLost(_ context: UnsafeMutableRawPointer?, _ cpu: Int32, _ count: UInt64) {
    guard let context else { return }
    Unmanaged<SyscallTracer.HandlerBox>.fromOpaque(context).takeUnretainedValue().perfLost += count
}
