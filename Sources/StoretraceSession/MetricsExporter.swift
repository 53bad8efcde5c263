import Glibc
import StoretraceDecode
import StoretraceRecords

/// `--metrics-file PATH` (live, record): the node's counters in the
/// Prometheus text exposition format, for node_exporter's textfile
/// collector. A consumer: it counts the events that passed the filters by
/// type and errno (a table lookup, nothing allocated per event), the
/// holders the scans found, and, when written, the unhealthy mounts, the
/// sources' losses and the capture's bytes. `write()` puts the text in a
/// temporary file in the same directory and renames it over PATH, so the
/// collector never reads half a file; the session calls it every few
/// seconds and at exit.
public final class MetricsExporter: EventConsumer {
    public let path: String
    /// The sources' loss counters now.
    public var losses: () -> [LossCount] = { [] }
    /// Capture bytes written so far (record), nil when not recording.
    public var captureBytes: (() -> UInt64)?
    /// The analyzer whose unhealthy mounts are reported.
    public var mountHealth: MountHealthAnalyzer?
    /// The errno of the last failed write, nil after a good one.
    public private(set) var failure: Int32?

    /// Event types, in output order; their counts by the same index.
    private static let syscallTypes = SyscallKind.allCases.map { String(describing: $0.name) }
    private static let otherTypes = ["uevent", "kmsg", "function", "tracepoint", "claim", "holders", "queue_setting", "mount_op", "mount_health"]
    private var counts: [UInt64]
    /// Failures by type index << 16 | errno.
    private var failures: [UInt32: UInt64] = [:]
    private var holderScans: UInt64 = 0
    private var holdersFound: UInt64 = 0

    public init(path: String) {
        self.path = path
        counts = Array(repeating: 0, count: Self.syscallTypes.count + Self.otherTypes.count)
    }

    private static func other(_ name: String) -> Int { syscallTypes.count + otherTypes.firstIndex(of: name)! }
    private static let uevent = other("uevent"), kmsg = other("kmsg"), function = other("function"),
                       tracepoint = other("tracepoint"), claim = other("claim"), holders = other("holders"),
                       queueSetting = other("queue_setting"), mountOperation = other("mount_op"), mountHealthIndex = other("mount_health")

    public func consume(_ event: Event, raw: RawRecord) {
        count(event)
    }

    public func consumeDerived(_ event: Event, timestamp: UInt64) {
        count(event)
    }

    private func count(_ event: Event) {
        let index: Int
        var errno: Int32?
        switch event {
        case .syscall(let record):
            index = SyscallKind.allCases.firstIndex(of: record.kind) ?? 0
            errno = record.errno
        case .uevent: index = Self.uevent
        case .kmsg: index = Self.kmsg
        case .ftrace(let view, _): index = view.isFunctionEvent ? Self.function : Self.tracepoint
        case .claim(let record):
            index = Self.claim
            errno = record.errno
        case .holders(let report, _):
            index = Self.holders
            holderScans &+= 1
            holdersFound &+= UInt64(report.holders.count)
        case .queueSetting: index = Self.queueSetting
        case .mountOperation: index = Self.mountOperation
        case .mountHealth: index = Self.mountHealthIndex
        }
        counts[index] &+= 1
        if let errno { failures[UInt32(index) << 16 | UInt32(UInt16(truncatingIfNeeded: errno)), default: 0] &+= 1 }
    }

    /// The exposition text of the counters now.
    public func text() -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
            out += name
            if !labels.isEmpty {
                out += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
            }
            out += " \(value)\n"
        }
        let types = Self.syscallTypes + Self.otherTypes
        family("storetrace_events_total", "counter", "Events that passed the filters, by type (derived mount_op and mount_health included).")
        for (index, type) in types.enumerated() { sample("storetrace_events_total", [("type", type)], counts[index]) }
        family("storetrace_failures_total", "counter", "Failed calls and refused claims, by type and errno.")
        for (key, count) in failures.sorted(by: { $0.key < $1.key }) {
            let errno = Int32(key & 0xffff)
            sample("storetrace_failures_total", [("type", types[Int(key >> 16)]), ("errno", ErrnoNames.name(errno).map { "\($0)" } ?? "\(errno)")], count)
        }
        family("storetrace_holder_scans_total", "counter", "Holder scans run after a call failed with EBUSY.")
        sample("storetrace_holder_scans_total", [], holderScans)
        family("storetrace_holders_found_total", "counter", "Holders those scans found (processes, namespaces, mounts, devices).")
        sample("storetrace_holders_found_total", [], holdersFound)
        if let mountHealth {
            family("storetrace_unhealthy_mounts", "gauge", "Mounts that have been unhealthy since tracing started (device errors, removed, short or detached loop backing).")
            sample("storetrace_unhealthy_mounts", [], UInt64(mountHealth.unhealthy.count))
        }
        family("storetrace_losses_total", "counter", "Loss counters of the sources, by counter and kind (events: lost events; occurrences: times data was lost; information: counted, not lost).")
        for loss in losses() {
            let kind = switch loss.kind { case .events: "events"; case .occurrences: "occurrences"; case .information: "information" }
            sample("storetrace_losses_total", [("counter", loss.name), ("kind", kind)], loss.count)
        }
        if let captureBytes {
            family("storetrace_capture_bytes_total", "counter", "Bytes written to capture files (every file of a --rotate ring, removed ones too).")
            sample("storetrace_capture_bytes_total", [], captureBytes())
        }
        return out
    }

    /// Writes the text to `.NAME.tmp` beside PATH, then renames it over PATH.
    @discardableResult
    public func write() -> Bool {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = (directory.isEmpty ? "" : directory + "/") + "." + name + ".tmp"
        let bytes = Array(text().utf8)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            failure = Glibc.errno
            return false
        }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && Glibc.errno == EINTR { continue }
            guard n > 0 else {
                failure = n < 0 ? Glibc.errno : EIO
                close(fd)
                unlink(temporary)
                return false
            }
            done += n
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            failure = Glibc.errno
            unlink(temporary)
            return false
        }
        failure = nil
        return true
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func escapeLabel(_ value: String) -> String { escape(value, quote: true) }

    /// HELP text: backslash and line feed escaped.
    static func escapeHelp(_ value: String) -> String { escape(value, quote: false) }

    private static func escape(_ value: String, quote: Bool) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"" where quote: out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
