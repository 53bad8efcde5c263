import CStoretraceABI

/// What each traced call's arguments mean: the one description both
/// renderers walk (JSON fields named as docs/events.md spells them, the
/// strace-style argument list of the text view) and that `SyscallDescriptionTests`
/// holds against the BPF program's string slots (`st_string_slot` in
/// storetrace_abi.h) and the field tables of docs/events.md.
///
/// The table is built once, in permanent storage; rendering an event reads
/// it in place: no allocation and no reference counting.
/// Sendable: its tables are immutable and never freed.
public struct SyscallDescription: @unchecked Sendable {
    public let kind: SyscallKind
    /// Where the record's strings come from, slot by slot (`nstr` of them).
    public let strings: UnsafeBufferPointer<StringSlot>
    /// The call's arguments in call order, then the JSON-only file objects.
    public let arguments: UnsafeBufferPointer<Argument>

    /// Where one string of a record was read from by the BPF program.
    public struct StringSlot: Equatable, Sendable {
        public enum Source: Equatable, Sendable {
            /// The string the argument points at, in the caller's memory.
            case userString
            /// fsconfig's `value`: a user string only for the commands that
            /// pass one (`FSCONFIG_SET_STRING`, `SET_PATH`, `SET_PATH_EMPTY`);
            /// for the others BPF marks the slot NULL and the argument is a
            /// blob, an fd or nothing.
            case fsconfigValue
            /// The last path component of the file the fd argument refers to.
            case fileName
        }
        public let source: Source
        /// The argument register (0-5) it came from.
        public let argument: Int

        public init(_ source: Source, argument: Int) {
            self.source = source
            self.argument = argument
        }
    }

    /// Which `loff_t *` offset the record kept (`detail.copy` of the ABI).
    public enum OffsetAtEntry: Sendable {
        case input, output
    }

    /// Which file of a copy (`detail.copy.in` / `.out`).
    public enum CopyFile: Sendable {
        case input, output
    }

    public enum Role: Sendable {
        /// A string slot: JSON string or null; text quoted, NULL, or the pointer in hex.
        case string(slot: Int)
        /// A flag word decoded with its call's own table.
        case flags(FlagTable)
        /// fsconfig's `cmd`: an FSCONFIG_* name, or the number.
        case fsconfigCommand
        /// A C `int` (an fd, fsconfig's aux).
        case int
        /// A directory fd of an *at() call: text writes AT_FDCWD by name.
        case dirfd
        /// A file descriptor whose file name is string slot `nameSlot`: text writes `3<name>`.
        case fd(nameSlot: Int)
        /// A `loff_t *`: NULL, or the value it pointed at on entry.
        case offset(OffsetAtEntry)
        /// A `size_t` byte count: JSON as a signed 64-bit integer, text unsigned, as strace does.
        case length
        /// An unsigned integer (mount_setattr's `size`).
        case unsigned
        /// mount_setattr's `struct mount_attr *`, read at entry: `attr_set`,
        /// `attr_clr` and `propagation` (JSON fields; text `{attr_set=…}`).
        case mountAttr
        /// A copy's file object `{"dev","ino","name"}` with its name from string slot `nameSlot`.
        case file(CopyFile, nameSlot: Int)
    }

    public struct Argument: Sendable {
        /// The JSON field (docs/events.md); for `.mountAttr` its C name, the
        /// fields being its members.
        public let name: StaticString
        public let role: Role
        /// The argument register (0-5) the value is read from; for `.file`
        /// the fd argument of that file.
        public let register: Int
        /// Written in JSON / in the text argument list.
        public let inJSON: Bool
        public let inText: Bool

        public init(_ name: StaticString, _ role: Role, register: Int, json: Bool = true, text: Bool = true) {
            self.name = name
            self.role = role
            self.register = register
            self.inJSON = json
            self.inText = text
        }
    }

    /// Kept for the life of the process (`permanentTable`).
    init(kind: SyscallKind, strings: [StringSlot], arguments: [Argument]) {
        self.kind = kind
        self.strings = permanentTable(strings)
        self.arguments = permanentTable(arguments)
    }

    /// The description of `kind`.
    @inline(__always)
    public static func of(_ kind: SyscallKind) -> SyscallDescription {
        table[Int(kind.rawValue)]
    }

    /// Indexed by `SyscallKind.rawValue`; entry 0 (no kind) is never read.
    nonisolated(unsafe) private static let table: UnsafeBufferPointer<SyscallDescription> = {
        var table = [SyscallDescription](repeating: describe(.mount), count: SyscallKind.abiMax + 1)
        for kind in SyscallKind.allCases { table[Int(kind.rawValue)] = describe(kind) }
        return permanentTable(table)
    }()

    private static func describe(_ kind: SyscallKind) -> SyscallDescription {
        typealias A = Argument
        let user = StringSlot.Source.userString
        switch kind {
        case .mount: // mount(source, target, filesystemtype, mountflags, data)
            return .init(kind: kind, strings: [.init(user, argument: 0), .init(user, argument: 1),
                                               .init(user, argument: 2), .init(user, argument: 4)],
                         arguments: [A("source", .string(slot: 0), register: 0),
                                     A("target", .string(slot: 1), register: 1),
                                     A("fstype", .string(slot: 2), register: 2),
                                     A("flags", .flags(FlagTables.mount), register: 3),
                                     A("data", .string(slot: 3), register: 4)])
        case .umount: // umount2(target, flags)
            return .init(kind: kind, strings: [.init(user, argument: 0)],
                         arguments: [A("target", .string(slot: 0), register: 0),
                                     A("flags", .flags(FlagTables.umount), register: 1)])
        case .fsopen: // fsopen(fsname, flags)
            return .init(kind: kind, strings: [.init(user, argument: 0)],
                         arguments: [A("fstype", .string(slot: 0), register: 0),
                                     A("flags", .flags(FlagTables.fsopen), register: 1)])
        case .fsconfig: // fsconfig(fd, cmd, key, value, aux)
            return .init(kind: kind, strings: [.init(user, argument: 2), .init(.fsconfigValue, argument: 3)],
                         arguments: [A("fd", .int, register: 0),
                                     A("cmd", .fsconfigCommand, register: 1),
                                     A("key", .string(slot: 0), register: 2),
                                     A("value", .string(slot: 1), register: 3),
                                     A("aux", .int, register: 4)])
        case .fsmount: // fsmount(fd, flags, attr_flags)
            return .init(kind: kind, strings: [],
                         arguments: [A("fd", .int, register: 0),
                                     A("flags", .flags(FlagTables.fsmount), register: 1),
                                     A("attr_flags", .flags(FlagTables.mountAttr), register: 2)])
        case .moveMount: // move_mount(from_dfd, from_path, to_dfd, to_path, flags)
            return .init(kind: kind, strings: [.init(user, argument: 1), .init(user, argument: 3)],
                         arguments: [A("from_dfd", .dirfd, register: 0),
                                     A("from_path", .string(slot: 0), register: 1),
                                     A("to_dfd", .dirfd, register: 2),
                                     A("to_path", .string(slot: 1), register: 3),
                                     A("flags", .flags(FlagTables.moveMount), register: 4)])
        case .openTree: // open_tree(dfd, path, flags)
            return pathCall(kind, flags: FlagTables.openTree)
        case .rmdir: // rmdir(pathname)
            return .init(kind: kind, strings: [.init(user, argument: 0)],
                         arguments: [A("path", .string(slot: 0), register: 0)])
        case .unlinkat: // unlinkat(dfd, pathname, flags)
            return pathCall(kind, flags: FlagTables.unlinkat)
        case .fspick: // fspick(dfd, path, flags)
            return pathCall(kind, flags: FlagTables.fspick)
        case .mountSetattr: // mount_setattr(dfd, path, flags, uattr, usize)
            return pathCall(kind, flags: FlagTables.atFlags,
                            more: [A("uattr", .mountAttr, register: 3), A("size", .unsigned, register: 4, json: false)])
        case .copyFileRange, .splice: // (fd_in, off_in, fd_out, off_out, len, flags)
            return .init(kind: kind, strings: [.init(.fileName, argument: 0), .init(.fileName, argument: 2)],
                         arguments: [A("fd_in", .fd(nameSlot: 0), register: 0),
                                     A("off_in", .offset(.input), register: 1),
                                     A("fd_out", .fd(nameSlot: 1), register: 2),
                                     A("off_out", .offset(.output), register: 3),
                                     A("len", .length, register: 4),
                                     A("flags", .flags(kind == .splice ? FlagTables.splice : FlagTables.copyFileRange),
                                       register: 5),
                                     A("file_in", .file(.input, nameSlot: 0), register: 0, text: false),
                                     A("file_out", .file(.output, nameSlot: 1), register: 2, text: false)])
        case .sendfile: // sendfile(out_fd, in_fd, offset, count); slot 0 is the input file, as for copies
            return .init(kind: kind, strings: [.init(.fileName, argument: 1), .init(.fileName, argument: 0)],
                         arguments: [A("out_fd", .fd(nameSlot: 1), register: 0),
                                     A("in_fd", .fd(nameSlot: 0), register: 1),
                                     A("offset", .offset(.input), register: 2),
                                     A("count", .length, register: 3),
                                     A("file_in", .file(.input, nameSlot: 0), register: 1, text: false),
                                     A("file_out", .file(.output, nameSlot: 1), register: 0, text: false)])
        }
    }

    /// open_tree, fspick, mount_setattr, unlinkat: (dfd, path, flags, `more`...).
    /// One description made from whole arrays: each `init` makes tables that
    /// are never freed, so one must not be made and copied into another.
    private static func pathCall(_ kind: SyscallKind, flags: FlagTable, more: [Argument] = []) -> SyscallDescription {
        .init(kind: kind, strings: [.init(.userString, argument: 1)],
              arguments: [Argument("dfd", .dirfd, register: 0),
                          Argument("path", .string(slot: 0), register: 1),
                          Argument("flags", .flags(flags), register: 2)] + more)
    }
}

extension SyscallDescription.StringSlot {
    /// The slot as storetrace_abi.h encodes it (`ST_SLOT(source, arg)`).
    public var abiValue: UInt8 {
        let source: st_slot_source
        switch self.source {
        case .userString: source = ST_SLOT_USER_STR
        case .fsconfigValue: source = ST_SLOT_FSCONFIG_VALUE
        case .fileName: source = ST_SLOT_FD_NAME
        }
        return UInt8(source.rawValue) | UInt8(argument)
    }
}

extension SyscallRecord {
    /// The `loff_t` value a copy's offset pointer held on entry.
    @inlinable @inline(__always)
    public func offsetAtEntry(_ which: SyscallDescription.OffsetAtEntry) -> Int64 {
        which == .input ? offsetInAtEntry : offsetOutAtEntry
    }

    /// One of a copy's files.
    @inlinable @inline(__always)
    public func file(_ which: SyscallDescription.CopyFile) -> FileRef {
        which == .input ? fileIn : fileOut
    }
}
