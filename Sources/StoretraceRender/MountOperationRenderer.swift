import StoretraceAnalyze
import StoretraceDecode

/// A mount operation in mount(8)'s words, on the columns of a syscall line
/// (time of the first call, who, namespace, total latency of the calls):
///
///     14:07:31.123456  mount[4120]            mnt:4026531841     86.1µs  mount_op: new mount of tmpfs "none" on "/d" with size=16m,mode=0755 (fsopen, fsconfig ×4, fsmount, move_mount) = ok
///     14:07:31.123456  mount[4120]            mnt:4026531841     12.0µs  mount_op: new mount of tmpfs with size=16x (fsopen, fsconfig ×2) failed at fsconfig(3, FSCONFIG_CMD_CREATE, NULL, NULL, 0) = -1 EINVAL
///     14:07:31.123456  mount[4120]            mnt:4026531841      4.1µs  mount_op: new mount of tmpfs (fsopen) incomplete: filesystem never created (process exited)
extension TextRenderer {
    public func renderMountOperation(_ operation: MountOperation, into out: inout OutputBuffer) {
        operation.comm.withUnsafeBytes { comm in
            appendColumns(monotonic: operation.start, comm: comm, pid: operation.pid,
                          mountNamespace: operation.mountNamespace, latency: operation.latency, into: &out)
        }
        paint(.bold, into: &out)
        out.append("mount_op:")
        paint(.reset, into: &out)
        out.append(UInt8(ascii: " "))
        MountWords.appendDescription(operation, into: &out)
        out.append(" (")
        for (index, run) in operation.calls.enumerated() {
            if index > 0 { out.append(", ") }
            out.append(run.kind.callName)
            if run.count > 1 {
                out.append(" ×")
                out.appendDecimal(run.count)
            }
        }
        if operation.callsNotListed > 0 {
            out.append(", +")
            out.appendDecimal(operation.callsNotListed)
            out.append(" more")
        }
        out.append(UInt8(ascii: ")"))
        switch operation.outcome {
        case .succeeded:
            out.append(" = ")
            paint(.green, into: &out)
            out.append("ok")
            paint(.reset, into: &out)
        case .failed(let failure):
            out.append(" failed at ")
            failure.record.withUnsafeBytes { bytes in
                if let record = try? SyscallRecord(validating: bytes) {
                    appendCall(record, into: &out)
                } else { // cannot happen: the tracker copied a validated record
                    out.append(failure.kind.callName)
                    out.append("(?)")
                }
            }
        case .incomplete(let stage, let reason):
            paint(.yellow, into: &out)
            out.append(" incomplete: ")
            out.append(MountWords.stage(stage))
            paint(.reset, into: &out)
            out.append(" (")
            switch reason {
            case .processExited: out.append("process exited")
            case .tracingStopped: out.append("tracing stopped")
            case .descriptorReused(let fd):
                out.append("fd ")
                out.appendDecimal(fd)
                out.append(" closed: its number was reused")
            case .evicted: out.append("state limit reached")
            }
            out.append(UInt8(ascii: ")"))
        }
        if let target = operation.target {
            target.path.withUnsafeBytes { path in
                if let kubelet = KubeletPath.read(path, under: kubeletRoot) { appendKubelet(kubelet, into: &out) }
            }
        }
        out.append(UInt8(ascii: "\n"))
    }
}

/// `mount_op` as a JSON object (docs/events.md).
extension JSONRenderer {
    public func renderMountOperation(_ operation: MountOperation, into out: inout OutputBuffer) {
        out.append("{\"time\":")
        appendTime(monotonic: operation.start, into: &out)
        out.append(",\"type\":\"mount_op\",\"pid\":")
        out.appendDecimal(operation.pid)
        out.append(",\"tid\":")
        out.appendDecimal(operation.tids.first ?? 0)
        out.append(",\"comm\":")
        operation.comm.withUnsafeBytes { out.appendJSONString($0) }
        out.append(",\"mntns\":")
        out.appendDecimal(operation.mountNamespace)
        enrichment?.appendNamespaceOwner(operation.mountNamespace, into: &out)
        out.append(",\"end_time\":")
        appendTime(monotonic: operation.end, into: &out)
        out.append(",\"latency_ns\":")
        out.appendDecimal(operation.latency)
        out.append(",\"operation\":\"")
        out.append(MountWords.jsonName(operation.action))
        out.append("\",\"result\":\"")
        switch operation.outcome {
        case .succeeded: out.append("ok")
        case .failed: out.append("failed")
        case .incomplete: out.append("incomplete")
        }
        out.append("\"")
        key("fstype", &out)
        if let fstype = operation.fstype { fstype.withUnsafeBytes { out.appendJSONString($0) } } else { out.append("null") }
        key("source", &out)
        appendLocation(operation.source, into: &out)
        key("target", &out)
        appendLocation(operation.target, into: &out)
        key("options", &out)
        out.append(UInt8(ascii: "["))
        for (index, option) in operation.options.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            var text = OutputBuffer(capacity: 64)
            MountWords.appendOption(option, quoting: false, into: &text)
            text.withUnsafeBytes { out.appendJSONString($0) }
        }
        out.append(UInt8(ascii: "]"))
        key("options_dropped", &out)
        out.appendDecimal(operation.optionsDropped)
        flags("mount_flags", operation.mountFlags, FlagTables.mount, &out)
        flags("umount_flags", operation.unmountFlags, FlagTables.umount, &out)
        flags("attr_set", operation.attrSet, FlagTables.mountAttr, &out)
        flags("attr_clr", operation.attrClear, FlagTables.mountAttrClear, &out)
        flags("propagation", operation.propagation, FlagTables.propagation, &out)
        key("recursive", &out)
        out.append(operation.recursive ? "true" : "false")
        key("calls", &out)
        out.append(UInt8(ascii: "["))
        for (index, run) in operation.calls.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append("{\"call\":\"")
            out.append(run.kind.callName)
            out.append("\",\"count\":")
            out.appendDecimal(run.count)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        key("calls_not_listed", &out)
        out.appendDecimal(operation.callsNotListed)
        key("tids", &out)
        out.append(UInt8(ascii: "["))
        for (index, tid) in operation.tids.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.appendDecimal(tid)
        }
        out.append(UInt8(ascii: "]"))
        key("errno", &out)
        if case .failed(let failure) = operation.outcome { appendErrno(failure.errno, into: &out) } else { out.append("null") }
        key("failed_call", &out)
        if case .failed(let failure) = operation.outcome {
            failure.record.withUnsafeBytes { bytes in
                guard let record = try? SyscallRecord(validating: bytes) else { return out.append("null") }
                out.append("{\"type\":\"")
                out.append(record.kind.name)
                out.append("\",\"time\":")
                appendTime(monotonic: record.timestamp, into: &out)
                out.append(",\"tid\":")
                out.appendDecimal(record.tid)
                appendResult(record, into: &out)
                appendCallFields(record, into: &out)
                if record.anyTruncated { out.append(",\"truncated\":true") }
                out.append(UInt8(ascii: "}"))
            }
        } else {
            out.append("null")
        }
        key("incomplete", &out)
        if case .incomplete(let stage, let reason) = operation.outcome {
            out.append("{\"stage\":\"")
            out.append(MountWords.jsonName(stage))
            out.append("\",\"reason\":\"")
            var fd: Int32?
            switch reason {
            case .processExited: out.append("process_exited")
            case .tracingStopped: out.append("tracing_stopped")
            case .descriptorReused(let reused): out.append("fd_reused"); fd = reused
            case .evicted: out.append("evicted")
            }
            out.append("\",\"fd\":")
            if let fd { out.appendDecimal(fd) } else { out.append("null") }
            out.append(UInt8(ascii: "}"))
        } else {
            out.append("null")
        }
        if let target = operation.target {
            target.path.withUnsafeBytes { path in
                if let kubelet = KubeletPath.read(path, under: kubeletRoot) { appendKubelet(kubelet, into: &out) }
            }
        }
        out.append("}\n")
    }

    /// A path as a string; relative to a descriptor that was not followed:
    /// `"fd:7"` or `"fd:7/sub"`.
    private func appendLocation(_ location: MountOperation.Location?, into out: inout OutputBuffer) {
        guard let location else { return out.append("null") }
        guard let fd = location.unresolvedDescriptor else { return location.path.withUnsafeBytes { out.appendJSONString($0) } }
        var text = OutputBuffer(capacity: 64)
        text.append("fd:")
        text.appendDecimal(fd)
        if !location.path.isEmpty {
            text.append(UInt8(ascii: "/"))
            location.path.withUnsafeBytes { text.append(bytes: $0) }
        }
        text.withUnsafeBytes { out.appendJSONString($0) }
    }
}

/// The words of mount(8) for what an operation did.
public enum MountWords {
    public static func appendDescription(_ operation: MountOperation, into out: inout OutputBuffer) {
        switch operation.action {
        case .newMount:
            out.append("new mount")
            if operation.fstype != nil || operation.source != nil { out.append(" of") }
            if let fstype = operation.fstype {
                out.append(UInt8(ascii: " "))
                fstype.withUnsafeBytes { appendWord($0, into: &out) }
            }
            if let source = operation.source {
                out.append(UInt8(ascii: " "))
                appendLocation(source, into: &out)
            }
            appendOn(" on ", operation.target, into: &out)
            appendOptions(operation, into: &out)
        case .bind(let recursive):
            out.append(recursive ? "recursive bind" : "bind")
            appendOn(" of ", operation.source, into: &out)
            appendOn(" on ", operation.target, into: &out)
            appendOptions(operation, into: &out)
        case .move:
            out.append("move")
            appendOn(" of ", operation.source, into: &out)
            appendOn(" to ", operation.target, into: &out)
        case .remount:
            out.append("remount")
            appendOn(" of ", operation.target, into: &out)
            appendOptions(operation, into: &out)
        case .mountFlags:
            out.append("mount flags")
            appendOn(" of ", operation.target, into: &out)
            if operation.recursive { out.append(" and below") }
            out.append(" set to ")
            if !appendOptionWords(operation, into: &out) { out.append("defaults") }
        case .propagation:
            out.append("propagation")
            appendOn(" of ", operation.target, into: &out)
            if operation.propagation == 0, let peer = operation.source {
                // move_mount(MOVE_MOUNT_SET_GROUP)
                out.append(" joined to the peer group of ")
                appendLocation(peer, into: &out)
                return
            }
            if operation.recursive { out.append(" and below") }
            out.append(" set to ")
            if !appendPropagation(operation.propagation, recursive: false, into: &out) { out.append("unchanged") }
        case .unmount:
            let flags = operation.unmountFlags
            if flags & 0x1 != 0 { out.append("forced ") } // MNT_FORCE
            if flags & 0x2 != 0 { out.append("lazy ") } // MNT_DETACH
            if flags & 0x4 != 0 { out.append("expiring ") } // MNT_EXPIRE
            out.append("unmount")
            appendOn(" of ", operation.target, into: &out)
            if flags & 0x8 != 0 { out.append(" with nofollow") } // UMOUNT_NOFOLLOW
            let unknown = flags & ~0xF
            if unknown != 0 {
                out.append(" flags ")
                out.appendHex(unknown)
            }
        case .unknown:
            if let source = operation.source, source.path.isEmpty, let fd = source.unresolvedDescriptor {
                out.append("calls on fd ")
                out.appendDecimal(fd)
                out.append(" opened before tracing")
            } else {
                out.append("use of mount")
                appendOn(" ", operation.source, into: &out)
            }
            appendOptions(operation, into: &out)
        }
    }

    private static func appendOn(_ word: StaticString, _ location: MountOperation.Location?, into out: inout OutputBuffer) {
        guard let location else { return }
        out.append(word)
        appendLocation(location, into: &out)
    }

    /// A path quoted as strace quotes strings; one relative to a descriptor
    /// that was not followed says so.
    static func appendLocation(_ location: MountOperation.Location, into out: inout OutputBuffer) {
        if let fd = location.unresolvedDescriptor {
            if !location.path.isEmpty {
                location.path.withUnsafeBytes { out.appendQuoted($0) }
                out.append(" under ")
            }
            out.append("fd ")
            out.appendDecimal(fd)
            return
        }
        location.path.withUnsafeBytes { out.appendQuoted($0) }
    }

    /// ` with a,b=c` when there is anything to say.
    private static func appendOptions(_ operation: MountOperation, into out: inout OutputBuffer) {
        var words = OutputBuffer(capacity: 256)
        guard appendOptionWords(operation, into: &words) else { return }
        out.append(" with ")
        words.withUnsafeBytes { out.append(bytes: $0) }
    }

    /// The options as `mount -o` takes them: mount(2)'s flags, the
    /// filesystem's parameters, the mount attributes, the propagation.
    /// Returns false if there were none.
    @discardableResult
    static func appendOptionWords(_ operation: MountOperation, into out: inout OutputBuffer) -> Bool {
        let start = out.count
        func separator() { if out.count > start { out.append(UInt8(ascii: ",")) } }
        let flags = operation.mountFlags
        let remount = flags & 0x20 != 0 // MS_REMOUNT: what is not set is cleared
        if remount && flags & 0x1 == 0 { separator(); out.append("rw") }
        for (bit, word) in msWords where flags & bit != 0 {
            separator()
            out.append(word)
        }
        let unknown = flags & ~(msWords.reduce(0) { $0 | $1.0 } | msControl)
        if unknown != 0 { separator(); out.appendHex(unknown) }
        for option in operation.options {
            separator()
            appendOption(option, quoting: true, into: &out)
        }
        if operation.optionsDropped > 0 {
            separator()
            out.append("+")
            out.appendDecimal(operation.optionsDropped)
            out.append(" not kept")
        }
        // The atime field: set only where attr_clr clears it (mount_setattr), or fsmount names one.
        let set = operation.attrSet, clear = operation.attrClear
        let atime = set & 0x70
        if clear & 0x70 == 0x70 || atime != 0 {
            separator()
            out.append(atime == 0x10 ? "noatime" : atime == 0x20 ? "strictatime" : atime == 0 ? "relatime" : "atime=?")
        }
        for (bit, word) in attrSetWords where set & bit != 0 {
            separator()
            out.append(word)
        }
        for (bit, word) in attrClearWords where clear & bit != 0 {
            separator()
            out.append(word)
        }
        let known: UInt64 = 0x70 | attrSetWords.reduce(0) { $0 | $1.0 }
        if set & ~known != 0 { separator(); out.appendHex(set & ~known) }
        if clear & ~known != 0 { separator(); out.append("clear:"); out.appendHex(clear & ~known) }
        if operation.propagation != 0 && operation.action != .propagation {
            separator()
            // "and below" already says it for mount flags; elsewhere it is rshared, rprivate, ...
            appendPropagation(operation.propagation, recursive: operation.recursive && operation.action != .mountFlags, into: &out)
        }
        return out.count > start
    }

    /// `private`, `rshared`, ...: mount(8)'s propagation options.
    @discardableResult
    private static func appendPropagation(_ propagation: UInt64, recursive: Bool, into out: inout OutputBuffer) -> Bool {
        let word: StaticString
        switch propagation {
        case 0: return false
        case 0x20000: word = "unbindable"
        case 0x40000: word = "private"
        case 0x80000: word = "slave"
        case 0x100000: word = "shared"
        default:
            out.append("propagation=")
            out.appendHex(propagation)
            return true
        }
        if recursive { out.append(UInt8(ascii: "r")) }
        out.append(word)
        return true
    }

    /// `key`, `key=value`; `key=<binary N bytes>` and `key=<fd N>` for what
    /// is not text. `quoting`: values that are not plain words are quoted
    /// (terminal); JSON escapes the string itself.
    static func appendOption(_ option: MountOperation.Option, quoting: Bool, into out: inout OutputBuffer) {
        option.key.withUnsafeBytes { quoting ? appendWord($0, into: &out) : out.append(bytes: $0) }
        switch option.value {
        case .flag: break
        case .string(let value):
            out.append(UInt8(ascii: "="))
            value.withUnsafeBytes { quoting ? appendWord($0, into: &out) : out.append(bytes: $0) }
        case .binary(let size):
            out.append("=<binary ")
            out.appendDecimal(size)
            out.append(" bytes>")
        case .descriptor(let fd):
            out.append("=<fd ")
            out.appendDecimal(fd)
            out.append(UInt8(ascii: ">"))
        }
    }

    /// A word as is if it is plain (letters, digits, `._-+:/@%`), else quoted.
    static func appendWord(_ text: UnsafeRawBufferPointer, into out: inout OutputBuffer) {
        let plain = !text.isEmpty && text.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
                 UInt8(ascii: "+"), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "@"), UInt8(ascii: "%"):
                true
            default:
                false
            }
        }
        if plain { out.append(bytes: text) } else { out.appendQuoted(text) }
    }

    /// mount(2) flags that are options (the rest say which operation it is).
    static let msWords: [(UInt64, StaticString)] = [
        (0x1, "ro"), (0x2, "nosuid"), (0x4, "nodev"), (0x8, "noexec"), (0x10, "sync"), (0x40, "mand"),
        (0x80, "dirsync"), (0x100, "nosymfollow"), (0x400, "noatime"), (0x800, "nodiratime"), (0x8000, "silent"),
        (0x10000, "acl"), (0x200000, "relatime"), (0x800000, "iversion"), (0x1000000, "strictatime"),
        (0x2000000, "lazytime"),
    ]
    /// MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC and the propagation types.
    static let msControl: UInt64 = 0x20 | 0x1000 | 0x2000 | 0x4000 | 0x1E_0000

    static let attrSetWords: [(UInt64, StaticString)] = [
        (0x1, "ro"), (0x2, "nosuid"), (0x4, "nodev"), (0x8, "noexec"), (0x80, "nodiratime"),
        (0x100000, "idmap"), (0x200000, "nosymfollow"),
    ]
    static let attrClearWords: [(UInt64, StaticString)] = [
        (0x1, "rw"), (0x2, "suid"), (0x4, "dev"), (0x8, "exec"), (0x80, "diratime"),
        (0x100000, "noidmap"), (0x200000, "symfollow"),
    ]

    static func stage(_ stage: MountOperation.Stage) -> StaticString {
        switch stage {
        case .notCreated: "filesystem never created"
        case .notMounted: "filesystem created, never mounted"
        case .notAttached: "detached mount never attached"
        case .notReconfigured: "never reconfigured"
        case .nothingDone: "mount opened, nothing changed"
        }
    }

    static func jsonName(_ stage: MountOperation.Stage) -> StaticString {
        switch stage {
        case .notCreated: "not_created"
        case .notMounted: "not_mounted"
        case .notAttached: "not_attached"
        case .notReconfigured: "not_reconfigured"
        case .nothingDone: "nothing_done"
        }
    }

    static func jsonName(_ action: MountOperation.Action) -> StaticString {
        switch action {
        case .newMount: "new_mount"
        case .bind(let recursive): recursive ? "recursive_bind" : "bind"
        case .move: "move"
        case .remount: "remount"
        case .mountFlags: "mount_flags"
        case .propagation: "propagation"
        case .unmount: "unmount"
        case .unknown: "unknown"
        }
    }
}
