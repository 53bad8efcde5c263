import Glibc
import StoretraceRender

/// Writes rendered bytes to a file descriptor, in large writes. A reader
/// that went away (EPIPE, e.g. `| head`) ends the session quietly; any other
/// write error ends it with a message.
///
/// Each `withBuffer` call is one unit (an event's line or lines), so that
/// after a failed write (a full disk) the sink knows exactly how many units
/// reached the file and how many did not; a unit cut by the failure is taken
/// back from a regular file (ftruncate), else `cutBytes` says how much of it
/// went out.
public final class OutputSink {
    public let fd: Int32
    public private(set) var buffer = OutputBuffer(capacity: 256 * 1024)
    public private(set) var failure: Int32?
    /// Flush once this many bytes are waiting.
    public var threshold = 128 * 1024
    /// Units handed to the sink, and those wholly written.
    public private(set) var unitsAccepted: UInt64 = 0
    public private(set) var unitsWritten: UInt64 = 0
    /// Of the units not written, those marked `derived`.
    public private(set) var derivedUnwritten: UInt64 = 0
    /// Bytes of a cut unit left at the end of the output (a pipe or a
    /// device, where they cannot be taken back); 0 when none.
    public private(set) var cutBytes = 0
    /// Where each unit in `buffer` ends, and whether it is derived.
    private var unitEnds: [(end: Int, derived: Bool)] = []

    public init(fd: Int32) {
        self.fd = fd
        unitEnds.reserveCapacity(4096)
    }

    public var unitsUnwritten: UInt64 { unitsAccepted - unitsWritten }

    @inline(__always)
    public func withBuffer(derived: Bool = false, _ body: (inout OutputBuffer) -> Void) {
        body(&buffer)
        unitsAccepted &+= 1
        unitEnds.append((buffer.count, derived))
        if buffer.count >= threshold { flush() }
    }

    public func flush() {
        guard !buffer.isEmpty, failure == nil else {
            if failure != nil { for unit in unitEnds where unit.derived { derivedUnwritten &+= 1 } }
            buffer.removeAll()
            unitEnds.removeAll(keepingCapacity: true)
            return
        }
        var offset = 0
        buffer.withUnsafeBytes { bytes in
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN {
                        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        _ = Glibc.poll(&descriptor, 1, 1000)
                        continue
                    }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        // Counted by index, not with a slice: a slice alive at removeAll
        // would make it copy the storage (an allocation per flush).
        var whole = 0
        while whole < unitEnds.count, unitEnds[whole].end <= offset { whole += 1 }
        unitsWritten &+= UInt64(whole)
        if failure != nil {
            for index in whole..<unitEnds.count where unitEnds[index].derived { derivedUnwritten &+= 1 }
            takeBack(offset - (whole > 0 ? unitEnds[whole - 1].end : 0))
        }
        buffer.removeAll()
        unitEnds.removeAll(keepingCapacity: true)
    }

    /// The first `count` bytes of a unit went out before the write failed:
    /// cut them off a regular file, so it ends with a whole line.
    private func takeBack(_ count: Int) {
        guard count > 0 else { return }
        var status = stat()
        let end = lseek(fd, 0, SEEK_CUR)
        if fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, end >= count,
           ftruncate(fd, end - off_t(count)) == 0, lseek(fd, end - off_t(count), SEEK_SET) >= 0 {
            return
        }
        cutBytes = count
    }
}
