import Glibc
import StoretraceRender

/// Writes rendered bytes to a file descriptor, in large writes. A reader
/// that went away (EPIPE, e.g. `| head`) ends the session quietly; any other
/// write error ends it with a message.
public final class OutputSink {
    public let fd: Int32
    public private(set) var buffer = OutputBuffer(capacity: 256 * 1024)
    public private(set) var failure: Int32?
    /// Flush once this many bytes are waiting.
    public var threshold = 128 * 1024

    public init(fd: Int32) {
        self.fd = fd
    }

    @inline(__always)
    public func withBuffer(_ body: (inout OutputBuffer) -> Void) {
        body(&buffer)
        if buffer.count >= threshold { flush() }
    }

    public func flush() {
        guard !buffer.isEmpty, failure == nil else {
            buffer.removeAll()
            return
        }
        buffer.withUnsafeBytes { bytes in
            var offset = 0
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
        buffer.removeAll()
    }
}
