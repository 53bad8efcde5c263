/// Flag tables with the kernel's own names, values from the UAPI headers
/// (include/uapi/linux/mount.h, fcntl.h, fs.h and glibc's <sys/mount.h>).
/// `FlagTableTests` checks every value against the installed headers.
///
/// Each syscall gets its own table: MS_BIND (0x1000) and MS_MOVE (0x2000) are
/// mount(2) flags, while umount2's MNT_DETACH (2) is not MS_NOSUID. Mixing the
/// tables is the classic bug of tracers that print every flag word as MS_*.
/// Sendable: its entries are immutable and never freed.
public struct FlagTable: @unchecked Sendable {
    public struct Entry: Sendable {
        /// Bits that must be set (may be 0 for a field value such as MOUNT_ATTR_RELATIME).
        public let value: UInt64
        /// Bits this entry owns; value is compared under this mask.
        public let mask: UInt64
        public let name: StaticString

        public init(_ value: UInt64, _ name: StaticString) {
            self.value = value
            self.mask = value
            self.name = name
        }

        /// A multi-bit field whose value is an enumeration (MOUNT_ATTR__ATIME).
        public init(_ value: UInt64, mask: UInt64, _ name: StaticString) {
            self.value = value
            self.mask = mask
            self.name = name
        }
    }

    /// In a `permanentTable`: a table is built once and copied into every
    /// argument description, so copying it must not touch a reference count.
    public let entries: UnsafeBufferPointer<Entry>
    /// Bits to drop before decoding (mount's MS_MGC_VAL magic, see `mount`).
    let dropMagic: (mask: UInt64, value: UInt64)?

    /// For the static tables below (and tests): the entries are kept for the
    /// life of the process.
    public init(_ entries: [Entry], dropMagic: (mask: UInt64, value: UInt64)? = nil) {
        self.entries = permanentTable(entries)
        self.dropMagic = dropMagic
    }

    /// One decoded piece of a flag word.
    public enum Name: Equatable, Sendable {
        case known(StaticString)
        /// Bits no entry names, all together.
        case unknown(UInt64)

        public static func == (lhs: Name, rhs: Name) -> Bool {
            switch (lhs, rhs) {
            case let (.known(a), .known(b)): a.description == b.description
            case let (.unknown(a), .unknown(b)): a == b
            default: false
            }
        }
    }

    /// Calls `body` for each name set in `flags`, in table order, then once
    /// with the unknown bits if any remain. Allocates nothing.
    public func forEach(_ flags: UInt64, _ body: (Name) -> Void) {
        var rest = flags
        if let magic = dropMagic, rest & magic.mask == magic.value {
            rest &= ~magic.mask
        }
        for entry in entries where entry.mask != 0 {
            if rest & entry.mask == entry.value {
                if entry.value != 0 { body(.known(entry.name)) }
                rest &= ~entry.mask
            }
        }
        if rest != 0 { body(.unknown(rest)) }
    }

    /// The names as strings; for tests and summaries, not the hot path.
    public func names(_ flags: UInt64) -> [String] {
        var result: [String] = []
        forEach(flags) { name in
            switch name {
            case .known(let text): result.append(text.description)
            case .unknown(let bits): result.append("0x" + String(bits, radix: 16))
            }
        }
        return result
    }
}

public enum FlagTables {
    /// mount(2) `mountflags`. If the top 16 bits hold the historic magic
    /// MS_MGC_VAL (0xC0ED0000), the kernel discards them; so do we.
    public static let mount = FlagTable([
        .init(0x1, "MS_RDONLY"),
        .init(0x2, "MS_NOSUID"),
        .init(0x4, "MS_NODEV"),
        .init(0x8, "MS_NOEXEC"),
        .init(0x10, "MS_SYNCHRONOUS"),
        .init(0x20, "MS_REMOUNT"),
        .init(0x40, "MS_MANDLOCK"),
        .init(0x80, "MS_DIRSYNC"),
        .init(0x100, "MS_NOSYMFOLLOW"),
        .init(0x400, "MS_NOATIME"),
        .init(0x800, "MS_NODIRATIME"),
        .init(0x1000, "MS_BIND"),
        .init(0x2000, "MS_MOVE"),
        .init(0x4000, "MS_REC"),
        .init(0x8000, "MS_SILENT"),
        .init(0x10000, "MS_POSIXACL"),
        .init(0x20000, "MS_UNBINDABLE"),
        .init(0x40000, "MS_PRIVATE"),
        .init(0x80000, "MS_SLAVE"),
        .init(0x100000, "MS_SHARED"),
        .init(0x200000, "MS_RELATIME"),
        .init(0x400000, "MS_KERNMOUNT"),
        .init(0x800000, "MS_I_VERSION"),
        .init(0x1000000, "MS_STRICTATIME"),
        .init(0x2000000, "MS_LAZYTIME"),
        .init(0x4000000, "MS_SUBMOUNT"),
        .init(0x8000000, "MS_NOREMOTELOCK"),
        .init(0x10000000, "MS_NOSEC"),
        .init(0x20000000, "MS_BORN"),
        .init(0x40000000, "MS_ACTIVE"),
        .init(0x80000000, "MS_NOUSER"),
    ], dropMagic: (mask: 0xffff_0000, value: 0xC0ED_0000))

    /// umount2(2) flags (glibc <sys/mount.h>).
    public static let umount = FlagTable([
        .init(0x1, "MNT_FORCE"),
        .init(0x2, "MNT_DETACH"),
        .init(0x4, "MNT_EXPIRE"),
        .init(0x8, "UMOUNT_NOFOLLOW"),
        .init(0x8000_0000, "UMOUNT_UNUSED"),
    ])

    public static let fsopen = FlagTable([.init(0x1, "FSOPEN_CLOEXEC")])

    public static let fsmount = FlagTable([.init(0x1, "FSMOUNT_CLOEXEC")])

    /// MOUNT_ATTR_* as fsmount(2) attr_flags and mount_setattr(2) attr_set/attr_clr.
    /// MOUNT_ATTR__ATIME (0x70) is a 3-bit field, not three flags.
    public static let mountAttr = FlagTable([
        .init(0x1, "MOUNT_ATTR_RDONLY"),
        .init(0x2, "MOUNT_ATTR_NOSUID"),
        .init(0x4, "MOUNT_ATTR_NODEV"),
        .init(0x8, "MOUNT_ATTR_NOEXEC"),
        .init(0x00, mask: 0x70, "MOUNT_ATTR_RELATIME"),
        .init(0x10, mask: 0x70, "MOUNT_ATTR_NOATIME"),
        .init(0x20, mask: 0x70, "MOUNT_ATTR_STRICTATIME"),
        .init(0x80, "MOUNT_ATTR_NODIRATIME"),
        .init(0x100000, "MOUNT_ATTR_IDMAP"),
        .init(0x200000, "MOUNT_ATTR_NOSYMFOLLOW"),
    ])

    /// mount_setattr(2) attr_clr: clearing the atime field is written as MOUNT_ATTR__ATIME.
    public static let mountAttrClear = FlagTable([
        .init(0x1, "MOUNT_ATTR_RDONLY"),
        .init(0x2, "MOUNT_ATTR_NOSUID"),
        .init(0x4, "MOUNT_ATTR_NODEV"),
        .init(0x8, "MOUNT_ATTR_NOEXEC"),
        .init(0x70, "MOUNT_ATTR__ATIME"),
        .init(0x80, "MOUNT_ATTR_NODIRATIME"),
        .init(0x100000, "MOUNT_ATTR_IDMAP"),
        .init(0x200000, "MOUNT_ATTR_NOSYMFOLLOW"),
    ])

    /// mount_setattr(2) `propagation`: one of the MS_* propagation types.
    public static let propagation = FlagTable([
        .init(0x20000, "MS_UNBINDABLE"),
        .init(0x40000, "MS_PRIVATE"),
        .init(0x80000, "MS_SLAVE"),
        .init(0x100000, "MS_SHARED"),
    ])

    public static let moveMount = FlagTable([
        .init(0x1, "MOVE_MOUNT_F_SYMLINKS"),
        .init(0x2, "MOVE_MOUNT_F_AUTOMOUNTS"),
        .init(0x4, "MOVE_MOUNT_F_EMPTY_PATH"),
        .init(0x10, "MOVE_MOUNT_T_SYMLINKS"),
        .init(0x20, "MOVE_MOUNT_T_AUTOMOUNTS"),
        .init(0x40, "MOVE_MOUNT_T_EMPTY_PATH"),
        .init(0x100, "MOVE_MOUNT_SET_GROUP"),
        .init(0x200, "MOVE_MOUNT_BENEATH"),
    ])

    /// open_tree(2): OPEN_TREE_* plus the AT_* path flags it accepts.
    public static let openTree = FlagTable([
        .init(0x1, "OPEN_TREE_CLONE"),
        .init(0x80000, "OPEN_TREE_CLOEXEC"),
        .init(0x100, "AT_SYMLINK_NOFOLLOW"),
        .init(0x800, "AT_NO_AUTOMOUNT"),
        .init(0x1000, "AT_EMPTY_PATH"),
        .init(0x8000, "AT_RECURSIVE"),
    ])

    /// mount_setattr(2) `flags`: AT_* path flags.
    /// unlinkat(2)'s flags.
    public static let unlinkat = FlagTable([
        .init(0x200, "AT_REMOVEDIR"),
    ])

    public static let atFlags = FlagTable([
        .init(0x100, "AT_SYMLINK_NOFOLLOW"),
        .init(0x800, "AT_NO_AUTOMOUNT"),
        .init(0x1000, "AT_EMPTY_PATH"),
        .init(0x8000, "AT_RECURSIVE"),
    ])

    public static let fspick = FlagTable([
        .init(0x1, "FSPICK_CLOEXEC"),
        .init(0x2, "FSPICK_SYMLINK_NOFOLLOW"),
        .init(0x4, "FSPICK_NO_AUTOMOUNT"),
        .init(0x8, "FSPICK_EMPTY_PATH"),
    ])

    public static let splice = FlagTable([
        .init(0x1, "SPLICE_F_MOVE"),
        .init(0x2, "SPLICE_F_NONBLOCK"),
        .init(0x4, "SPLICE_F_MORE"),
        .init(0x8, "SPLICE_F_GIFT"),
    ])

    /// open(2) flags as /proc/PID/fdinfo shows them (`flags:`), without the
    /// access mode (see `openAccessMode`). x86-64/generic values; the kernel
    /// strips O_EXCL and O_CREAT after open, so they never show there.
    public static let open = FlagTable([
        .init(0o4010000, mask: 0o4010000, "O_SYNC"),
        .init(0o10000, "O_DSYNC"),
        .init(0o100, "O_CREAT"),
        .init(0o200, "O_EXCL"),
        .init(0o400, "O_NOCTTY"),
        .init(0o1000, "O_TRUNC"),
        .init(0o2000, "O_APPEND"),
        .init(0o4000, "O_NONBLOCK"),
        .init(0o40000, "O_DIRECT"),
        .init(0o100000, "O_LARGEFILE"),
        .init(0o200000, "O_DIRECTORY"),
        .init(0o400000, "O_NOFOLLOW"),
        .init(0o1000000, "O_NOATIME"),
        .init(0o2000000, "O_CLOEXEC"),
        .init(0o10000000, "O_PATH"),
    ])

    /// The access mode of open(2) flags: a two-bit value, not bits.
    public static func openAccessMode(_ flags: UInt64) -> StaticString {
        switch flags & 3 {
        case 0: "O_RDONLY"
        case 1: "O_WRONLY"
        case 2: "O_RDWR"
        default: "O_ACCMODE"
        }
    }

    /// Every name of open(2) flags, the access mode first: ["O_RDONLY", "O_LARGEFILE"].
    public static func openFlagNames(_ flags: UInt64) -> [String] {
        [openAccessMode(flags).description] + open.names(flags & ~3)
    }

    /// copy_file_range(2) defines no flags yet: every set bit is unknown.
    public static let copyFileRange = FlagTable([])

    /// fsconfig(2) `cmd`: a value, not a bit set.
    public static func fsconfigCommand(_ cmd: UInt64) -> StaticString? {
        switch cmd {
        case 0: "FSCONFIG_SET_FLAG"
        case 1: "FSCONFIG_SET_STRING"
        case 2: "FSCONFIG_SET_BINARY"
        case 3: "FSCONFIG_SET_PATH"
        case 4: "FSCONFIG_SET_PATH_EMPTY"
        case 5: "FSCONFIG_SET_FD"
        case 6: "FSCONFIG_CMD_CREATE"
        case 7: "FSCONFIG_CMD_RECONFIGURE"
        case 8: "FSCONFIG_CMD_CREATE_EXCL"
        default: nil
        }
    }

    /// The special directory fd of the *at() calls.
    public static let atFDCWD: Int32 = -100
}
