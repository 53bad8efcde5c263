import Glibc
import StoretraceDecode
import SystemPackage

/// Something a source could not set up: reported once, skipped, and the run
/// goes on with the rest ("function tracer: the kernel refused ...").
public struct SourceWarning: Equatable, Sendable, CustomStringConvertible {
    /// What was skipped: "function tracer", "event iommu:add_device_to_group", "trace clock".
    public var source: String
    public var reason: String

    public init(source: String, reason: String) {
        self.source = source
        self.reason = reason
    }

    public var description: String { "\(source): \(reason)" }
}

/// A tracepoint event by its tracefs name, `SYSTEM:NAME`.
public struct TraceEventName: Hashable, Sendable, CustomStringConvertible {
    public var system: String
    public var name: String

    public init(system: String, name: String) {
        self.system = system
        self.name = name
    }

    /// Parses `SYSTEM:NAME`. Only identifier characters are accepted, so a
    /// name can never reach outside events/ ("../", "/").
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, Self.isIdentifier(parts[0]), Self.isIdentifier(parts[1]) else { return nil }
        system = String(parts[0])
        name = String(parts[1])
    }

    public var description: String { "\(system):\(name)" }
    /// Path below the instance: `events/SYSTEM/NAME`.
    public var directory: String { "events/\(system)/\(name)" }

    static func isIdentifier(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 == 0x5F || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }
    }
}

public struct TracefsInstanceOptions: Sendable {
    /// Kernel events that matter when a disk is attached or detached, where they exist.
    public static let defaultEvents = [
        "iommu:add_device_to_group", "iommu:remove_device_from_group",
        "iommu:attach_device_to_domain", "block:block_rq_error",
    ]
    /// The driver-binding path: sysfs bind/unbind writes and the NVMe probe/remove.
    public static let defaultFunctions = ["bind_store", "unbind_store", "nvme_probe", "nvme_remove"]

    /// The trace clock to use. "mono" is CLOCK_MONOTONIC, the clock
    /// bpf_ktime_get_ns and every other storetrace source use.
    public var clock = "mono"
    /// Per-CPU ring size; nil keeps the kernel's default for new instances.
    public var bufferSizeKB: Int?
    /// `SYSTEM:NAME` tracepoints to enable.
    public var events: [String] = defaultEvents
    /// Functions for the function tracer; empty leaves the tracer off.
    public var functions: [String] = defaultFunctions

    public init() {}
}

/// A private tracefs instance, `instances/storetrace-<pid>-<n>`, with its own
/// ring buffer, clock, events and tracer. storetrace never touches the
/// top-level buffer or tracer, which other tools (and people) use.
///
/// Everything the instance changes is recorded in `changes` and undone by
/// `close()`, which then removes the instance. A run killed before it could
/// close leaves its instance behind; `removeStale(tracefs:)` finds those by
/// their lock. Tracing stays off until `start()`.
///
/// Ownership is an flock on the instance directory, held from creation to
/// removal: the kernel drops it when the owner dies, however it dies, and it
/// holds across PID and mount namespaces (tracefs has one superblock), where
/// the pid in the name means nothing (a run in a container is pid 1 there,
/// or any pid the host may not have).
public final class TracefsInstance {
    public static let namePrefix = "storetrace-"

    /// A setting this instance changed, in the order it was made.
    public enum Change: Equatable, Sendable {
        case created
        case tracingOff
        case clock(from: String, to: String)
        case bufferSizeKB(Int)
        case bufferPercent(Int)
        /// An instance option (options/NAME) set to 1.
        case optionOn(String)
        case eventEnabled(TraceEventName)
        case functionFilter([String])
        case currentTracer(String)
        case tracingOn
    }

    public let tracefs: TracefsMount
    /// `storetrace-<pid>-<n>`.
    public let name: String
    /// Absolute path of the instance directory.
    public let path: String
    /// The trace clock in effect: the one asked for, or the kernel's default
    /// when that is missing (then `warnings` says so).
    public private(set) var clock: String
    public private(set) var enabledEvents: [TraceEventName] = []
    /// Functions in set_ftrace_filter with current_tracer = function; empty
    /// when the tracer is off (not asked for, or refused: see `warnings`).
    public private(set) var tracedFunctions: [String] = []
    /// Everything that was asked for and skipped, one entry per cause.
    public private(set) var warnings: [SourceWarning] = []
    public private(set) var changes: [Change] = []
    public private(set) var isClosed = false
    /// The instance directory, flocked (LOCK_EX) for the instance's lifetime.
    private var lockFD: Int32 = -1

    /// Which tracer traces `tracedFunctions`; nil when none does.
    public private(set) var functionTracer: FunctionTracerKind?

    public var functionTracerOn: Bool { !tracedFunctions.isEmpty }

    /// The ftrace events the function tracer in use writes (their formats
    /// decode its records): none, ftrace:function, or the graph's pair.
    public var functionTracerEvents: [TraceEventName] {
        switch functionTracer {
        case .graph?: [TraceEventName(system: "ftrace", name: "funcgraph_entry"), TraceEventName(system: "ftrace", name: "funcgraph_exit")]
        case .function?: [TraceEventName(system: "ftrace", name: "function")]
        case nil: []
        }
    }
    /// True when ftrace timestamps are CLOCK_MONOTONIC nanoseconds and so
    /// merge with the other sources.
    public var clockIsMonotonic: Bool { clock == "mono" }

    /// Creates the instance and applies `options`, tracing off. Only failing
    /// to create the instance throws; anything else is a warning.
    public init(tracefs: TracefsMount, options: TracefsInstanceOptions = .init()) throws(KernelError) {
        self.tracefs = tracefs
        let instances = tracefs.path + "/instances"
        // mkdir is atomic, so trying the next n after EEXIST needs no lock,
        // even with several instances per process. The instances directory's
        // own lock is held from mkdir until the new instance is locked, so
        // that a cleanup (which takes it too) never sees it unlocked.
        let creating = Self.lockDirectory(instances, nonBlocking: false)
        defer { if creating >= 0 { Glibc.close(creating) } }
        var attempt = 0
        var created: (name: String, path: String)?
        while created == nil {
            let candidate = "\(Self.namePrefix)\(getpid())-\(attempt)"
            if mkdir(instances + "/" + candidate, 0o700) == 0 {
                created = (candidate, instances + "/" + candidate)
            } else if errno == EEXIST, attempt < 1000 {
                attempt += 1
            } else {
                let failure = Errno(rawValue: errno)
                throw .tracefs(path: instances + "/" + candidate, errno: failure,
                               action: failure == .permissionDenied
                                   ? "create the tracefs instance (instances/ is root-only: run as root, or add CAP_DAC_OVERRIDE; --no-ftrace goes without)"
                                   : "create the tracefs instance")
            }
        }
        name = created!.name
        path = created!.path
        let lock = Self.lockDirectory(created!.path, nonBlocking: true)
        guard lock >= 0 else {
            let failure = Errno(rawValue: errno)
            rmdir(created!.path)
            throw .tracefs(path: created!.path, errno: failure, action: "lock (flock) the tracefs instance")
        }
        lockFD = lock
        clock = "local"
        changes.append(.created)

        // A new instance records from the moment it exists; keep it quiet
        // until everything is set and the reader is ready.
        if set("tracing_on", "0") == nil { changes.append(.tracingOff) }
        applyClock(options.clock)
        if let kilobytes = options.bufferSizeKB {
            if let failure = set("buffer_size_kb", "\(kilobytes)") {
                warnings.append(.init(source: "ftrace buffer", reason: "writing \(kilobytes) to \(path)/buffer_size_kb: \(failure.symbolicDescription); kept the default"))
            } else {
                changes.append(.bufferSizeKB(kilobytes))
            }
        }
        // 0: wake a reader as soon as one event is there (the default, 50,
        // waits for half a buffer, far too late for a live view).
        if set("buffer_percent", "0") == nil { changes.append(.bufferPercent(0)) }
        // The kernel keeps each traced thread's tgid in saved_tgids (and,
        // with the global record-cmd, which is on by default, its comm in
        // saved_cmdlines) from the thread's next context switch, while it
        // still lives: how the task table names threads that exit before
        // their events are read (`SavedTasks`).
        if set("options/record-tgid", "1") == nil { changes.append(.optionOn("record-tgid")) }
        for text in options.events { enableEvent(text) }
        enableFunctionTracer(options.functions)
    }

    deinit { close() }

    /// Absolute path of a file in the instance.
    public func file(_ relative: String) -> String { path + "/" + relative }

    /// Turns the ring buffer on.
    public func start() throws(KernelError) {
        if let failure = set("tracing_on", "1") {
            throw .tracefs(path: file("tracing_on"), errno: failure, action: "start tracing in")
        }
        changes.append(.tracingOn)
    }

    /// Undoes every change, then removes the instance. Safe to call twice.
    /// Any file of the instance still open (trace_pipe_raw) makes the rmdir
    /// fail with EBUSY: close the FtraceSource first (its close() does this).
    /// Returns what could not be undone.
    @discardableResult
    public func close() -> [KernelError] {
        guard !isClosed else { return [] }
        isClosed = true
        var failures: [KernelError] = []
        func undo(_ relative: String, _ value: String, _ action: String) {
            if let failure = set(relative, value) {
                failures.append(.tracefs(path: file(relative), errno: failure, action: action))
            }
        }
        undo("tracing_on", "0", "stop tracing in")
        for event in enabledEvents {
            undo(event.directory + "/enable", "0", "disable")
        }
        if changes.contains(where: { if case .currentTracer = $0 { true } else { false } }) {
            undo("current_tracer", "nop", "reset the tracer in")
        }
        if changes.contains(where: { if case .functionFilter = $0 { true } else { false } }) {
            undo("set_ftrace_filter", "", "clear the function filter in")
        }
        for case .optionOn(let option) in changes {
            undo("options/" + option, "0", "turn off option \(option) in")
        }
        // The clock, buffer size and buffer_percent belong to the instance
        // and go with it.
        if rmdir(path) != 0 {
            failures.append(.tracefs(path: path, errno: Errno(rawValue: errno), action: "remove the tracefs instance"))
        }
        // Released after the rmdir: a cleanup must not take an instance
        // that is still being closed for a stale one.
        if lockFD >= 0 { Glibc.close(lockFD) }
        lockFD = -1
        return failures
    }

    // MARK: Stale instances

    /// Removes every `storetrace-<pid>-<n>` instance that no run holds (its
    /// run was killed), returning their names. Instances of live runs, in
    /// any PID namespace, this process's included, hold their lock and are
    /// left alone.
    public static func removeStale(tracefs: TracefsMount) -> [String] {
        let instances = tracefs.path + "/instances"
        // No instance is created (mkdir, then locked) while we look.
        let scanning = lockDirectory(instances, nonBlocking: false)
        defer { if scanning >= 0 { Glibc.close(scanning) } }
        var removed: [String] = []
        for name in TracefsFiles.list(instances).sorted() where ownerPID(ofInstance: name) != nil {
            let path = instances + "/" + name
            // Held while removing: the owner is gone and no one else takes it.
            let lock = lockDirectory(path, nonBlocking: true)
            guard lock >= 0 else { continue }
            defer { Glibc.close(lock) }
            // Quiet it before removing, in case rmdir fails and it lingers.
            TracefsFiles.write(path + "/tracing_on", "0")
            TracefsFiles.write(path + "/events/enable", "0")
            TracefsFiles.write(path + "/current_tracer", "nop")
            TracefsFiles.write(path + "/set_ftrace_filter", "")
            if rmdir(path) == 0 { removed.append(name) }
        }
        return removed
    }

    /// The names of instances no run holds, without removing them (doctor).
    public static func staleInstances(tracefs: TracefsMount) -> [String] {
        let instances = tracefs.path + "/instances"
        return TracefsFiles.list(instances).sorted().filter { name in
            guard ownerPID(ofInstance: name) != nil else { return false }
            let lock = lockDirectory(instances + "/" + name, nonBlocking: true)
            guard lock >= 0 else { return false }
            Glibc.close(lock)
            return true
        }
    }

    /// The pid in `storetrace-<pid>-<n>`, or nil for any other name. Only
    /// says the name is storetrace's: the pid is in the creator's namespace.
    static func ownerPID(ofInstance name: String) -> pid_t? {
        guard name.hasPrefix(namePrefix) else { return nil }
        let parts = name.dropFirst(namePrefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              let pid = pid_t(parts[0]), pid > 0
        else { return nil }
        return pid
    }

    /// Opens a tracefs directory and flocks it (LOCK_EX): the descriptor,
    /// or -1 (errno set) if it cannot be opened or, non-blocking, someone
    /// else holds it. tracefs supports flock on directories.
    static func lockDirectory(_ path: String, nonBlocking: Bool) -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return -1 }
        while flock(fd, LOCK_EX | (nonBlocking ? LOCK_NB : 0)) != 0 {
            if errno == EINTR { continue }
            let failure = errno
            Glibc.close(fd)
            errno = failure
            return -1
        }
        return fd
    }

    // MARK: Setup steps

    private func set(_ relative: String, _ value: String) -> Errno? {
        TracefsFiles.write(file(relative), value)
    }

    private func applyClock(_ wanted: String) {
        guard case .success(let text) = TracefsFiles.readText(file("trace_clock")) else {
            warnings.append(.init(source: "trace clock", reason: "cannot read \(file("trace_clock")); ftrace times may not line up with other sources"))
            return
        }
        let clocks = TraceClockList(text)
        if let current = clocks.current { clock = current }
        let available = clocks.available
        guard clock != wanted else { return }
        guard available.contains(wanted) else {
            warnings.append(.init(source: "trace clock", reason: "this kernel has no \"\(wanted)\" trace clock; using \"\(clock)\", so ftrace times will not line up exactly with the other sources"))
            return
        }
        if let failure = set("trace_clock", wanted) {
            warnings.append(.init(source: "trace clock", reason: "writing \(wanted) to \(file("trace_clock")): \(failure.symbolicDescription); using \"\(clock)\""))
            return
        }
        changes.append(.clock(from: clock, to: wanted))
        clock = wanted
    }

    private func enableEvent(_ text: String) {
        guard let event = TraceEventName(text) else {
            warnings.append(.init(source: "event \(text)", reason: "not a SYSTEM:NAME tracepoint name"))
            return
        }
        guard !enabledEvents.contains(event) else { return }
        // stat, not access(2): access checks the real uid without the
        // capabilities, so to a non-root user with CAP_DAC_OVERRIDE every
        // event looked absent. Only ENOENT means the kernel lacks it.
        var info = stat()
        guard stat(file(event.directory), &info) == 0 else {
            let failure = Errno(rawValue: errno)
            warnings.append(.init(source: "event \(event)", reason: failure == .noSuchFileOrDirectory
                ? "this kernel has no such tracepoint (no \(file(event.directory)))"
                : "cannot look for it: \(file(event.directory)): \(failure.symbolicDescription)"))
            return
        }
        if let failure = set(event.directory + "/enable", "1") {
            warnings.append(.init(source: "event \(event)", reason: "writing 1 to \(file(event.directory))/enable: \(failure.symbolicDescription)"))
            return
        }
        enabledEvents.append(event)
        changes.append(.eventEnabled(event))
    }

    /// set_ftrace_filter first, current_tracer second: with an empty filter
    /// the function tracer traces every function in the kernel. The graph
    /// tracer with return values (`funcgraph-retval`) where the kernel has
    /// it, else the function tracer (entries only); every refusal ends the
    /// attempt with one warning naming the file and errno, and why the
    /// graph tracer was not used.
    private func enableFunctionTracer(_ requested: [String]) {
        var wanted: [String] = []
        for name in requested where !wanted.contains(name) { wanted.append(name) }
        guard !wanted.isEmpty else { return }
        let source = "function tracer"

        let tracers = TracefsFiles.readText(file("available_tracers"))
        let tracerNames = (try? tracers.get()).map { $0.split(whereSeparator: { $0 == " " || $0 == "\n" }) } ?? []
        // Why the graph tracer is not an option here, if it is not.
        let graphUnavailable: String? =
            !tracerNames.contains("function_graph") ? "not in available_tracers"
            : access(file("options/funcgraph-retval"), F_OK) != 0 ? "no funcgraph-retval option (Linux 6.5+ with CONFIG_FUNCTION_GRAPH_RETVAL)"
            : nil
        let fallback = (graphUnavailable.map { " (function_graph: \($0))" } ?? "") + "; bind and unbind from uevents alone"
        let skipped = wanted.joined(separator: ", ") + fallback
        guard tracerNames.contains("function") else {
            warnings.append(.init(source: source, reason: "this kernel has no function tracer (not in \(file("available_tracers"))); not tracing \(skipped)"))
            return
        }

        // Only the top level has the list; it is the same for every instance.
        let listPath = tracefs.path + "/available_filter_functions"
        let available: [UInt8]
        switch TracefsFiles.read(listPath) {
        case .success(let bytes): available = bytes
        case .failure(let failure):
            warnings.append(refusal(source, reading: listPath, failure, skipped))
            return
        }
        let present = FilterFunctionList.present(wanted, in: available)
        for name in wanted where !present.contains(name) {
            warnings.append(.init(source: "function \(name)", reason: "not in available_filter_functions (absent from this kernel, inlined, or not traceable); skipped"))
        }
        let traced = wanted.filter { present.contains($0) }
        guard !traced.isEmpty else { return }

        let filterPath = file("set_ftrace_filter")
        if let failure = set("set_ftrace_filter", traced.joined(separator: " ")) {
            changes.append(.functionFilter([]))  // a partial write is cleared at close
            warnings.append(refusal(source, writing: filterPath, failure, skipped))
            return
        }
        changes.append(.functionFilter(traced))
        // Never enable the tracer on an empty filter: that would trace all functions.
        guard case .success(let filter) = TracefsFiles.readText(filterPath),
              !filter.split(separator: "\n").filter({ !$0.hasPrefix("#") }).isEmpty
        else {
            warnings.append(.init(source: source, reason: "\(filterPath) is empty after writing \(traced.joined(separator: " ")); not enabling the tracer"))
            return
        }
        var graphRefused: String?
        if graphUnavailable == nil {
            // The option first: the graph's records carry retval from its first call.
            if set("options/funcgraph-retval", "1") == nil { changes.append(.optionOn("funcgraph-retval")) }
            if let failure = set("current_tracer", "function_graph") {
                graphRefused = "the kernel refused writing \(file("current_tracer")): \(failure.symbolicDescription)"
            } else {
                changes.append(.currentTracer("function_graph"))
                functionTracer = .graph
                tracedFunctions = traced
                return
            }
        }
        if let failure = set("current_tracer", "function") {
            warnings.append(refusal(source, writing: file("current_tracer"), failure,
                                    graphRefused.map { traced.joined(separator: ", ") + " (function_graph: \($0))" + "; bind and unbind from uevents alone" } ?? skipped))
            return
        }
        changes.append(.currentTracer("function"))
        functionTracer = .function
        tracedFunctions = traced
        let why = graphRefused ?? graphUnavailable ?? "unavailable"
        warnings.append(.init(source: source, reason: "function_graph: \(why); tracing \(traced.joined(separator: ", ")) with the function tracer: calls only, without return values or durations"))
    }

    private func refusal(_ source: String, reading path: String, _ failure: Errno, _ skipped: String) -> SourceWarning {
        .init(source: source, reason: "the kernel refused reading \(path): \(failure.symbolicDescription)\(Self.hint(failure)); not tracing \(skipped)")
    }

    private func refusal(_ source: String, writing path: String, _ failure: Errno, _ skipped: String) -> SourceWarning {
        .init(source: source, reason: "the kernel refused writing \(path): \(failure.symbolicDescription)\(Self.hint(failure)); not tracing \(skipped)")
    }

    private static func hint(_ failure: Errno) -> String {
        failure == .notPermitted ? " (lockdown or a restricted kernel build disallows function tracing)" : ""
    }
}

/// The kernel's tracer that traces `--function` names.
public enum FunctionTracerKind: String, Sendable {
    /// `function_graph` with `funcgraph-retval`: each call and its return,
    /// with the return value and how long it took.
    case graph = "function_graph"
    /// `function`: each call, without its outcome.
    case function
}
