import StoretraceAnalyze
import StoretraceDecode
import StoretraceRender

/// The name of an event on a timeline: short enough to read on a slice,
/// in the words of its text line (`umount2 /var/lib/…/globalmount = -1
/// EBUSY`). The whole event is in its annotations. Names are escaped as
/// text for a terminal is (`appendPrintable`): what the node wrote
/// (paths, comm, log lines) cannot carry control characters into a viewer.
public enum EventTitle {
    /// Paths longer than three components show the first two and the last.
    static let pathComponents = 3
    /// Longer names are cut (a kernel log line), with "…".
    static let maxBytes = 160

    static func finish(_ out: borrowing OutputBuffer) -> String {
        out.withUnsafeBytes { bytes in
            guard bytes.count > maxBytes else { return String(decoding: bytes, as: UTF8.self) }
            // Cut at a character boundary.
            var end = maxBytes
            while end > 0, bytes[end] & 0xC0 == 0x80 { end -= 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self) + "…"
        }
    }

    /// `/var/lib/kubelet/plugins/…/globalmount` → `/var/lib/…/globalmount`.
    static func appendShortPath(_ path: UnsafeRawBufferPointer, into out: inout OutputBuffer) {
        let slash = UInt8(ascii: "/")
        let components = path.split(separator: slash)
        guard path.first == slash, components.count > pathComponents else {
            out.appendPrintable(path)
            return
        }
        for component in components.prefix(pathComponents - 1) {
            out.append(slash)
            out.appendPrintable(UnsafeRawBufferPointer(rebasing: component))
        }
        out.append("/…/")
        out.appendPrintable(UnsafeRawBufferPointer(rebasing: components[components.count - 1]))
    }

    static func appendFailure(_ errno: Int32?, into out: inout OutputBuffer) {
        guard let errno else { return }
        out.append(" = -1 ")
        if let name = ErrnoNames.name(errno) { out.append(name) } else { out.appendDecimal(errno) }
    }

    /// The call and its paths, file names and fsconfig command, in the
    /// order of its arguments (`SyscallDescription`), then a failure's errno.
    public static func syscall(_ record: SyscallRecord) -> String {
        var out = OutputBuffer(capacity: 256)
        out.append(record.kind.callName)
        let description = SyscallDescription.of(record.kind)
        for argument in description.arguments where argument.inText {
            switch argument.role {
            case .string(let slot), .fd(let slot):
                guard let text = record.string(slot), !text.isEmpty else { continue }
                out.append(UInt8(ascii: " "))
                appendShortPath(text, into: &out)
                if record.isTruncated(slot) { out.append("...") }
            case .fsconfigCommand:
                out.append(UInt8(ascii: " "))
                if let name = FlagTables.fsconfigCommand(record.arg(argument.register)) {
                    out.append(name)
                } else {
                    out.appendDecimal(record.arg(argument.register))
                }
            default:
                continue
            }
        }
        appendFailure(record.errno, into: &out)
        return finish(out)
    }

    public static func claim(_ record: ClaimRecord) -> String {
        var out = OutputBuffer(capacity: 64)
        out.append("claim ")
        out.appendDecimal(record.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(record.minor)
        appendFailure(record.errno, into: &out)
        return finish(out)
    }

    /// `change block loop0`: as its text line starts.
    public static func uevent(_ message: UeventMessage) -> String {
        var out = OutputBuffer(capacity: 128)
        out.appendPrintable(message.actionName)
        out.append(UInt8(ascii: " "))
        out.appendPrintable(message.subsystem)
        out.append(UInt8(ascii: " "))
        out.appendPrintable(message.deviceShownName)
        return finish(out)
    }

    /// The line the kernel logged (its \xNN escapes undone, then escaped for display).
    public static func kmsg(_ record: KmsgRecord) -> String {
        var out = OutputBuffer(capacity: 256)
        let message = record.message
        withUnsafeTemporaryAllocation(byteCount: max(message.count, 1), alignment: 1) { scratch in
            let count = KmsgRecord.unescape(message, into: scratch) ?? 0
            out.appendPrintable(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
        }
        return finish(out)
    }

    /// `bind_store`, `→ nvme_probe`, `nvme_probe = -19 ENODEV`, `block:block_rq_error`.
    public static func ftrace(_ view: FtraceEventView, describe: (UInt64) -> String) -> String {
        var out = OutputBuffer(capacity: 128)
        if let call = view.functionCall {
            out.appendPrintable(string: describe(call.ip))
        } else if let call = view.graphCall {
            if call.phase == .entry { out.append("→ ") }
            out.appendPrintable(string: describe(call.function))
            if call.phase == .exit, let value = call.signedReturnValue {
                out.append(" = ")
                out.appendDecimal(value)
                if let errno = call.errno, let name = ErrnoNames.name(errno) {
                    out.append(UInt8(ascii: " "))
                    out.append(name)
                }
            }
        } else {
            out.appendPrintable(string: view.system)
            out.append(UInt8(ascii: ":"))
            out.appendPrintable(string: view.name)
        }
        return finish(out)
    }

    /// `holders /tmp/x/D: 1 holder`, `holders /tmp/x/D: nothing holds it`,
    /// `holders /tmp/x/D: unmounted since`.
    public static func holders(_ report: HolderReport) -> String {
        var out = OutputBuffer(capacity: 128)
        out.append("holders ")
        var given = report.target.given
        given.withUTF8 { appendShortPath(UnsafeRawBufferPointer($0), into: &out) }
        out.append(": ")
        if report.targetGone {
            out.append("unmounted since")
        } else if report.holders.isEmpty {
            out.append("nothing holds it")
        } else {
            out.appendDecimal(report.holders.count)
            out.append(report.holders.count == 1 ? " holder" : " holders")
        }
        return finish(out)
    }

    /// `mount_health io_error /mnt/x`.
    public static func mountHealth(_ health: MountHealth) -> String {
        var out = OutputBuffer(capacity: 128)
        out.append("mount_health ")
        out.append(string: health.cause.name)
        out.append(UInt8(ascii: " "))
        var point = health.mount.mountPoint
        point.withUTF8 { appendShortPath(UnsafeRawBufferPointer($0), into: &out) }
        return finish(out)
    }

    /// `mount_op: new mount of tmpfs on "/d" with size=16m`, then a failure's errno.
    public static func mountOperation(_ operation: MountOperation) -> String {
        var out = OutputBuffer(capacity: 256)
        out.append("mount_op: ")
        MountWords.appendDescription(operation, into: &out)
        switch operation.outcome {
        case .succeeded: break
        case .failed(let failure): appendFailure(failure.errno, into: &out)
        case .incomplete: out.append(" (incomplete)")
        }
        return finish(out)
    }

    /// `read_ahead_kb loop0 128 → 4096`.
    public static func queueSetting(_ change: QueueSettingChange) -> String {
        var out = OutputBuffer(capacity: 128)
        out.append(change.setting.name)
        out.append(UInt8(ascii: " "))
        change.device.withUnsafeBytes { out.appendPrintable($0) }
        out.append(UInt8(ascii: " "))
        if let old = change.old {
            old.withUnsafeBytes { out.appendPrintable($0) }
            out.append(" → ")
        }
        change.new.withUnsafeBytes { out.appendPrintable($0) }
        return finish(out)
    }
}
