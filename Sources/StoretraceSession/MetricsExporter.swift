import Glibc
import StoretraceDecode
import StoretraceRecords
import StoretraceRender

/// `--metrics-file PATH` (live, record): the node's counters in the
/// Prometheus text exposition format, for node_exporter's textfile
/// collector. A consumer: it counts the events that passed the filters by
/// type and the events with an errno by type and errno (a table lookup; nothing
/// allocated per event once an errno has been seen), the holders the scans
/// found, and, when written, the unhealthy mounts, the sources' losses, the
/// records the pipeline skipped and the capture's bytes. `write()` puts the
/// text in a temporary file in the same directory and renames it over PATH,
/// so the collector never reads half a file; the session calls it every
/// 5 seconds and at exit.
///
/// The file is left in place at exit, as the textfile collector expects:
/// the last write says `storetrace_up 0`, and a process that died without
/// it leaves `storetrace_last_write_timestamp_seconds` going stale.
public final class MetricsExporter: EventConsumer {
    public let path: String
    /// The sources' loss counters now.
    public var losses: () -> [LossCount] = { [] }
    /// The pipeline's counts now (records skipped as malformed, without
    /// schema, filtered out).
    public var pipelineCounts: () -> PipelineCounts = { PipelineCounts() }
    /// Capture bytes written so far (record), nil when not recording.
    public var captureBytes: (() -> UInt64)?
    /// Events that passed the filters but are not in the capture (record).
    public var captureUnwritten: (() -> UInt64)?
    /// Mounts unhealthy since tracing started, nil where not followed.
    public var unhealthyMounts: (() -> Int)?
    /// Wall-clock milliseconds since the epoch, stamped into each write.
    public var realtimeMilliseconds: () -> UInt64 = MetricsExporter.realtimeNow
    /// False for the last write at exit: `storetrace_up 0`.
    public var running = true
    /// The errno of the last failed write, nil after a good one.
    public private(set) var failure: Int32?

    /// "cannot write --metrics-file PATH: ENOENT" for the last failed write.
    public var failureLine: String {
        "cannot write --metrics-file \(escapedForTerminal(path)): " + (failure.flatMap { ErrnoNames.name($0).map { "\($0)" } } ?? "errno \(failure ?? 0)")
    }

    /// Event types (the JSON contract's `type`), in output order; their
    /// counts by the same index.
    static let types = SyscallKind.allCases.map { "\($0.name)" }
        + ["uevent", "kmsg", "function", "tracepoint", "claim", "holders", "queue_setting", "mount_op", "mount_health"]
    private var counts: [UInt64]
    /// Failures by type index << 16 | errno.
    private var failures: [UInt32: UInt64] = [:]
    private var holderScans: UInt64 = 0
    private var holdersFound: UInt64 = 0

    public init(path: String) {
        self.path = path
        counts = Array(repeating: 0, count: Self.types.count)
        failures.reserveCapacity(128)
    }

    private static func index(_ name: String) -> Int { types.firstIndex(of: name)! }
    private static let uevent = index("uevent"), kmsg = index("kmsg"), function = index("function"),
                       tracepoint = index("tracepoint"), claim = index("claim"), holders = index("holders"),
                       queueSetting = index("queue_setting"), mountOperation = index("mount_op"), mountHealth = index("mount_health")

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
        case .mountOperation(let operation):
            index = Self.mountOperation
            if case .failed(let failure) = operation.outcome { errno = failure.errno }
        case .mountHealth: index = Self.mountHealth
        }
        counts[index] &+= 1
        if let errno { failures[UInt32(index) << 16 | UInt32(UInt16(truncatingIfNeeded: errno)), default: 0] &+= 1 }
    }

    /// The exposition text of the counters now. Every family has its HELP
    /// and TYPE lines and its samples together, label values escaped.
    public func text() -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
            out += name
            if !labels.isEmpty {
                out += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
            }
            out += " \(value)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) { sample(name, labels, "\(value)") }

        family("storetrace_up", "gauge", "1 while storetrace runs and rewrites this file; 0 in the last write of a clean exit.")
        sample("storetrace_up", [], running ? 1 : 0)
        family("storetrace_last_write_timestamp_seconds", "gauge", "When this file was written (Unix time); a stale value means storetrace stopped without its last write.")
        let milliseconds = realtimeMilliseconds()
        let fraction = "\(milliseconds % 1000)"
        sample("storetrace_last_write_timestamp_seconds", [], "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction)
        family("storetrace_events_total", "counter", "Events that passed the filters, by type (the JSON type; derived mount_op and mount_health included).")
        for (index, type) in Self.types.enumerated() { sample("storetrace_events_total", [("type", type)], counts[index]) }
        family("storetrace_failures_total", "counter", "Events with an errno (failed calls, refused claims, failed mount operations), by type and errno.")
        for (key, count) in failures.sorted(by: { $0.key < $1.key }) {
            let errno = Int32(key & 0xffff)
            sample("storetrace_failures_total", [("type", Self.types[Int(key >> 16)]), ("errno", ErrnoNames.name(errno).map { "\($0)" } ?? "\(errno)")], count)
        }
        family("storetrace_holder_scans_total", "counter", "Holder scans run after a call failed with EBUSY.")
        sample("storetrace_holder_scans_total", [], holderScans)
        family("storetrace_holders_found_total", "counter", "Holders those scans found (processes, namespaces, mounts, devices).")
        sample("storetrace_holders_found_total", [], holdersFound)
        if let unhealthyMounts {
            family("storetrace_unhealthy_mounts", "gauge", "Mounts that have been unhealthy since tracing started (device errors, removed, short or detached loop backing).")
            sample("storetrace_unhealthy_mounts", [], UInt64(unhealthyMounts()))
        }
        family("storetrace_losses_total", "counter", "Loss counters of the sources, by counter and kind (events: events lost; occurrences: times data was lost; information: counted, nothing lost).")
        for loss in losses() {
            let kind = switch loss.kind { case .events: "events"; case .occurrences: "occurrences"; case .information: "information" }
            sample("storetrace_losses_total", [("counter", loss.name), ("kind", kind)], loss.count)
        }
        let pipeline = pipelineCounts()
        family("storetrace_records_skipped_total", "counter", "Records received but not counted as events, by reason (malformed, schema_missing: no format for an ftrace record, filtered_out: left out by the filters).")
        sample("storetrace_records_skipped_total", [("reason", "malformed")], pipeline.malformed)
        sample("storetrace_records_skipped_total", [("reason", "schema_missing")], pipeline.schemaMissing)
        sample("storetrace_records_skipped_total", [("reason", "filtered_out")], pipeline.filteredOut)
        if let captureBytes {
            family("storetrace_capture_bytes_total", "counter", "Bytes written to capture files (every file of a --rotate ring, removed ones too).")
            sample("storetrace_capture_bytes_total", [], captureBytes())
        }
        if let captureUnwritten {
            family("storetrace_capture_unwritten_events_total", "counter", "Events that passed the filters but are not in the capture (the disk filled, or they came after --max-size).")
            sample("storetrace_capture_unwritten_events_total", [], captureUnwritten())
        }
        return out
    }

    /// Writes the text to `.NAME.tmp` beside PATH, then renames it over PATH.
    @discardableResult
    public func write() -> Bool {
        let bytes = Array(text().utf8)
        failure = bytes.withUnsafeBytes { AtomicFile.write($0, to: path) }
        return failure == nil
    }

    static func realtimeNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }

    /// A label value: backslash, double quote and line feed escaped (the
    /// text format's only escapes; any other UTF-8 stands as it is).
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
