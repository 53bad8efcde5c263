import CStoretraceABI

/// Which traced call a record describes (`enum st_kind` in storetrace_abi.h).
public enum SyscallKind: UInt16, CaseIterable, Sendable {
    case mount = 1
    case umount = 2
    case fsopen = 3
    case fsconfig = 4
    case fsmount = 5
    case moveMount = 6
    case openTree = 7
    case mountSetattr = 8
    case fspick = 9
    case copyFileRange = 10
    case splice = 11
    case sendfile = 12
    /// rmdir(2) and unlinkat(2) with AT_REMOVEDIR, traced for EBUSY only.
    case rmdir = 13
    case unlinkat = 14

    /// The event `type` of the JSON contract, also the name shown and used by `--type`.
    public var name: StaticString {
        switch self {
        case .mount: "mount"
        case .umount: "umount"
        case .fsopen: "fsopen"
        case .fsconfig: "fsconfig"
        case .fsmount: "fsmount"
        case .moveMount: "move_mount"
        case .openTree: "open_tree"
        case .mountSetattr: "mount_setattr"
        case .fspick: "fspick"
        case .copyFileRange: "copy_file_range"
        case .splice: "splice"
        case .sendfile: "sendfile"
        case .rmdir: "rmdir"
        case .unlinkat: "unlinkat"
        }
    }

    /// The syscall as strace writes it (umount2 is traced by the kernel as "umount").
    public var callName: StaticString {
        switch self {
        case .umount: "umount2"
        default: name
        }
    }

    /// The tracepoint suffix: syscalls:sys_enter_<tracepoint>.
    public var tracepoint: String {
        switch self {
        case .umount: "umount"
        case .sendfile: "sendfile64"
        default: name.description
        }
    }

    /// True for the calls that move file data (their result is a byte count).
    public var movesData: Bool {
        self == .copyFileRange || self == .splice || self == .sendfile
    }

    /// The calls a mount operation is made of (`mount_op`).
    public var isMountFamily: Bool {
        switch self {
        case .mount, .umount, .fsopen, .fsconfig, .fsmount, .moveMount, .openTree, .mountSetattr, .fspick: true
        case .copyFileRange, .splice, .sendfile, .rmdir, .unlinkat: false
        }
    }

    /// True for the calls the BPF program reports only when they fail with
    /// EBUSY (directory removals): their successes never reach user space.
    public var tracedForEBUSYOnly: Bool {
        self == .rmdir || self == .unlinkat
    }

    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.name.description == name || $0.callName.description == name })
        else { return nil }
        self = kind
    }

    static let abiMax = Int(ST_KIND_MAX.rawValue)
}
