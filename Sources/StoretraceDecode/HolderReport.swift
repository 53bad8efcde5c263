// The answer to "device or resource busy": everything on the node that kept
// a mount or a block device busy at one moment, and how, in every mount
// namespace. StoretraceKernel fills it (`HolderScan`); renderers print it;
// a capture stores its JSON (HolderReportJSON.swift) so replay prints the
// same lines. Pure values only.

public struct HolderReport: Equatable, Sendable {
    /// The value of the "format" key of the stored JSON.
    public static let format = "storetrace-holders"
    /// Bumped only for changes an older reader would misread.
    public static let version = 1

    public var target: Target
    /// When the scan started, CLOCK_MONOTONIC (the clock events use).
    public var scannedAtMonotonicNanoseconds: Int64
    /// How long the scan took.
    public var durationNanoseconds: Int64
    /// Sorted: processes by pid, then mounts and devices (see `Holder.order`).
    public var holders: [Holder]
    /// Every mount namespace a holder is in, with what stands for it.
    public var namespaces: [Namespace]
    public var counts: Counts
    /// The time budget ran out before every process was looked at: a
    /// holder may be missing.
    public var budgetExhausted: Bool
    /// The mount point was no longer a mount when the scan ran: unmounted
    /// between the failed call and the scan (whatever held it let go, and a
    /// retry or another process unmounted it). Nothing was scanned.
    public var targetGone: Bool

    public init(target: Target, scannedAtMonotonicNanoseconds: Int64, durationNanoseconds: Int64 = 0,
                holders: [Holder] = [], namespaces: [Namespace] = [], counts: Counts = Counts(),
                budgetExhausted: Bool = false, targetGone: Bool = false) {
        self.target = target
        self.scannedAtMonotonicNanoseconds = scannedAtMonotonicNanoseconds
        self.durationNanoseconds = durationNanoseconds
        self.holders = holders
        self.namespaces = namespaces
        self.counts = counts
        self.budgetExhausted = budgetExhausted
        self.targetGone = targetGone
    }

    /// The report for a mount point gone by the time of its scan.
    public static func gone(mountPoint: String, mountNamespace: UInt64, scannedAtMonotonicNanoseconds: Int64) -> HolderReport {
        HolderReport(target: Target(given: mountPoint, kind: .path, mountNamespace: mountNamespace, major: 0, minor: 0),
                     scannedAtMonotonicNanoseconds: scannedAtMonotonicNanoseconds, targetGone: true)
    }

    public var isHeld: Bool { !holders.isEmpty }

    public func namespace(inode: UInt64) -> Namespace? {
        namespaces.first { $0.inode == inode }
    }

    /// What was asked about and what it resolved to.
    public struct Target: Equatable, Sendable {
        public enum Kind: String, Equatable, Sendable {
            /// A path (a mount point or a file on a mount): the mount it is on.
            case path
            /// A block device, `/dev/X` or `MAJ:MIN`.
            case device
        }

        /// The argument as given ("/var/lib/kubelet/.../globalmount", "7:0").
        public var given: String
        public var kind: Kind
        /// The mount the path is on (mountinfo's first field); nil for a device.
        public var mountID: Int?
        /// The namespace the path was resolved in.
        public var mountNamespace: UInt64?
        /// The mount point of that mount, as that namespace sees it.
        public var mountPoint: String?
        /// The directory of the filesystem the mount shows (mountinfo's root).
        public var root: String?
        public var fstype: String?
        public var source: String?
        /// The mount's peer group (`shared:N`).
        public var peerGroup: Int?
        /// The device: a path's superblock device, or the block device.
        public var major: UInt32
        public var minor: UInt32
        /// Kernel name of a block device ("loop0", "vda1").
        public var deviceName: String?
        /// For a disk: its partitions, whose holders are the disk's too.
        public var partitions: [String]

        public init(given: String, kind: Kind, mountID: Int? = nil, mountNamespace: UInt64? = nil,
                    mountPoint: String? = nil, root: String? = nil, fstype: String? = nil, source: String? = nil,
                    peerGroup: Int? = nil, major: UInt32, minor: UInt32, deviceName: String? = nil,
                    partitions: [String] = []) {
            self.given = given
            self.kind = kind
            self.mountID = mountID
            self.mountNamespace = mountNamespace
            self.mountPoint = mountPoint
            self.root = root
            self.fstype = fstype
            self.source = source
            self.peerGroup = peerGroup
            self.major = major
            self.minor = minor
            self.deviceName = deviceName
            self.partitions = partitions
        }
    }

    /// One thing that holds the target.
    public struct Holder: Equatable, Sendable {
        public enum How: String, Equatable, Sendable, CaseIterable {
            case cwd, root, fd, map, exe
            /// A copy of the mount (or, for a device, a mount of it) in a
            /// mount namespace; `path` is its mount point there.
            case mount
            /// A mount below the target or one of its copies (or on top of it).
            case submount
            /// A mount namespace with no process, kept alive by an nsfs bind
            /// mount (`lsns --persistent`); `path` is that bind mount.
            case nsPinned = "ns-pinned"
            /// A process with the block device open (`fd`, `openFlags`).
            case open
            /// A process that claimed the block device exclusively (an O_EXCL
            /// open, fsck, a mount), traced at `claimedAtMonotonicNanoseconds`
            /// (`ClaimTracer`): the one holder /proc cannot show.
            case claim
            /// A device stacked on the block device (its sysfs `holders/`: dm, md).
            case stacked
            /// A loop device whose backing file lies on the target.
            case loopBacking = "loop-backing"
            /// Swap on the device, or a swap file on the mount.
            case swap
        }

        /// How the mount the holder is on relates to the target.
        public enum Via: Equatable, Sendable {
            /// The target mount itself (or, for a device, one of its mounts).
            case target
            /// A copy in the target's peer group (`shared:N`): umount of the
            /// target propagates to it, and fails if it is busy.
            case peer(group: Int)
            /// A copy that receives the target's propagation (`master:N`).
            case slave(group: Int)
            /// A copy with the same device and root but no propagation link.
            case sameRoot
            /// The same filesystem mounted from another directory (`root`).
            case sameDevice(root: String)
            /// A mount below the target or a copy of it (mount id of the
            /// mount it is under). `onTop`: mounted over that mount's root.
            case below(mountID: Int, onTop: Bool)
            /// Not through a mount: an open device, a sysfs link, swap.
            case device
        }

        public var how: How
        public var via: Via
        public var pid: Int32?
        public var comm: String?
        /// The mount namespace the holder is in (for `mount`, `submount` and
        /// `ns-pinned`: the namespace the mount is in).
        public var mountNamespace: UInt64?
        /// The path as the holder sees it: a file, a mount point, a backing file.
        public var path: String?
        /// The mount the holder is on (or is).
        public var mountID: Int?
        public var fd: Int32?
        /// `flags:` of /proc/PID/fdinfo/N (open(2) flags; O_EXCL never shows).
        public var openFlags: UInt32?
        /// For `stacked`, `loop-backing`: the device ("dm-0", "loop3").
        public var device: String?
        /// For `claim`: when the claim was traced, CLOCK_MONOTONIC.
        public var claimedAtMonotonicNanoseconds: Int64?

        public init(how: How, via: Via, pid: Int32? = nil, comm: String? = nil, mountNamespace: UInt64? = nil,
                    path: String? = nil, mountID: Int? = nil, fd: Int32? = nil, openFlags: UInt32? = nil,
                    device: String? = nil, claimedAtMonotonicNanoseconds: Int64? = nil) {
            self.how = how
            self.via = via
            self.pid = pid
            self.comm = comm
            self.mountNamespace = mountNamespace
            self.path = path
            self.mountID = mountID
            self.fd = fd
            self.openFlags = openFlags
            self.device = device
            self.claimedAtMonotonicNanoseconds = claimedAtMonotonicNanoseconds
        }

        /// Processes first by pid, then namespaces' mounts, then devices: a
        /// stable order so two scans of the same state print the same lines.
        public static func order(_ a: Holder, _ b: Holder) -> Bool {
            func key(_ h: Holder) -> (Int32, Int, UInt64, Int32, String, String) {
                let howIndex = How.allCases.firstIndex(of: h.how) ?? 0
                return (h.pid ?? .max, howIndex, h.mountNamespace ?? 0, h.fd ?? -1, h.path ?? "", h.device ?? "")
            }
            return key(a) < key(b)
        }
    }

    /// A mount namespace and what stands for it: `host` for the initial
    /// one, else its lowest pid that is not a kernel thread.
    public struct Namespace: Equatable, Sendable {
        public var inode: UInt64
        public var isHost: Bool
        public var pid: Int32?
        public var comm: String?
        public var processCount: Int
        /// Where a namespace without processes is pinned (an nsfs bind mount).
        public var pinnedAt: String?

        public init(inode: UInt64, isHost: Bool, pid: Int32? = nil, comm: String? = nil, processCount: Int = 0,
                    pinnedAt: String? = nil) {
            self.inode = inode
            self.isHost = isHost
            self.pid = pid
            self.comm = comm
            self.processCount = processCount
            self.pinnedAt = pinnedAt
        }
    }

    /// What the scan looked at and what it had to skip.
    public struct Counts: Equatable, Sendable {
        public var processes: Int
        public var mountNamespaces: Int
        public var mounts: Int
        /// Processes that exited between the listing of /proc and their reads.
        public var processesExited: Int
        /// Entries that could not be read (permission, a vanished fd).
        public var entriesUnreadable: Int
        /// Processes past the cap, not looked at.
        public var processesOverLimit: Int
        /// Mount namespaces whose mount table could not be read.
        public var namespacesUnreadable: Int
        /// Holders past the cap, counted and not listed.
        public var holdersOverLimit: Int

        public init(processes: Int = 0, mountNamespaces: Int = 0, mounts: Int = 0, processesExited: Int = 0,
                    entriesUnreadable: Int = 0, processesOverLimit: Int = 0, namespacesUnreadable: Int = 0,
                    holdersOverLimit: Int = 0) {
            self.processes = processes
            self.mountNamespaces = mountNamespaces
            self.mounts = mounts
            self.processesExited = processesExited
            self.entriesUnreadable = entriesUnreadable
            self.processesOverLimit = processesOverLimit
            self.namespacesUnreadable = namespacesUnreadable
            self.holdersOverLimit = holdersOverLimit
        }
    }
}

/// The inode number the kernel gives the initial mount namespace on recent
/// kernels (PROC_MNT_INIT_INO, 6.x). Older kernels number it dynamically;
/// the scan then takes kthreadd's (pid 2). Not any kernel thread's:
/// kdevtmpfs runs in a mount namespace of its own.
public let initialMountNamespaceInode: UInt64 = 4026531832
