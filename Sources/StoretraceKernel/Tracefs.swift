import CStoretraceSys
import Glibc
import SystemPackage

/// Where tracefs lives, mounting it if nothing has. Syscall tracepoints are
/// attached by their tracefs id, so storetrace needs tracefs while attaching.
/// A mount storetrace made is undone by `release()`, leaving the node as found.
public final class TracefsMount {
    public static let standardPath = "/sys/kernel/tracing"
    static let debugfsPath = "/sys/kernel/debug/tracing"

    public let path: String
    /// True if storetrace mounted it (and so must unmount it).
    public let mountedByUs: Bool
    private var released = false

    /// The tracefs directory already mounted, if any. Found by the file
    /// system's magic (statfs), not by looking inside: tracefs's events/ is
    /// root-only, and to a process with only CAP_BPF and CAP_PERFMON a
    /// mounted tracefs must not look unmounted.
    public static func existing() -> String? {
        for candidate in [standardPath, debugfsPath] {
            var magic: UInt = 0
            if st_fs_magic(candidate, &magic) == 0 && magic == tracefsMagic { return candidate }
        }
        return nil
    }

    /// TRACEFS_MAGIC (include/uapi/linux/magic.h).
    static let tracefsMagic: UInt = 0x7472_6163

    public init() throws(KernelError) {
        if let found = Self.existing() {
            path = found
            mountedByUs = false
            return
        }
        guard Glibc.mount("nodev", Self.standardPath, "tracefs", 0, nil) == 0 else {
            let reason = Errno(rawValue: errno)
            throw .tracefs(path: Self.standardPath, errno: reason,
                           action: reason == .notPermitted ? "mount tracefs (needs CAP_SYS_ADMIN; or mount it first) at" : "mount tracefs at")
        }
        path = Self.standardPath
        mountedByUs = true
    }

    /// Unmounts tracefs if we mounted it. Attached tracepoints stay attached:
    /// perf events hold their own references. If someone started using the
    /// mount meanwhile (EBUSY) it is left in place.
    public func release() {
        guard mountedByUs, !released else { return }
        released = true
        _ = umount2(path, 0)
    }

    deinit { release() }

    public func exists(_ relative: String) -> Bool {
        lookUp(relative) == nil
    }

    /// nil if `relative` exists, else why not: ENOENT (absent), or EACCES
    /// when events/ may not be searched (it is 0700 root; CAP_DAC_READ_SEARCH
    /// or root reads it).
    public func lookUp(_ relative: String) -> Errno? {
        // stat, not access: access(2) judges by the real uid and drops the
        // capabilities (CAP_DAC_READ_SEARCH) of a non-root caller.
        var info = stat()
        return stat(path + "/" + relative, &info) == 0 ? nil : Errno(rawValue: errno)
    }

    /// The error for tracepoint ids that cannot be read for lack of permission.
    func eventsUnreadable(_ failure: Errno) -> KernelError {
        .tracefs(path: path + "/events", errno: failure,
                 action: "read the tracepoint ids (events/ is root-only: run as root, or add CAP_DAC_READ_SEARCH to CAP_BPF and CAP_PERFMON) in")
    }
}
