import CLibbpf
import CStoretraceABI
import Glibc
import StoretraceBPF
import StoretraceDecode
import SystemPackage

extension SyscallTracer {
    /// The calls whose exit programs read open files, and so have a `_plain`
    /// variant (bpf_rdonly_cast, Linux 6.2+) beside the helper-read one.
    public static let plainFileLoadKinds: Set<SyscallKind> = [.copyFileRange, .splice, .sendfile]

    /// Opens storetrace.bpf.o with the tracer's settings and loads the
    /// programs of the traced calls, one variant of each: repeatable, since
    /// a kernel that refuses the plain-load programs gets the object again
    /// with the helper-read ones.
    struct ObjectLoad {
        let bytes: [UInt8]
        let settings: st_settings
        let wanted: [SyscallKind]
        let perf: Bool
        let taskStorage: Bool
        let bufferSize: Int

        /// The programs that trace `kind`: its entry, and the exit variant.
        static func programs(for kind: SyscallKind, plainFileLoads: Bool) -> [String] {
            let exitSuffix = plainFileLoads && SyscallTracer.plainFileLoadKinds.contains(kind) ? "_plain" : ""
            return ["st_enter_\(kind.tracepoint)", "st_exit_\(kind.tracepoint)\(exitSuffix)"]
        }

        /// The loaded object (the caller closes it), or the load's failure.
        func load(plainFileLoads: Bool) throws(KernelError) -> OpaquePointer {
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
            // Settings into .rodata, before load: the verifier then prunes
            // the paths they disable (the perf-buffer branch, the pid filter).
            do {
                try SyscallTracer.writeReadOnly(settings, named: "st_settings", into: object)
            } catch {
                bpf_object__close(object)
                throw error
            }

            // Only the traced calls' programs, one exit variant each.
            let names = Set(wanted.flatMap { Self.programs(for: $0, plainFileLoads: plainFileLoads) })
            var program = bpf_object__next_program(object, nil)
            while let current = program {
                bpf_program__set_autoload(current, names.contains(String(cString: bpf_program__name(current))))
                program = bpf_object__next_program(object, current)
            }

            // The pending-call table of the other path is never created; its
            // code is pruned by the verifier (use_task_btf is a constant).
            bpf_map__set_autocreate(bpf_object__find_map_by_name(object, taskStorage ? "st_pending" : "st_task_pending"), false)
            let events = bpf_object__find_map_by_name(object, "st_events")
            if perf {
                bpf_map__set_autocreate(events, false)
            } else {
                bpf_map__set_max_entries(events, UInt32(bufferSize))
                bpf_map__set_autocreate(bpf_object__find_map_by_name(object, "st_perf_events"), false)
            }

            let loaded = bpf_object__load(object)
            if loaded != 0 {
                let failure = LibbpfLog.verifierFailure(in: LibbpfLog.drain())
                bpf_object__close(object)
                throw .load(program: failure.program, errno: Errno(rawValue: -loaded), log: failure.log)
            }
            return object
        }
    }
}
