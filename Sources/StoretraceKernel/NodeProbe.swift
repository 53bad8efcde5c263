import CLibbpf
import CStoretraceSys
import Glibc
import StoretraceDecode
import SystemPackage

/// What this node supports, for `storetrace doctor`: one check per line.
public struct ProbeResult: Sendable, Equatable {
    public enum State: String, Sendable {
        case ok
        case missing
        case refused
    }
    public var name: String
    public var state: State
    public var detail: String
}

public enum NodeProbe {
    /// A BPF feature's line: a probe the kernel refused (no CAP_BPF) says
    /// so, and nothing about the kernel's version.
    static func feature(_ name: String, _ probe: SyscallTracer.FeatureProbe, present: String, absent: String) -> ProbeResult {
        switch probe {
        case .present: return .init(name: name, state: .ok, detail: present)
        case .absent: return .init(name: name, state: .missing, detail: absent)
        case .notChecked(let failure):
            return .init(name: name, state: .refused, detail: "not checked: the kernel refused the probe (\(failure)); run doctor as root or with CAP_BPF")
        }
    }

    /// Whether the copy calls' exit programs read the open files with plain
    /// loads (bpf_rdonly_cast, Linux 6.2+) or helper calls: the tracer is
    /// loaded for copy_file_range alone, as `live` would load it, and closed.
    static func plainFileLoads(_ tracefs: TracefsMount) -> ProbeResult {
        let name = "BPF plain file loads"
        guard SyscallTracer.taskStorageProbe() != .absent else {
            return .init(name: name, state: .missing, detail: "kernel before 5.11: copy calls' open files are read with helper calls (slower, same events)")
        }
        var options = TracerOptions()
        options.kinds = [.copyFileRange]
        options.targetPID = UInt32(getpid()) // doctor makes no copies: nothing is traced
        options.bufferSize = 64 << 10
        do {
            let tracer = try SyscallTracer(options: options, tracefs: tracefs)
            defer { tracer.close() }
            if tracer.usesPlainFileLoads {
                return .init(name: name, state: .ok, detail: "bpf_rdonly_cast (Linux 6.2+): copy calls' open files read with plain loads")
            }
            let why = tracer.plainFileLoadsRefusal.map { $0.split(separator: "\n").first.map(String.init) ?? $0 } ?? "not tried"
            return .init(name: name, state: .missing, detail: "helper calls instead (slower, same events): \(why)")
        } catch {
            return .init(name: name, state: .refused, detail: "not checked: the syscall tracer did not load (\(error))")
        }
    }

    public static func run() -> [ProbeResult] {
        var results: [ProbeResult] = []
        let caps = Privileges.effective()
        do {
            try Privileges.checkTracing(effective: caps)
            results.append(.init(name: "privileges", state: .ok, detail: Privileges.describe(effective: caps)))
        } catch {
            results.append(.init(name: "privileges", state: .refused, detail: error.description))
        }

        var names = utsname()
        uname(&names)
        let release = withUnsafeBytes(of: &names.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        results.append(.init(name: "kernel", state: .ok, detail: "Linux \(release)"))

        if access("/sys/kernel/btf/vmlinux", R_OK) == 0 {
            results.append(.init(name: "BTF", state: .ok, detail: "/sys/kernel/btf/vmlinux (CO-RE relocations resolve)"))
        } else {
            results.append(.init(name: "BTF", state: .missing, detail: "no /sys/kernel/btf/vmlinux: kernel built without CONFIG_DEBUG_INFO_BTF"))
        }

        results.append(feature("BPF ring buffer", SyscallTracer.ringBufferProbe(),
                               present: "BPF_MAP_TYPE_RINGBUF (Linux 5.8+)",
                               absent: "kernel before 5.8: storetrace falls back to the perf buffer"))
        results.append(feature("BPF task storage", SyscallTracer.taskStorageProbe(),
                               present: "BPF_MAP_TYPE_TASK_STORAGE, bpf_get_current_task_btf (Linux 5.11+)",
                               absent: "kernel before 5.11: storetrace keeps pending calls in a hash map (slower, same events)"))

        // Loaded and detached again: whether this kernel lets storetrace see
        // who claimed a block device (fexit, else kprobes).
        results.append(ClaimTracer.probe())

        let existing = TracefsMount.existing()
        var tracefs: TracefsMount?
        do {
            tracefs = try TracefsMount()
        } catch {
            results.append(.init(name: "tracefs", state: .refused, detail: error.description))
        }
        if let tracefs {
            let state = existing != nil
                ? "mounted at \(tracefs.path)"
                : "not mounted; storetrace mounts it at \(tracefs.path) while attaching and unmounts it after"
            results.append(.init(name: "tracefs", state: .ok, detail: state))
            for kind in SyscallKind.allCases {
                let event = "syscalls:sys_enter_\(kind.tracepoint)"
                let failure = tracefs.lookUp("events/syscalls/sys_enter_\(kind.tracepoint)")
                if failure == nil {
                    results.append(.init(name: "syscall \(kind.callName)", state: .ok, detail: event))
                } else if failure == .permissionDenied {
                    results.append(.init(name: "syscall \(kind.callName)", state: .refused,
                                         detail: "\(event): \(tracefs.path)/events may not be read (EACCES: root-only; needs root or CAP_DAC_READ_SEARCH)"))
                } else {
                    results.append(.init(name: "syscall \(kind.callName)", state: .missing, detail: "no tracepoint \(event)"))
                }
            }
            results.append(plainFileLoads(tracefs))
            let function = functionTracer(tracefs)
            let graph = functionGraphTracer(tracefs)
            results += [function, graph, driverBinding(graph: graph, function: function)]
            results += SourceProbes.run(tracefs: tracefs)
            tracefs.release()
        }

        results.append(ueventSocket())
        results.append(podCgroups())
        if let fd = Optional(open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)), fd >= 0 {
            Glibc.close(fd)
            results.append(.init(name: "/dev/kmsg", state: .ok, detail: "readable"))
        } else {
            results.append(.init(name: "/dev/kmsg", state: .refused, detail: "open: \(Errno(rawValue: errno))"))
        }
        return results
    }

    /// How the pods and containers of syscall events' processes are found
    /// (`CgroupResolver`): cgroup ids alone, ids then /proc/PID/cgroup, or
    /// /proc/PID/cgroup alone; with the size of the unified hierarchy indexed.
    static func podCgroups() -> ProbeResult {
        let resolver = CgroupResolver()
        resolver.refresh()
        let name = "pods (cgroups)"
        switch resolver.method {
        case .none:
            return .init(name: name, state: .missing, detail: resolver.method.description)
        case .v1:
            return .init(name: name, state: .ok, detail: resolver.method.description)
        case .unified, .hybrid:
            var detail = resolver.method.description + "; \(resolver.indexedCount) cgroups indexed"
            if resolver.indexOverflow > 0 { detail += ", \(resolver.indexOverflow) over the limit of \(CgroupResolver.indexLimit)" }
            return .init(name: name, state: .ok, detail: detail)
        }
    }

    /// Tries the function tracer the way storetrace would use it: in a
    /// private instance (never the top-level buffer), removed right after.
    static func functionTracer(_ tracefs: TracefsMount) -> ProbeResult {
        tryTracer("function", named: "function tracer", tracefs,
                  missing: "kernel built without CONFIG_FUNCTION_TRACER (not in available_tracers)")
    }

    /// The graph tracer with return values, which `--function` names use
    /// where the kernel has it (each call with its return value and duration).
    static func functionGraphTracer(_ tracefs: TracefsMount) -> ProbeResult {
        let name = "function_graph tracer"
        let result = tryTracer("function_graph", named: name, tracefs,
                               missing: "kernel built without CONFIG_FUNCTION_GRAPH_TRACER (not in available_tracers)")
        guard result.state == .ok else { return result }
        guard access(tracefs.path + "/options/funcgraph-retval", F_OK) == 0 else {
            return .init(name: name, state: .missing, detail: "no funcgraph-retval option (Linux 6.5+ with CONFIG_FUNCTION_GRAPH_RETVAL): return values unavailable")
        }
        return .init(name: name, state: .ok, detail: "available in a private instance, with funcgraph-retval")
    }

    /// Which tracer storetrace uses for driver binding, from the two probes.
    static func driverBinding(graph: ProbeResult, function: ProbeResult) -> ProbeResult {
        let name = "driver binding"
        if graph.state == .ok {
            return .init(name: name, state: .ok, detail: "function_graph: bind_store, unbind_store, nvme_probe, nvme_remove with return values and durations")
        }
        if function.state == .ok {
            return .init(name: name, state: .ok, detail: "function tracer: calls only, without return values (function_graph: \(graph.detail))")
        }
        return .init(name: name, state: function.state, detail: "uevents bind/unbind only: neither function_graph nor the function tracer runs here")
    }

    private static func tryTracer(_ tracer: String, named name: String, _ tracefs: TracefsMount, missing: String) -> ProbeResult {
        guard let available = try? readFile(tracefs.path + "/available_tracers"),
              available.split(separator: " ").contains(where: { $0.trimming("\n") == tracer })
        else {
            return .init(name: name, state: .missing, detail: missing)
        }
        let instance = tracefs.path + "/instances/storetrace-doctor-\(getpid())"
        guard mkdir(instance, 0o700) == 0 else {
            return .init(name: name, state: .refused, detail: "cannot create a tracefs instance: \(Errno(rawValue: errno))")
        }
        defer { rmdir(instance) }
        let fd = open(instance + "/current_tracer", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return .init(name: name, state: .refused, detail: "open current_tracer: \(Errno(rawValue: errno))")
        }
        let line = tracer + "\n"
        let written = write(fd, line, line.utf8.count)
        let writeErrno = errno
        if written == line.utf8.count { _ = write(fd, "nop\n", 4) }
        Glibc.close(fd)
        if written == line.utf8.count {
            return .init(name: name, state: .ok, detail: "available in a private instance")
        }
        let why = writeErrno == EPERM
            ? "the kernel refuses it (EPERM writing current_tracer: lockdown or a restricted build)"
            : "writing current_tracer: \(Errno(rawValue: writeErrno))"
        return .init(name: name, state: .refused, detail: why)
    }

    static func ueventSocket() -> ProbeResult {
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 15 /* NETLINK_KOBJECT_UEVENT */)
        guard fd >= 0 else {
            return .init(name: "netlink uevents", state: .refused, detail: "socket: \(Errno(rawValue: errno))")
        }
        defer { Glibc.close(fd) }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = 1
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        if bound != 0 {
            return .init(name: "netlink uevents", state: .refused, detail: "bind to the kernel group: \(Errno(rawValue: errno))")
        }
        return .init(name: "netlink uevents", state: .ok, detail: "NETLINK_KOBJECT_UEVENT, kernel group")
    }
}

/// Reads a small file (tracefs, procfs) whole: `TracefsFiles.read` as a String.
public func readFile(_ path: String) throws(KernelError) -> String {
    switch TracefsFiles.readText(path) {
    case .success(let text): return text
    case .failure(let errno): throw .system(call: "read \(path)", errno: errno)
    }
}
