import CStoretraceSys
import Glibc

/// Linux capability numbers (include/uapi/linux/capability.h).
public enum Capability: Int, CaseIterable, Sendable {
    case sysAdmin = 21
    case perfmon = 38
    case bpf = 39

    public var name: String {
        switch self {
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

    /// A short description for `doctor`: "root", or the relevant capabilities held.
    public static func describe(effective caps: UInt64 = effective()) -> String {
        let held = Capability.allCases.filter { caps & (1 << UInt64($0.rawValue)) != 0 }.map(\.name)
        let who = geteuid() == 0 ? "uid 0" : "uid \(geteuid())"
        return held.isEmpty ? "\(who), no tracing capabilities" : "\(who) with " + held.joined(separator: ", ")
    }
}
