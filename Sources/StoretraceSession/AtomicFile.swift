import Glibc

/// A whole file written so that no reader ever sees half of it: the bytes
/// go to `.NAME.tmp` in the same directory, which is then renamed over
/// NAME (rename(2) replaces it in one step). The metrics file and
/// `storetrace report` write this way.
public enum AtomicFile {
    /// nil when written, else the errno of the step that failed (the
    /// temporary file is removed then).
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String, mode: mode_t = 0o644) -> Int32? {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = (directory.isEmpty ? "" : directory + "/") + "." + name + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { return errno }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let failure = n < 0 ? errno : EIO
                close(fd)
                unlink(temporary)
                return failure
            }
            done += n
        }
        // A full disk can show only at close (NFS, quotas).
        guard close(fd) == 0 else {
            let failure = errno
            unlink(temporary)
            return failure
        }
        guard rename(temporary, path) == 0 else {
            let failure = errno
            unlink(temporary)
            return failure
        }
        return nil
    }
}
