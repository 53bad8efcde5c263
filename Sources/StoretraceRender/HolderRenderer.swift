import StoretraceDecode

/// Text and JSON for a holder report: the lines under a failed call
///
///       ↳ busy: pid 812 (sleep) in mnt:4026532178, cwd /tmp/x/D, on a copy of it (peer group 2)
///
/// and the `holders` event of docs/events.md. Not a hot path (a scan runs
/// at most a few times a second), so it may build Strings; every name and
/// path from the node goes through `SnapshotRenderer.cell`/`printable`.
public enum HolderRenderer {
    /// The traced event a report explains (a failed umount2, mount, rmdir...).
    public struct Explains: Equatable, Sendable {
        public var type: String
        public var pid: Int32
        public var tid: Int32
        public var comm: String?
        /// CLOCK_MONOTONIC nanoseconds, the event's timestamp.
        public var monotonicNanoseconds: UInt64

        public init(type: String, pid: Int32, tid: Int32, comm: String? = nil, monotonicNanoseconds: UInt64) {
            self.type = type
            self.pid = pid
            self.tid = tid
            self.comm = comm
            self.monotonicNanoseconds = monotonicNanoseconds
        }
    }

    static let indent = "  ↳ "

    // MARK: Text

    /// One line naming the target: "/tmp/x/D: mount 345 (tmpfs tmpfs at /tmp/x/D, dev 0:45, peer group 2) in host".
    public static func renderTarget(_ report: HolderReport, into out: inout OutputBuffer) {
        let target = report.target
        var line = SnapshotRenderer.cell(target.given) + ": "
        switch target.kind {
        case .path where report.targetGone:
            line += "no longer mounted"
            if let inode = target.mountNamespace { line += " in " + namespaceName(inode, report, holderPID: nil) }
        case .path:
            line += "mount \(target.mountID.map(String.init) ?? "?") ("
            line += [target.fstype, target.source].compactMap { $0.map(SnapshotRenderer.cell) }.joined(separator: " ")
            if let point = target.mountPoint { line += " at " + SnapshotRenderer.cell(point) }
            if let root = target.root, root != "/" { line += " from " + SnapshotRenderer.cell(root) }
            line += ", dev \(target.major):\(target.minor)"
            if let group = target.peerGroup { line += ", peer group \(group)" }
            line += ")"
            if let inode = target.mountNamespace { line += " in " + namespaceName(inode, report, holderPID: nil) }
        case .device:
            line += "block device " + (target.deviceName.map(SnapshotRenderer.cell) ?? "?") + " \(target.major):\(target.minor)"
            if !target.partitions.isEmpty {
                line += " with partitions " + target.partitions.map(SnapshotRenderer.cell).joined(separator: ", ")
            }
        }
        out.append(string: line + "\n")
    }

    /// The indented lines: one per holder, or one saying nothing was found
    /// and when the scan ran; then what the scan had to skip. `explains`
    /// adds how long after the failed call the scan ran.
    public static func renderText(_ report: HolderReport, clock: ClockOffset, explains: Explains? = nil,
                                  into out: inout OutputBuffer) {
        for holder in report.holders {
            out.append(string: indent + "busy: " + describe(holder, in: report) + "\n")
        }
        if report.targetGone {
            // The answer for a busy that did not last: by the scan, the
            // mount point was no longer a mount.
            var line = indent + "unmounted since: no longer a mount point at the scan"
            if let explains {
                let delay = report.scannedAtMonotonicNanoseconds - Int64(clamping: explains.monotonicNanoseconds)
                line += " (" + milliseconds(delay) + " after the " + SnapshotRenderer.printable(explains.type) + ")"
            }
            out.append(string: line + "; whatever held it let go\n")
            return
        }
        if report.holders.isEmpty {
            var line = indent + "nothing holds it: scan at " + SnapshotRenderer.rfc3339(
                clock.wallNanoseconds(monotonic: UInt64(clamping: report.scannedAtMonotonicNanoseconds)))
            if let explains {
                let delay = report.scannedAtMonotonicNanoseconds - Int64(clamping: explains.monotonicNanoseconds)
                line += " (" + milliseconds(delay) + " after the " + SnapshotRenderer.printable(explains.type) + ")"
            }
            line += ", " + SnapshotRenderer.plural(report.counts.processes, "process", "processes") + " in "
                + SnapshotRenderer.plural(report.counts.mountNamespaces, "mount namespace")
            out.append(string: line + "\n")
        }
        var notes: [String] = []
        if report.budgetExhausted { notes.append("the scan ran out of time after " + milliseconds(report.durationNanoseconds) + ": holders may be missing") }
        let counts = report.counts
        if counts.processesExited > 0 { notes.append(SnapshotRenderer.plural(counts.processesExited, "process", "processes") + " exited during the scan") }
        if counts.entriesUnreadable > 0 { notes.append(SnapshotRenderer.plural(counts.entriesUnreadable, "entry", "entries") + " unreadable") }
        if counts.namespacesUnreadable > 0 { notes.append(SnapshotRenderer.plural(counts.namespacesUnreadable, "mount namespace") + " without a readable mount table") }
        if counts.processesOverLimit > 0 { notes.append(SnapshotRenderer.plural(counts.processesOverLimit, "process", "processes") + " past the limit") }
        if counts.holdersOverLimit > 0 { notes.append(SnapshotRenderer.plural(counts.holdersOverLimit, "more holder") + " not listed") }
        if !notes.isEmpty { out.append(string: indent + "skipped: " + notes.joined(separator: "; ") + "\n") }
    }

    /// What one holder is, after "busy: ".
    public static func describe(_ holder: HolderReport.Holder, in report: HolderReport) -> String {
        let path = holder.path.map(SnapshotRenderer.cell) ?? "?"
        let ns = holder.mountNamespace.map { namespaceName($0, report, holderPID: holder.pid) } ?? "?"
        let onIt = via(holder.via, report: report)
        switch holder.how {
        case .cwd, .root, .exe, .map, .fd, .open:
            var line = "pid \(holder.pid ?? 0) (" + (holder.comm.map(SnapshotRenderer.printable) ?? "?") + ") in " + ns + ", "
            switch holder.how {
            case .fd, .open:
                line += "fd \(holder.fd ?? -1) " + path
                if let flags = holder.openFlags {
                    line += holder.how == .open ? " open " : " "
                    line += FlagTables.openFlagNames(UInt64(flags)).joined(separator: "|")
                }
            default:
                line += holder.how.rawValue + " " + path
            }
            if holder.how != .open { line += ", " + onIt }
            return line
        case .mount:
            if report.target.kind == .device { return "mounted at " + path + " in " + ns + mountSuffix(holder) }
            switch holder.via {
            case .sameDevice(let root):
                return ns + " has the same filesystem at " + path + " (from " + SnapshotRenderer.cell(root) + mountSuffix(holder, ", ") + ")"
            default:
                return ns + " has a copy of it at " + path + " (" + ([tag(holder.via)].compactMap { $0 } + ["mount \(holder.mountID ?? 0)"]).joined(separator: ", ") + ")"
            }
        case .claim:
            // Traced, not scanned: when, relative to the scan (no clock needed).
            let before = report.scannedAtMonotonicNanoseconds - (holder.claimedAtMonotonicNanoseconds ?? report.scannedAtMonotonicNanoseconds)
            return "pid \(holder.pid ?? 0) (" + (holder.comm.map(SnapshotRenderer.printable) ?? "?") + ") in " + ns
                + ", claimed " + path + " exclusively " + seconds(before) + " before the scan (traced claim)"
        case .submount:
            if case .below(_, true) = holder.via { return "a mount on top of it at " + path + " in " + ns + mountSuffix(holder) }
            return "a mount below it at " + path + " in " + ns + mountSuffix(holder)
        case .nsPinned:
            return "mnt:\(holder.mountNamespace ?? 0) has no process; the nsfs bind mount " + path + " keeps it, and it holds a copy"
                + (tag(holder.via).map { " (" + $0 + ")" } ?? "")
        case .stacked:
            return (holder.device.map(SnapshotRenderer.cell) ?? path) + " is stacked on it (sysfs holders/)"
        case .loopBacking:
            return (holder.device.map(SnapshotRenderer.cell) ?? "?") + " is backed by " + path + ", " + onIt
        case .swap:
            return holder.via == .device ? "swap on " + path : "swap file " + path + ", " + onIt
        }
    }

    static func mountSuffix(_ holder: HolderReport.Holder, _ separator: String = " ") -> String {
        guard let id = holder.mountID else { return "" }
        return separator == " " ? " (mount \(id))" : separator + "mount \(id)"
    }

    /// What makes a mount a copy of the target, for parentheses.
    static func tag(_ via: HolderReport.Holder.Via) -> String? {
        switch via {
        case .peer(let group): return "peer group \(group)"
        case .slave(let group): return "receives its propagation, master:\(group)"
        case .sameRoot: return "same device and root"
        case .sameDevice(let root): return "same filesystem from " + SnapshotRenderer.cell(root)
        case .target, .below, .device: return nil
        }
    }

    /// How the mount a holder is on relates to the target.
    static func via(_ via: HolderReport.Holder.Via, report: HolderReport) -> String {
        switch via {
        case .target: return report.target.kind == .device ? "on a mount of it" : "on it"
        case .peer(let group): return "on a copy of it (peer group \(group))"
        case .slave(let group): return "on a copy that receives its propagation (master:\(group))"
        case .sameRoot: return "on a copy of it (same device and root)"
        case .sameDevice(let root): return "on the same filesystem (mounted from " + SnapshotRenderer.cell(root) + ")"
        case .below(let mountID, let onTop):
            let mounted = report.holders.first { $0.how == .submount && $0.mountID == mountID }?.path
                ?? report.holders.first { $0.how == .mount && $0.mountID == mountID }?.path
            return (onTop ? "on a mount on top of it" : "on a mount below it")
                + (mounted.map { " (under " + SnapshotRenderer.cell($0) + ")" } ?? "")
        case .device: return "on the device"
        }
    }

    /// "host", "mnt:4026532178" (the holder stands for it), or
    /// "mnt:4026532178 (sleep[812])"; a namespace without processes says
    /// where it is pinned.
    static func namespaceName(_ inode: UInt64, _ report: HolderReport, holderPID: Int32?) -> String {
        guard let namespace = report.namespace(inode: inode) else { return "mnt:\(inode)" }
        if namespace.isHost { return "host" }
        if let pid = namespace.pid, pid != holderPID {
            return "mnt:\(inode) (" + (namespace.comm.map(SnapshotRenderer.printable) ?? "?") + "[\(pid)])"
        }
        if namespace.pid == nil, namespace.processCount == 0 {
            return "mnt:\(inode) (no process" + (namespace.pinnedAt.map { ", pinned at " + SnapshotRenderer.cell($0) } ?? "") + ")"
        }
        return "mnt:\(inode)"
    }

    /// "1.23 ms" under a second, else "4.56 s".
    static func seconds(_ nanoseconds: Int64) -> String {
        guard nanoseconds >= 1_000_000_000 else { return milliseconds(nanoseconds) }
        let hundredths = nanoseconds / 10_000_000
        return "\(hundredths / 100).\(SnapshotRenderer.zeroPadded(Int(hundredths % 100), 2)) s"
    }

    /// "1.23 ms".
    static func milliseconds(_ nanoseconds: Int64) -> String {
        let hundredths = max(0, nanoseconds) / 10_000
        return "\(hundredths / 100).\(SnapshotRenderer.zeroPadded(Int(hundredths % 100), 2)) ms"
    }

    // MARK: JSON

    /// A `holders` event, one line: `time` (the scan's), `type`, then the
    /// failed call's `pid`, `tid`, `comm` (null without `explains`), the
    /// `explains` object, then the report's members (HolderReport.bodyMembers).
    /// `kubelet`: the renderer whose kubelet root and vol_data.json records
    /// add the `k8s` object of a target in kubelet's volume layout.
    public static func renderJSON(_ report: HolderReport, clock: ClockOffset, explains: Explains? = nil,
                                  kubelet: JSONRenderer? = nil, into out: inout OutputBuffer) {
        // The printer's renderer where it has this clock: a new one sets up
        // its memos (about 12 KB) for one line.
        let times = kubelet.flatMap { $0.clock == clock ? $0 : nil } ?? JSONRenderer(clock: clock)
        out.append("{\"time\":")
        times.appendTime(monotonic: UInt64(clamping: report.scannedAtMonotonicNanoseconds), into: &out)
        out.append(",\"type\":\"holders\",\"pid\":")
        if let explains { out.appendDecimal(explains.pid) } else { out.append("null") }
        out.append(",\"tid\":")
        if let explains { out.appendDecimal(explains.tid) } else { out.append("null") }
        out.append(",\"comm\":")
        if let comm = explains?.comm { out.appendJSONString(string: comm) } else { out.append("null") }
        out.append(",\"explains\":")
        if let explains {
            out.append("{\"type\":")
            out.appendJSONString(string: explains.type)
            out.append(",\"pid\":")
            out.appendDecimal(explains.pid)
            out.append(",\"tid\":")
            out.appendDecimal(explains.tid)
            out.append(",\"time\":")
            times.appendTime(monotonic: explains.monotonicNanoseconds, into: &out)
            out.append(",\"time_ns\":")
            out.appendDecimal(explains.monotonicNanoseconds)
            out.append(UInt8(ascii: "}"))
        } else {
            out.append("null")
        }
        if let kubelet, report.target.kind == .path {
            var given = report.target.given
            given.withUTF8 { bytes in
                if let path = KubeletPath.read(UnsafeRawBufferPointer(bytes), under: kubelet.kubeletRoot) {
                    kubelet.appendKubelet(path, into: &out)
                }
            }
        }
        let body = JSONValue.object(report.bodyMembers).serialized(.compact)
        out.append(UInt8(ascii: ","))
        out.append(string: String(body.dropFirst()))
        out.append(UInt8(ascii: "\n"))
    }
}
