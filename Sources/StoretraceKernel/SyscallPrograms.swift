import StoretraceDecode

extension SyscallTracer {
    /// The calls whose exit programs read open files, and so have a `_plain`
    /// variant (bpf_rdonly_cast, Linux 6.2+) beside the helper-read one.
    public static let plainFileLoadKinds: Set<SyscallKind> = [.copyFileRange, .splice, .sendfile]

    /// The programs of storetrace.bpf.o that trace `kind`: its entry, and
    /// the exit variant (`load` picks one per object load).
    static func programs(for kind: SyscallKind, plainFileLoads: Bool) -> [String] {
        let exitSuffix = plainFileLoads && plainFileLoadKinds.contains(kind) ? "_plain" : ""
        return ["st_enter_\(kind.tracepoint)", "st_exit_\(kind.tracepoint)\(exitSuffix)"]
    }
}
