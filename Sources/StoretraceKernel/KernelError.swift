import Glibc
import SystemPackage

/// Everything the kernel layer can refuse, each with a one-line message that
/// names what is missing and why, for the CLI to print as is.
public enum KernelError: Error, CustomStringConvertible, Equatable {
    /// Neither root nor the capabilities BPF tracing needs.
    case missingPrivileges(missing: [String])
    /// The kernel lacks a feature storetrace cannot work without.
    case missingFeature(String)
    case tracefs(path: String, errno: Errno, action: String)
    /// libbpf could not open or load the object; `program` is the one the
    /// verifier rejected, `log` the verifier's last lines.
    case load(program: String?, errno: Errno, log: [String])
    case attach(program: String, errno: Errno)
    case system(call: String, errno: Errno)
    /// A setting the caller passed that cannot be used, and why.
    case invalidOption(String)
    /// Anything else, already phrased for the user.
    case other(String)

    public var description: String {
        switch self {
        case .missingPrivileges(let missing):
            return "needs root, or CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); missing: "
                + missing.joined(separator: ", ")
        case .missingFeature(let what):
            return "this kernel lacks \(what)"
        case .tracefs(let path, let errno, let action):
            return "tracefs: cannot \(action) \(path): \(errno)"
        case .load(let program, let errno, let log):
            var text = program.map { "loading BPF program \($0) failed: \(errno)" }
                ?? "loading the BPF object failed: \(errno)"
            if !log.isEmpty { text += "; verifier: " + log.joined(separator: " | ") }
            return text
        case .attach(let program, let errno):
            return "attaching BPF program \(program) failed: \(errno)"
        case .system(let call, let errno):
            return "\(call) failed: \(errno)"
        case .invalidOption(let message):
            return message
        case .other(let message):
            return message
        }
    }

    static func system(_ call: String) -> KernelError {
        .system(call: call, errno: Errno(rawValue: Glibc.errno))
    }
}
