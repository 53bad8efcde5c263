import Glibc
import StoretraceDecode

/// A file written under a temporary name beside its path (`.NAME.tmp`) and
/// renamed over the path when complete, so a reader never sees half of it
/// and a failed write leaves nothing behind (`discard`): the metrics file,
/// `storetrace export`'s trace.
public final class AtomicFile {
    public let path: String
    public let temporaryPath: String
    public let fd: Int32
    private var open = true

    /// Creates (or truncates) the temporary file; the errno if it cannot.
    public init(path: String, mode: mode_t = 0o644) throws(AtomicFileError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        self.path = path
        temporaryPath = (directory.isEmpty ? "" : directory + "/") + "." + name + ".tmp"
        fd = Glibc.open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw AtomicFileError(errno: Glibc.errno) }
    }

    deinit { discard() }

    /// Writes all of `bytes`.
    public func write(_ bytes: [UInt8]) throws(AtomicFileError) {
        var failure: AtomicFileError?
        bytes.withUnsafeBytes { all in
            do throws(AtomicFileError) { try write(all) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(AtomicFileError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && Glibc.errno == EINTR { continue }
            guard n > 0 else { throw AtomicFileError(errno: n < 0 ? Glibc.errno : EIO) }
            done += n
        }
    }

    /// The whole of `bytes` as the file at `path` in one step; nil when
    /// written, else the errno of the step that failed (nothing is left behind).
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String, mode: mode_t = 0o644) -> Int32? {
        do {
            let file = try AtomicFile(path: path, mode: mode)
            try file.write(bytes)
            try file.commit()
            return nil
        } catch {
            return error.errno
        }
    }

    /// Closes the file and renames it over `path`; removed if that fails.
    public func commit() throws(AtomicFileError) {
        guard open else { throw AtomicFileError(errno: EBADF) }
        open = false
        let closed = close(fd)
        let failure = Glibc.errno
        guard closed == 0 else {
            unlink(temporaryPath)
            throw AtomicFileError(errno: failure)
        }
        guard rename(temporaryPath, path) == 0 else {
            let failure = Glibc.errno
            unlink(temporaryPath)
            throw AtomicFileError(errno: failure)
        }
    }

    /// Closes and removes the temporary file (nothing if committed).
    public func discard() {
        guard open else { return }
        open = false
        close(fd)
        unlink(temporaryPath)
    }
}

public struct AtomicFileError: Error, Equatable, CustomStringConvertible {
    public var errno: Int32
    public init(errno: Int32) { self.errno = errno }
    /// "EACCES (Permission denied)".
    public var description: String {
        (ErrnoNames.name(errno).map { "\($0) " } ?? "errno \(errno) ") + "(" + String(cString: strerror(errno)) + ")"
    }
}
