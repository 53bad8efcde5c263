import CStoretraceSys
import Glibc

/// Linux capability numbers (include/uapi/linux/capability.h).
public enum Capability: Int, CaseIterable, Sendable {
    case dacReadSearch = 2
    case sysPtrace = 19
    case sysAdmin = 21
    case perfmon = 38
    case bpf = 39

    public var name: String {
        switch self {
        case .dacReadSearch: "CAP_DAC_READ_SEARCH"
        case .sysPtrace: "CAP_SYS_PTRACE"
        case .sysAdmin: "CAP_SYS_ADMIN"
        case .perfmon: "CAP_PERFMON"
        case .bpf: "CAP_BPF"
        }
    }
}

public enum Privileges {
    /// The effective capability set of this thread.
    public static func effective() -> UInt64 {
        var caps: UInt64 = 0
        return st_effective_caps(&caps) == 0 ? caps : 0
    }

    /// Throws naming what is missing unless this process may load and attach
    /// tracing BPF programs: CAP_SYS_ADMIN, or both CAP_BPF and CAP_PERFMON.
    public static func checkTracing(effective caps: UInt64 = effective()) throws(KernelError) {
        func has(_ cap: Capability) -> Bool { caps & (1 << UInt64(cap.rawValue)) != 0 }
        if has(.sysAdmin) || (has(.bpf) && has(.perfmon)) { return }
        let missing = [Capability.bpf, .perfmon].filter { !has($0) }.map(\.name)
        throw .missingPrivileges(missing: missing)
    }

    /// What a holder scan lacks to see every process: CAP_SYS_PTRACE (other
    /// users' cwd, fds and maps), CAP_DAC_READ_SEARCH (their /proc
    /// directories), CAP_SYS_ADMIN (map_files, tables of pinned namespaces).
    /// Empty for root. The scan still runs without them and counts what it
    /// could not read.
    public static func missingForHolderScan(effective caps: UInt64 = effective()) -> [String] {
        [Capability.sysPtrace, .dacReadSearch, .sysAdmin].filter { caps & (1 << UInt64($0.rawValue)) == 0 }.map(\.name)
    }

    /// A short description for `doctor`: "root", or the relevant capabilities held.
    public static func describe(effective caps: UInt64 = effective()) -> String {
        let held = [Capability.sysAdmin, .perfmon, .bpf].filter { caps & (1 << UInt64($0.rawValue)) != 0 }.map(\.name)
        let who = geteuid() == 0 ? "uid 0" : "uid \(geteuid())"
        return held.isEmpty ? "\(who), no tracing capabilities" : "\(who) with " + held.joined(separator: ", ")
    }
}
