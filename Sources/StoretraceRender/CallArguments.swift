import StoretraceDecode

/// The argument list of a call, written as strace writes it:
/// strings quoted (`...` after a cut one), NULL pointers as NULL, flag words
/// as `A|B`, AT_FDCWD by name, file descriptors with their file `3<a.bin>`.
enum CallArguments {
    static func render(_ record: SyscallRecord, into out: inout OutputBuffer) {
        switch record.kind {
        case .mount:
            string(record, 0, pointer: 0, into: &out); separator(&out)
            string(record, 1, pointer: 1, into: &out); separator(&out)
            string(record, 2, pointer: 2, into: &out); separator(&out)
            flags(record.arg(3), FlagTables.mount, into: &out); separator(&out)
            string(record, 3, pointer: 4, into: &out)
        case .umount:
            string(record, 0, pointer: 0, into: &out); separator(&out)
            flags(record.arg(1), FlagTables.umount, into: &out)
        case .fsopen:
            string(record, 0, pointer: 0, into: &out); separator(&out)
            flags(record.arg(1), FlagTables.fsopen, into: &out)
        case .fsconfig:
            out.appendDecimal(record.intArg(0)); separator(&out)
            if let name = FlagTables.fsconfigCommand(record.arg(1)) { out.append(name) } else { out.appendDecimal(record.arg(1)) }
            separator(&out)
            string(record, 0, pointer: 2, into: &out); separator(&out)
            if record.isNull(1) && record.arg(3) != 0 {
                out.appendHex(record.arg(3)) // a binary blob or an fd: not a string
            } else {
                string(record, 1, pointer: 3, into: &out)
            }
            separator(&out)
            out.appendDecimal(record.intArg(4))
        case .fsmount:
            out.appendDecimal(record.intArg(0)); separator(&out)
            flags(record.arg(1), FlagTables.fsmount, into: &out); separator(&out)
            flags(record.arg(2), FlagTables.mountAttr, into: &out)
        case .moveMount:
            dirfd(record.intArg(0), into: &out); separator(&out)
            string(record, 0, pointer: 1, into: &out); separator(&out)
            dirfd(record.intArg(2), into: &out); separator(&out)
            string(record, 1, pointer: 3, into: &out); separator(&out)
            flags(record.arg(4), FlagTables.moveMount, into: &out)
        case .openTree:
            dirfd(record.intArg(0), into: &out); separator(&out)
            string(record, 0, pointer: 1, into: &out); separator(&out)
            flags(record.arg(2), FlagTables.openTree, into: &out)
        case .mountSetattr:
            dirfd(record.intArg(0), into: &out); separator(&out)
            string(record, 0, pointer: 1, into: &out); separator(&out)
            flags(record.arg(2), FlagTables.atFlags, into: &out); separator(&out)
            out.append("{attr_set=")
            flags(record.attrSet, FlagTables.mountAttr, into: &out)
            out.append(", attr_clr=")
            flags(record.attrClear, FlagTables.mountAttrClear, into: &out)
            out.append(", propagation=")
            flags(record.attrPropagation, FlagTables.propagation, into: &out)
            out.append("}"); separator(&out)
            out.appendDecimal(record.arg(4))
        case .fspick:
            dirfd(record.intArg(0), into: &out); separator(&out)
            string(record, 0, pointer: 1, into: &out); separator(&out)
            flags(record.arg(2), FlagTables.fspick, into: &out)
        case .copyFileRange, .splice:
            fd(record.intArg(0), name: 0, record, into: &out); separator(&out)
            offset(record, pointer: 1, value: record.offsetInAtEntry, into: &out); separator(&out)
            fd(record.intArg(2), name: 1, record, into: &out); separator(&out)
            offset(record, pointer: 3, value: record.offsetOutAtEntry, into: &out); separator(&out)
            out.appendDecimal(record.arg(4)); separator(&out)
            flags(record.arg(5), record.kind == .splice ? FlagTables.splice : FlagTables.copyFileRange, into: &out)
        case .sendfile:
            fd(record.intArg(0), name: 1, record, into: &out); separator(&out)
            fd(record.intArg(1), name: 0, record, into: &out); separator(&out)
            offset(record, pointer: 2, value: record.offsetInAtEntry, into: &out); separator(&out)
            out.appendDecimal(record.arg(3))
        }
    }

    @inline(__always)
    static func separator(_ out: inout OutputBuffer) { out.append(", ") }

    static func string(_ record: SyscallRecord, _ index: Int, pointer arg: Int, into out: inout OutputBuffer) {
        if record.isNull(index) {
            out.append("NULL")
        } else if let text = record.string(index) {
            out.appendQuoted(text)
            if record.isTruncated(index) { out.append("...") }
        } else {
            out.appendHex(record.arg(arg)) // unreadable pointer: show it, as strace does
        }
    }

    static func flags(_ value: UInt64, _ table: FlagTable, into out: inout OutputBuffer) {
        var first = true
        table.forEach(value) { name in
            if !first { out.append(UInt8(ascii: "|")) }
            first = false
            switch name {
            case .known(let text): out.append(text)
            case .unknown(let bits): out.appendHex(bits)
            }
        }
        if first { out.append(UInt8(ascii: "0")) }
    }

    static func dirfd(_ fd: Int32, into out: inout OutputBuffer) {
        if fd == FlagTables.atFDCWD { out.append("AT_FDCWD") } else { out.appendDecimal(fd) }
    }

    static func fd(_ fd: Int32, name index: Int, _ record: SyscallRecord, into out: inout OutputBuffer) {
        out.appendDecimal(fd)
        if let name = record.string(index), name.count > 0 {
            out.append(UInt8(ascii: "<"))
            out.appendPrintable(name)
            out.append(UInt8(ascii: ">"))
        }
    }

    /// A `loff_t *` argument: NULL, or the value it pointed at on entry.
    static func offset(_ record: SyscallRecord, pointer arg: Int, value: Int64, into out: inout OutputBuffer) {
        if record.arg(arg) == 0 {
            out.append("NULL")
        } else {
            out.append(UInt8(ascii: "["))
            out.appendDecimal(value)
            out.append(UInt8(ascii: "]"))
        }
    }
}
