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

    /// The tracefs directory already mounted, if any.
    public static func existing() -> String? {
        for candidate in [standardPath, debugfsPath] where access(candidate + "/events", F_OK) == 0 {
            return candidate
        }
        return nil
    }

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
        access(path + "/" + relative, F_OK) == 0
    }
}
