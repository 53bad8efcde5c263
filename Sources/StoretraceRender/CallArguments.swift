import StoretraceDecode

/// The argument list of a call, written as strace writes it:
/// strings quoted (`...` after a cut one), NULL pointers as NULL, flag words
/// as `A|B`, AT_FDCWD by name, file descriptors with their file `3<a.bin>`.
enum CallArguments {
    /// `enrichment`: the block device and read-ahead in force, shown with the
    /// file of a copy's descriptor (`3<a.bin on vda1 read_ahead_kb=128>`).
    /// `copyFiles`: where a renderer remembers how it wrote a copy's two
    /// descriptors (`3<a.bin on vda1 read_ahead_kb=128>`) for the next call
    /// on the same files.
    static func render(_ record: SyscallRecord, enrichment: SnapshotEnrichment? = nil, copyFiles: CopyFileMemos? = nil,
                       into out: inout OutputBuffer) {
        let description = SyscallDescription.of(record.kind)
        var first = true
        for argument in description.arguments where argument.inText {
            if !first { separator(&out) }
            first = false
            if case .fd(let slot) = argument.role, let copyFiles, let which = copyFile(named: slot, in: description) {
                copyFiles.append(record.intArg(argument.register), which, slot: slot, record, enrichment: enrichment, into: &out)
                continue
            }
            self.argument(argument, of: description, record, enrichment: enrichment, into: &out)
        }
    }

    /// One argument as strace writes it, by its role in SyscallDescription.
    static func argument(_ argument: SyscallDescription.Argument, of description: SyscallDescription,
                         _ record: SyscallRecord, enrichment: SnapshotEnrichment? = nil, into out: inout OutputBuffer) {
        let register = argument.register
        switch argument.role {
        case .string(let slot):
            if description.strings[slot].source == .fsconfigValue && record.isNull(slot) && record.arg(register) != 0 {
                out.appendHex(record.arg(register)) // a binary blob or an fd: not a string
            } else {
                string(record, slot, pointer: register, into: &out)
            }
        case .flags(let table):
            flags(record.arg(register), table, into: &out)
        case .fsconfigCommand:
            if let name = FlagTables.fsconfigCommand(record.arg(register)) { out.append(name) } else { out.appendDecimal(record.arg(register)) }
        case .int:
            out.appendDecimal(record.intArg(register))
        case .dirfd:
            dirfd(record.intArg(register), into: &out)
        case .fd(let slot):
            if let which = copyFile(named: slot, in: description) {
                copyFile(record.intArg(register), which, slot: slot, record, enrichment: enrichment, into: &out)
            } else {
                fd(record.intArg(register), name: slot, record, into: &out)
            }
        case .offset(let which):
            offset(record, pointer: register, value: record.offsetAtEntry(which), into: &out)
        case .length, .unsigned:
            out.appendDecimal(record.arg(register))
        case .mountAttr:
            out.append("{attr_set=")
            flags(record.attrSet, FlagTables.mountAttr, into: &out)
            out.append(", attr_clr=")
            flags(record.attrClear, FlagTables.mountAttrClear, into: &out)
            out.append(", propagation=")
            flags(record.attrPropagation, FlagTables.propagation, into: &out)
            out.append("}")
        case .file:
            break // JSON only: the text shows the name with the fd
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

    /// `3<a.bin>`, with what `device` adds after the name (a copy's block device).
    static func fd(_ fd: Int32, name index: Int, _ record: SyscallRecord, into out: inout OutputBuffer,
                   device: (inout OutputBuffer) -> Void = { _ in }) {
        out.appendDecimal(fd)
        guard let name = record.string(index), name.count > 0 else { return }
        out.append(UInt8(ascii: "<"))
        out.appendPrintable(name)
        device(&out)
        out.append(UInt8(ascii: ">"))
    }

    /// A copy's descriptor with its file and, from a snapshot, the file's
    /// block device and read-ahead in force.
    static func copyFile(_ fd: Int32, _ which: SyscallDescription.CopyFile, slot: Int, _ record: SyscallRecord,
                         enrichment: SnapshotEnrichment?, into out: inout OutputBuffer) {
        self.fd(fd, name: slot, record, into: &out) { out in
            guard let enrichment else { return }
            let ref = record.file(which)
            enrichment.appendBlockDeviceText(major: ref.major, minor: ref.minor, into: &out)
        }
    }

    /// The copy file (in or out) whose name is in string slot `slot`.
    static func copyFile(named slot: Int, in description: SyscallDescription) -> SyscallDescription.CopyFile? {
        for argument in description.arguments {
            if case .file(let which, let nameSlot) = argument.role, nameSlot == slot { return which }
        }
        return nil
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

/// How a text renderer last wrote each side of a copy (`RenderMemo`): a
/// storm's calls name the same two files, and their names, devices and
/// read-ahead were half of its text.
final class CopyFileMemos {
    private var input = RenderMemo()
    private var output = RenderMemo()
    /// Changes with the renderer's enrichment table (not with what it holds:
    /// that is `SnapshotEnrichment.generation`).
    var generation: UInt64 = 0

    func append(_ fd: Int32, _ which: SyscallDescription.CopyFile, slot: Int, _ record: SyscallRecord,
                enrichment: SnapshotEnrichment?, into out: inout OutputBuffer) {
        let name = record.string(slot)
        let key = MemoKey(a: UInt64(UInt32(bitPattern: fd)), b: UInt64(record.file(which).device),
                          c: name == nil ? 1 : 0, d: 0, generation: generation &+ (enrichment?.generation ?? 0))
        let bytes = name ?? UnsafeRawBufferPointer(start: nil, count: 0)
        switch which {
        case .input: if input.append(key, bytes, into: &out) { return }
        case .output: if output.append(key, bytes, into: &out) { return }
        }
        let start = out.count
        CallArguments.copyFile(fd, which, slot: slot, record, enrichment: enrichment, into: &out)
        switch which {
        case .input: input.remember(key, bytes, rendered: out, since: start)
        case .output: output.remember(key, bytes, rendered: out, since: start)
        }
    }
}
