import Glibc
import StoretraceDecode
import StoretraceRecords
import SystemPackage

/// The kernel log, one `.kmsg` record per /dev/kmsg record (each read(2)
/// returns exactly one), holding the record bytes as read.
///
/// Timestamp: the record's own microseconds × 1000, plus `clockOffset`.
/// printk stamps records with local_clock(), the scheduler clock. It counts
/// from boot like CLOCK_MONOTONIC and runs at the same rate, but from a
/// slightly different start: on this project's VM it trails CLOCK_MONOTONIC
/// by a steady ~0.33 ms, enough to misorder a kernel log line against the
/// uevent beside it. `measurePrintkClockOffset()` measures that offset once
/// at start; pass it as `clockOffset`.
public final class KmsgSource: RecordSource {
    public static let path = "/dev/kmsg"
    /// A /dev/kmsg read needs room for the whole record or fails with
    /// EINVAL; CONSOLE_EXT_LOG_MAX (8192) is the kernel's upper bound.
    static let recordCapacity = 8192

    public let kind = SourceKind.kmsg
    public var pollFDs: [Int32] { fd >= 0 ? [fd] : [] }

    private var fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private let maxRecordsPerDrain: Int
    private var lastSequence: UInt64?
    /// CLOCK_MONOTONIC minus printk's clock, in nanoseconds.
    public let clockOffset: Int64

    /// Times the kernel said records were overwritten (EPIPE): occurrences,
    /// not records, so not in `losses`; the records lost are the sequence
    /// gaps ("kmsg lost").
    public private(set) var overruns: UInt64 = 0
    private var lostRecords: UInt64 = 0
    private var malformed: UInt64 = 0
    private var readErrors: UInt64 = 0

    /// `backlog`: also deliver the records already in the log buffer; by
    /// default reading starts at its end, so only lines logged from now on show.
    /// `clockOffset`: nanoseconds added to every record's time, from
    /// `measurePrintkClockOffset()`; 0 takes printk's clock as is.
    public init(backlog: Bool = false, clockOffset: Int64 = 0, maxRecordsPerDrain: Int = 256) throws(KernelError) {
        fd = open(Self.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw .system("open \(Self.path)") }
        if !backlog, lseek(fd, 0, SEEK_END) < 0 {
            let failure = KernelError.system("lseek(\(Self.path), SEEK_END)")
            Glibc.close(fd)
            throw failure
        }
        self.maxRecordsPerDrain = max(1, maxRecordsPerDrain)
        self.clockOffset = clockOffset
        buffer = .allocate(byteCount: Self.recordCapacity, alignment: 8)
    }

    deinit {
        close()
        buffer.deallocate()
    }

    @discardableResult
    public func drain(_ emit: @escaping (RawRecord) -> Void) -> Int {
        guard fd >= 0 else { return 0 }
        var delivered = 0
        var attempts = 0
        while attempts < maxRecordsPerDrain {
            attempts += 1
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN: return delivered
                // Records were overwritten before we read them; the reader
                // has been moved to the oldest one left and reading goes on.
                // How many were lost shows as a sequence gap ("kmsg lost").
                case EPIPE: overruns += 1; continue
                default: readErrors += 1; return delivered
                }
            }
            if count == 0 { return delivered }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            // Only the prefix, for the time and the sequence: the pipeline
            // parses the message once, when it decodes the event.
            let prefix: KmsgPrefix
            do {
                prefix = try KmsgPrefix(parsing: bytes)
            } catch {
                malformed += 1
                continue
            }
            if let lastSequence, prefix.sequence > lastSequence + 1 {
                lostRecords += prefix.sequence - lastSequence - 1
            }
            lastSequence = prefix.sequence
            emit(RawRecord(source: .kmsg, timestamp: monotonic(microseconds: prefix.timestampMicroseconds), bytes: bytes))
            delivered += 1
        }
        return delivered
    }

    private func monotonic(microseconds: UInt64) -> UInt64 {
        let (nanoseconds, overflow) = microseconds.multipliedReportingOverflow(by: 1000)
        if overflow { return .max }
        return clockOffset >= 0
            ? nanoseconds &+ UInt64(clockOffset)
            : nanoseconds - min(nanoseconds, UInt64(-clockOffset))
    }

    /// CLOCK_MONOTONIC minus printk's clock, in nanoseconds, to within
    /// about ten microseconds. The only reliable reading of printk's clock
    /// is a printk: this writes `samples` debug-level lines
    /// "storetrace: aligning kernel log time" to /dev/kmsg, each bracketed by
    /// CLOCK_MONOTONIC readings, and keeps the tightest bracket. (The ftrace
    /// "local" clock is not a substitute: on this project's VM it runs 27 ms
    /// away from printk's.) Nil if /dev/kmsg cannot be written or read.
    public static func measurePrintkClockOffset(samples: Int = 3) -> Int64? {
        let reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard reader >= 0 else { return nil }
        defer { Glibc.close(reader) }
        guard lseek(reader, 0, SEEK_END) >= 0 else { return nil }
        let line = "<7>storetrace: aligning kernel log time\n"
        let text = "storetrace: aligning kernel log time"
        var buffer = [UInt8](repeating: 0, count: recordCapacity)
        var best: (width: Int64, offset: Int64)?
        for _ in 0..<max(1, samples) {
            // A fresh descriptor per line: writes are rate limited per open file.
            let writer = open(path, O_WRONLY | O_CLOEXEC)
            guard writer >= 0 else { return nil }
            let before = KernelClock.now(CLOCK_MONOTONIC)
            let written = write(writer, line, line.utf8.count)
            let after = KernelClock.now(CLOCK_MONOTONIC)
            Glibc.close(writer)
            guard written == line.utf8.count else { return nil }
            // Ours is among the next records (other printks may come first).
            for _ in 0..<64 {
                let count = read(reader, &buffer, buffer.count)
                if count < 0 && errno == EPIPE { continue }
                guard count > 0 else { break }
                let parsed = buffer.withUnsafeBytes { bytes -> (UInt64, Bool)? in
                    guard let record = try? KmsgRecord(parsing: UnsafeRawBufferPointer(rebasing: bytes[0..<count])) else { return nil }
                    return (record.timestampMicroseconds, String(decoding: record.message, as: UTF8.self) == text)
                }
                guard let (microseconds, isOurs) = parsed, isOurs else { continue }
                let width = after - before
                if best == nil || width < best!.width {
                    best = (width, before + width / 2 - Int64(microseconds) * 1000)
                }
                break
            }
        }
        return best?.offset
    }

    public var losses: [LossCount] {
        [
            LossCount(name: "kmsg overrun", count: overruns, kind: .occurrences),
            LossCount(name: "kmsg lost", count: lostRecords, kind: .events),
            LossCount(name: "kmsg malformed", count: malformed, kind: .events),
            LossCount(name: "kmsg read errors", count: readErrors, kind: .occurrences),
        ]
    }

    public func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }
}
