import StoretraceDecode

/// JSON lines, the contract of docs/events.md: one object per event with
/// `time`, `type`, `pid`, `tid`, `comm`, then for syscalls `mntns`, `ret`,
/// `errno`, `latency_ns` and the call's own fields. Keys come in a fixed
/// order so that output is byte-for-byte reproducible.
public struct JSONRenderer {
    public var clock: ClockOffset
    /// From the capture's node snapshot (record, replay): adds `mntns_owner`
    /// and, in file objects, `block_device` and `read_ahead_kb`.
    public var enrichment: SnapshotEnrichment?

    public init(clock: ClockOffset, enrichment: SnapshotEnrichment? = nil) {
        self.clock = clock
        self.enrichment = enrichment
    }

    public func render(_ record: SyscallRecord, into out: inout OutputBuffer) {
        out.append("{\"time\":")
        appendTime(monotonic: record.timestamp, into: &out)
        out.append(",\"type\":\"")
        out.append(record.kind.name)
        out.append("\",\"pid\":")
        out.appendDecimal(record.pid)
        out.append(",\"tid\":")
        out.appendDecimal(record.tid)
        out.append(",\"comm\":")
        out.appendJSONString(record.comm)
        out.append(",\"uid\":")
        out.appendDecimal(record.uid)
        out.append(",\"mntns\":")
        out.appendDecimal(record.mountNamespace)
        enrichment?.appendNamespaceOwner(record.mountNamespace, into: &out)
        out.append(",\"cgroup_id\":")
        out.appendDecimal(record.cgroupID)
        appendResult(record, into: &out)
        appendCallFields(record, into: &out)
        if record.anyTruncated { out.append(",\"truncated\":true") }
        out.append("}\n")
    }

    /// `"ret"`, `"errno"` and `"latency_ns"` of a call.
    func appendResult(_ record: SyscallRecord, into out: inout OutputBuffer) {
        out.append(",\"ret\":")
        out.appendDecimal(record.returnValue)
        out.append(",\"errno\":")
        appendErrno(record.errno, into: &out)
        out.append(",\"latency_ns\":")
        out.appendDecimal(record.latency)
    }

    /// The symbolic name as a JSON string (`"E<number>"` if it has none), or null.
    func appendErrno(_ errno: Int32?, into out: inout OutputBuffer) {
        if let errno {
            if let name = ErrnoNames.name(errno) {
                out.appendJSONString(name)
            } else {
                out.append("\"E")
                out.appendDecimal(errno)
                out.append("\"")
            }
        } else {
            out.append("null")
        }
    }

    /// The call's own fields, by kind (the table of docs/events.md).
    func appendCallFields(_ record: SyscallRecord, into out: inout OutputBuffer) {
        let r = record
        switch record.kind {
        case .mount:
            string("source", r, 0, &out)
            string("target", r, 1, &out)
            string("fstype", r, 2, &out)
            flags("flags", r.arg(3), FlagTables.mount, &out)
            string("data", r, 3, &out)
        case .umount:
            string("target", r, 0, &out)
            flags("flags", r.arg(1), FlagTables.umount, &out)
        case .fsopen:
            string("fstype", r, 0, &out)
            flags("flags", r.arg(1), FlagTables.fsopen, &out)
        case .fsconfig:
            int("fd", Int64(r.intArg(0)), &out)
            out.append(",\"cmd\":")
            if let name = FlagTables.fsconfigCommand(r.arg(1)) { out.appendJSONString(name) } else { out.appendDecimal(r.arg(1)) }
            string("key", r, 0, &out)
            string("value", r, 1, &out)
            int("aux", Int64(r.intArg(4)), &out)
        case .fsmount:
            int("fd", Int64(r.intArg(0)), &out)
            flags("flags", r.arg(1), FlagTables.fsmount, &out)
            flags("attr_flags", r.arg(2), FlagTables.mountAttr, &out)
        case .moveMount:
            int("from_dfd", Int64(r.intArg(0)), &out)
            string("from_path", r, 0, &out)
            int("to_dfd", Int64(r.intArg(2)), &out)
            string("to_path", r, 1, &out)
            flags("flags", r.arg(4), FlagTables.moveMount, &out)
        case .openTree:
            int("dfd", Int64(r.intArg(0)), &out)
            string("path", r, 0, &out)
            flags("flags", r.arg(2), FlagTables.openTree, &out)
        case .mountSetattr:
            int("dfd", Int64(r.intArg(0)), &out)
            string("path", r, 0, &out)
            flags("flags", r.arg(2), FlagTables.atFlags, &out)
            flags("attr_set", r.attrSet, FlagTables.mountAttr, &out)
            flags("attr_clr", r.attrClear, FlagTables.mountAttrClear, &out)
            flags("propagation", r.attrPropagation, FlagTables.propagation, &out)
        case .fspick:
            int("dfd", Int64(r.intArg(0)), &out)
            string("path", r, 0, &out)
            flags("flags", r.arg(2), FlagTables.fspick, &out)
        case .copyFileRange, .splice:
            int("fd_in", Int64(r.intArg(0)), &out)
            offset("off_in", r, pointer: 1, value: r.offsetInAtEntry, &out)
            int("fd_out", Int64(r.intArg(2)), &out)
            offset("off_out", r, pointer: 3, value: r.offsetOutAtEntry, &out)
            int("len", Int64(bitPattern: r.arg(4)), &out)
            flags("flags", r.arg(5), r.kind == .splice ? FlagTables.splice : FlagTables.copyFileRange, &out)
            file("file_in", r.fileIn, r, 0, &out)
            file("file_out", r.fileOut, r, 1, &out)
        case .sendfile:
            int("out_fd", Int64(r.intArg(0)), &out)
            int("in_fd", Int64(r.intArg(1)), &out)
            offset("offset", r, pointer: 2, value: r.offsetInAtEntry, &out)
            int("count", Int64(bitPattern: r.arg(3)), &out)
            file("file_in", r.fileIn, r, 0, &out)
            file("file_out", r.fileOut, r, 1, &out)
        }
    }

    /// RFC 3339, UTC, nanoseconds: "2026-11-23T14:07:31.123456789Z".
    public func appendTime(monotonic: UInt64, into out: inout OutputBuffer) {
        let time = CivilTime(epochNanoseconds: clock.wallNanoseconds(monotonic: monotonic))
        out.append(UInt8(ascii: "\""))
        out.appendDecimal(time.year, width: 4)
        out.append(UInt8(ascii: "-"))
        out.appendDecimal(time.month, width: 2)
        out.append(UInt8(ascii: "-"))
        out.appendDecimal(time.day, width: 2)
        out.append(UInt8(ascii: "T"))
        out.appendDecimal(time.hour, width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(time.minute, width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(time.second, width: 2)
        out.append(UInt8(ascii: "."))
        out.appendDecimal(time.nanosecond, width: 9)
        out.append("Z\"")
    }

    func key(_ name: StaticString, _ out: inout OutputBuffer) {
        out.append(",\"")
        out.append(name)
        out.append("\":")
    }

    private func int(_ name: StaticString, _ value: Int64, _ out: inout OutputBuffer) {
        key(name, &out)
        out.appendDecimal(value)
    }

    private func string(_ name: StaticString, _ record: SyscallRecord, _ index: Int, _ out: inout OutputBuffer) {
        key(name, &out)
        if let text = record.string(index) {
            out.appendJSONString(text)
        } else {
            out.append("null") // NULL pointer, or memory that could not be read
        }
    }

    func flags(_ name: StaticString, _ value: UInt64, _ table: FlagTable, _ out: inout OutputBuffer) {
        key(name, &out)
        out.append(UInt8(ascii: "["))
        var first = true
        table.forEach(value) { flag in
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            switch flag {
            case .known(let text): out.appendJSONString(text)
            case .unknown(let bits):
                out.append(UInt8(ascii: "\""))
                out.appendHex(bits)
                out.append(UInt8(ascii: "\""))
            }
        }
        out.append(UInt8(ascii: "]"))
    }

    private func offset(_ name: StaticString, _ record: SyscallRecord, pointer arg: Int, value: Int64,
                        _ out: inout OutputBuffer) {
        key(name, &out)
        if record.arg(arg) == 0 { out.append("null") } else { out.appendDecimal(value) }
    }

    private func file(_ name: StaticString, _ ref: FileRef, _ record: SyscallRecord, _ index: Int,
                      _ out: inout OutputBuffer) {
        key(name, &out)
        out.append("{\"dev\":\"")
        out.appendDecimal(ref.major)
        out.append(UInt8(ascii: ":"))
        out.appendDecimal(ref.minor)
        out.append("\",\"ino\":")
        out.appendDecimal(ref.inode)
        out.append(",\"name\":")
        if let text = record.string(index) { out.appendJSONString(text) } else { out.append("null") }
        enrichment?.appendBlockDevice(major: ref.major, minor: ref.minor, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}
