import Glibc
import StoretraceDecode

/// One line per event, strace-like, aligned in columns:
///
///     14:07:31.123456  mount[4120]          mnt:4026531841    12.3µs  mount("/dev/vdb", "/mnt/x", "ext4", MS_NOATIME, "") = 0
///
/// Colors only when asked (a terminal without NO_COLOR); the bytes of the
/// plain form are the contract tests check.
///
/// A class, not a struct: the printer renders through it once per event,
/// and copying a struct that holds the enrichment tables retained each of
/// them every time (a third of `replay --json`'s time, BENCHMARKS.md).
public final class TextRenderer {
    public var color: Bool
    /// Seconds east of UTC for the local time column; the session refreshes
    /// it about once a second so a DST change shows up promptly.
    public var utcOffsetSeconds: Int
    public var clock: ClockOffset
    /// Names and mounts of the block devices events name (kmsg lines, dev_t fields).
    public var devices = DeviceAnnotations.empty
    /// The block devices and read-ahead in force, shown after the files of copies.
    public var enrichment: SnapshotEnrichment? {
        // The old table's count folded in: the memo's key only grows (JSONRenderer.enrichment).
        didSet { copyFiles.generation &+= 1 &+ (oldValue?.generation ?? 0) }
    }
    /// `--kubelet-root`: kubelet paths are read under it only; nil finds the
    /// root from the path's shape.
    public var kubeletRoot: [UInt8]?

    /// Pieces of the last lines, reused while their inputs repeat
    /// (`RenderMemo`): the minute of the time column, the task's columns,
    /// a call's arguments, and a copy's two descriptors (for calls whose
    /// other arguments change).
    private var timeStamps = TimeStampMemo()
    private var taskColumns = RenderMemo()
    private let copyFiles = CopyFileMemos()
    /// A call's argument list, rendered from its arguments (`SyscallRecord.argumentBytes`).
    private var callArguments = RenderMemo.forCalls()

    public init(color: Bool, utcOffsetSeconds: Int, clock: ClockOffset) {
        self.color = color
        self.utcOffsetSeconds = utcOffsetSeconds
        self.clock = clock
    }

    /// Seconds east of UTC now, for the local time column (the zone's
    /// offset can change while tracing: daylight saving time).
    public static func localUTCOffset() -> Int {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        return parts.tm_gmtoff
    }

    static let commColumn = 22
    static let namespaceColumn = 15
    static let latencyColumn = 9

    /// `pod`: the pod of the call's process (`PodTable`), nil for a host process.
    public func render(_ record: SyscallRecord, pod: PodCgroup? = nil, into out: inout OutputBuffer) {
        appendColumns(monotonic: record.timestamp, comm: record.comm, pid: record.pid,
                      mountNamespace: record.mountNamespace, latency: record.latency, into: &out)
        appendCall(record, into: &out)
        if let kubelet = record.kubeletPath(under: kubeletRoot) { appendKubelet(kubelet, into: &out) }
        if let pod { appendPod(pod, into: &out) }
        if record.anyTruncated { out.append(" (truncated)") }
        out.append(UInt8(ascii: "\n"))
    }

    /// ` [pod-publish pod 7f3e1c2a… vol pvc-12ab… csi:disk.csi.example.com]`: what a
    /// kubelet path says, pod UIDs cut to 8 characters (JSON has them whole);
    /// the volume and driver it does not name come from the volume's
    /// vol_data.json in the snapshot, if recorded.
    public func appendKubelet(_ path: KubeletPath, into out: inout OutputBuffer) {
        paint(.dim, into: &out)
        out.append(" [")
        out.append(path.role.name)
        if let pod = path.podUID {
            out.append(" pod ")
            out.appendPrintable(UnsafeRawBufferPointer(rebasing: pod.prefix(8)))
            if pod.count > 8 { out.append("…") }
        }
        let recorded = enrichment?.kubeletVolume(path)
        if let volume = path.volume {
            out.append(" vol ")
            out.appendPrintable(volume)
        } else if let name = recorded?.specName {
            out.append(" vol ")
            out.appendPrintable(string: name)
        }
        if let driver = path.csiDriver {
            out.append(" csi:")
            out.appendPrintable(driver)
        } else if let driver = recorded?.driver {
            out.append(" csi:")
            out.appendPrintable(string: driver)
        }
        out.append(UInt8(ascii: "]"))
        paint(.reset, into: &out)
    }

    /// `name(arguments) = result`, as strace writes a call.
    public func appendCall(_ record: SyscallRecord, into out: inout OutputBuffer) {
        paint(.bold, into: &out)
        out.append(record.kind.callName)
        paint(.reset, into: &out)
        out.append(UInt8(ascii: "("))
        // The copies' generation: the arguments show the block device and read-ahead in force.
        let call = MemoKey(a: UInt64(record.kind.rawValue), b: UInt64(record.stringFlags), c: 0, d: 0,
                           generation: copyFiles.generation &+ (enrichment?.generation ?? 0))
        if !callArguments.append(call, record.argumentBytes, into: &out) {
            let start = out.count
            CallArguments.render(record, enrichment: enrichment, copyFiles: copyFiles, into: &out)
            callArguments.remember(call, record.argumentBytes, rendered: out, since: start)
        }
        out.append(") = ")
        appendOutcome(errno: record.errno, returnValue: record.returnValue, into: &out)
        if record.errno == nil, record.kind.movesData, record.returnValue > 0 {
            out.append(" (")
            out.appendThroughput(bytes: UInt64(record.returnValue), nanoseconds: record.latency)
            out.append(UInt8(ascii: ")"))
        }
    }

    /// What follows " = ": "-1 EBUSY" (red) or the value (green).
    func appendOutcome(errno: Int32?, returnValue: Int64, into out: inout OutputBuffer) {
        if let errno {
            paint(.red, into: &out)
            out.append("-1 ")
            if let name = ErrnoNames.name(errno) {
                out.append(name)
            } else {
                out.append("E?")
                out.appendDecimal(errno)
            }
            paint(.reset, into: &out)
        } else {
            paint(.green, into: &out)
            out.appendDecimal(returnValue)
            paint(.reset, into: &out)
        }
    }

    /// The columns of a syscall line before the description: time, who,
    /// namespace and latency (blank for an event without one: a claim).
    func appendColumns(monotonic: UInt64, comm: UnsafeRawBufferPointer, pid: UInt32, mountNamespace: UInt32,
                       latency: UInt64?, into out: inout OutputBuffer) {
        appendPrefix(monotonic: monotonic, into: &out)

        let key = MemoKey(a: UInt64(pid), b: UInt64(mountNamespace), c: color ? 1 : 0, d: 0, generation: 0)
        if !taskColumns.append(key, comm, into: &out) {
            let columns = out.count
            paint(.cyan, into: &out)
            out.appendPrintable(comm)
            out.append(UInt8(ascii: "["))
            out.appendDecimal(pid)
            out.append(UInt8(ascii: "]"))
            paint(.reset, into: &out)
            out.pad(since: columns, to: Self.commColumn)
            out.append(UInt8(ascii: " "))

            let namespace = out.count
            out.append("mnt:")
            out.appendDecimal(mountNamespace)
            out.pad(since: namespace, to: Self.namespaceColumn)
            out.append(UInt8(ascii: " "))
            taskColumns.remember(key, comm, rendered: out, since: columns)
        }

        let start = out.count
        var columns = 0
        if let latency {
            let slow = latency >= 1_000_000
            if slow { paint(.yellow, into: &out) }
            columns = appendLatency(latency, into: &out)
            if slow { paint(.reset, into: &out) }
        }
        // Right-aligned by the columns appendLatency wrote (measuring them
        // back, escapes skipped, was a twentieth of a text line).
        out.insertSpaces(at: start, count: Self.latencyColumn - columns)
        out.append("  ")
    }

    /// Local time with microseconds and two spaces.
    public func appendPrefix(monotonic: UInt64, into out: inout OutputBuffer) {
        paint(.dim, into: &out)
        timeStamps.appendTimeOfDay(epochNanoseconds: clock.wallNanoseconds(monotonic: monotonic),
                                   utcOffsetSeconds: utcOffsetSeconds, into: &out)
        paint(.reset, into: &out)
        out.append("  ")
    }

    /// 812ns, 12.3µs, 4.56ms, 1.23s: three significant digits at most.
    /// Returns the columns written (the bytes, but µ is two bytes in one column).
    @discardableResult
    public func appendLatency(_ ns: UInt64, into out: inout OutputBuffer) -> Int {
        let start = out.count
        if ns < 1_000 {
            out.appendDecimal(ns)
            out.append("ns")
            return out.count - start
        }
        let (scaled, unit): (UInt64, StaticString) =
            ns < 1_000_000 ? (ns, "µs") : ns < 1_000_000_000 ? (ns / 1_000, "ms") : (ns / 1_000_000, "s")
        // scaled is in thousandths of the unit
        let whole = scaled / 1000
        let fraction = scaled % 1000
        out.appendDecimal(whole)
        if whole < 10 {
            out.append(UInt8(ascii: "."))
            out.appendDecimal(Int(fraction / 10), width: 2)
        } else if whole < 100 {
            out.append(UInt8(ascii: "."))
            out.appendDecimal(Int(fraction / 100), width: 1)
        }
        out.append(unit)
        return out.count - start - (ns < 1_000_000 ? 1 : 0)
    }

    enum Paint {
        case reset, dim, bold, red, green, yellow, cyan

        var escape: StaticString {
            switch self {
            case .reset: "\u{1B}[0m"
            case .dim: "\u{1B}[2m"
            case .bold: "\u{1B}[1m"
            case .red: "\u{1B}[31m"
            case .green: "\u{1B}[32m"
            case .yellow: "\u{1B}[33m"
            case .cyan: "\u{1B}[36m"
            }
        }
    }

    @inline(__always)
    func paint(_ paint: Paint, into out: inout OutputBuffer) {
        if color { out.append(paint.escape) }
    }
}

