import StoretraceDecode

/// One mount operation as a person wrote it: the calls of the new mount API
/// that belong together (followed through the file descriptors they hand
/// on), or one classic mount(2) / umount2(2), with what it did, what it
/// took and how it ended. `MountOperationTracker` assembles them; the
/// renderers say it in mount(8)'s words.
///
/// Every string is a copy: records are views into ring memory.
public struct MountOperation: Equatable, Sendable {
    /// What the operation did (or was about to do).
    public enum Action: Equatable, Sendable {
        /// A new filesystem: fsopen … FSCONFIG_CMD_CREATE … fsmount …
        /// move_mount, or mount(2) without MS_BIND, MS_MOVE, MS_REMOUNT or
        /// a propagation flag.
        case newMount
        /// open_tree(OPEN_TREE_CLONE [| AT_RECURSIVE]) + move_mount, or
        /// mount(2) with MS_BIND [| MS_REC].
        case bind(recursive: Bool)
        /// An attached mount moved elsewhere: open_tree without
        /// OPEN_TREE_CLONE + move_mount, a path-to-path move_mount, or
        /// mount(2) with MS_MOVE.
        case move
        /// The superblock reconfigured: fspick … FSCONFIG_CMD_RECONFIGURE,
        /// or mount(2) with MS_REMOUNT.
        case remount
        /// Per-mount flags changed on an attached mount: mount_setattr with
        /// attr_set / attr_clr, or mount(2) with MS_REMOUNT | MS_BIND.
        case mountFlags
        /// Propagation changed: mount_setattr with only `propagation`,
        /// mount(2) with MS_SHARED / MS_PRIVATE / MS_SLAVE / MS_UNBINDABLE,
        /// or move_mount(MOVE_MOUNT_SET_GROUP) (`source` is the peer).
        case propagation
        /// umount2(2).
        case unmount
        /// Calls on a descriptor whose origin was not seen (opened before
        /// tracing started, or forgotten at a limit) that never showed what
        /// they were for.
        case unknown
    }

    /// A filesystem parameter from fsconfig(2), or one item of mount(2)'s
    /// comma-separated data.
    public struct Option: Equatable, Sendable {
        public enum Value: Equatable, Sendable {
            /// FSCONFIG_SET_FLAG, or a data item without `=`.
            case flag
            /// FSCONFIG_SET_STRING, SET_PATH, SET_PATH_EMPTY, or `key=value` data.
            case string([UInt8])
            /// FSCONFIG_SET_BINARY: the blob's size (`aux`); the bytes are not traced.
            case binary(size: Int32)
            /// FSCONFIG_SET_FD: the descriptor (`aux`).
            case descriptor(Int32)
        }
        public var key: [UInt8]
        public var value: Value

        public init(key: [UInt8], value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// A place as a call named it: a path, resolved against the directory
    /// descriptor where that descriptor was followed, or relative to a
    /// descriptor the tracker does not know.
    public struct Location: Equatable, Sendable {
        public var path: [UInt8]
        /// The directory descriptor `path` is relative to, when it could not
        /// be resolved; nil when `path` is absolute, relative to the working
        /// directory (AT_FDCWD), or resolved.
        public var unresolvedDescriptor: Int32?

        public init(path: [UInt8], unresolvedDescriptor: Int32? = nil) {
            self.path = path
            self.unresolvedDescriptor = unresolvedDescriptor
        }
    }

    /// Calls of one kind that came one after another.
    public struct CallRun: Equatable, Sendable {
        public var kind: SyscallKind
        public var count: Int

        public init(kind: SyscallKind, count: Int) {
            self.kind = kind
            self.count = count
        }
    }

    /// The call that failed: its whole record, copied, so that it can be
    /// shown with every argument exactly as the per-call line shows it.
    public struct FailedCall: Equatable, Sendable {
        public var kind: SyscallKind
        public var errno: Int32
        /// The record's bytes (`SyscallRecord(validating:)` accepts them).
        public var record: [UInt8]

        public init(kind: SyscallKind, errno: Int32, record: [UInt8]) {
            self.kind = kind
            self.errno = errno
            self.record = record
        }
    }

    /// How far an operation that never finished had come.
    public enum Stage: Equatable, Sendable {
        /// fsopen without FSCONFIG_CMD_CREATE.
        case notCreated
        /// FSCONFIG_CMD_CREATE without fsmount.
        case notMounted
        /// fsmount or open_tree(OPEN_TREE_CLONE) without move_mount: a
        /// detached mount never attached.
        case notAttached
        /// fspick without FSCONFIG_CMD_RECONFIGURE.
        case notReconfigured
        /// open_tree without OPEN_TREE_CLONE, then nothing done with it.
        case nothingDone
    }

    /// Why an unfinished operation was reported.
    public enum EndReason: Equatable, Sendable {
        /// `MountOperationTracker.processExited(pid:at:)`.
        case processExited
        /// `MountOperationTracker.finish(at:)`.
        case tracingStopped
        /// A later call of the process returned this descriptor number: the
        /// operation's descriptor had been closed (close(2) is not traced).
        case descriptorReused(Int32)
        /// A limit of `MountOperationLimits` was reached and this was the
        /// oldest state; counted in `MountOperationCounters`.
        case evicted
    }

    public enum Outcome: Equatable, Sendable {
        case succeeded
        case failed(FailedCall)
        case incomplete(Stage, EndReason)
    }

    /// Thread group id.
    public var pid: UInt32
    /// Every thread that made one of the calls, in order of first call (at
    /// most `MountOperationLimits.threadsPerOperation`).
    public var tids: [UInt32]
    /// The comm of the first call.
    public var comm: [UInt8]
    /// Mount namespace inode of the first call.
    public var mountNamespace: UInt32
    /// CLOCK_MONOTONIC ns at entry of the first call.
    public var start: UInt64
    /// CLOCK_MONOTONIC ns at exit of the last call.
    public var end: UInt64
    /// Sum of the calls' latencies.
    public var latency: UInt64
    /// The calls in order, runs of one kind together (at most
    /// `MountOperationLimits.callRunsPerOperation` runs).
    public var calls: [CallRun]
    /// Calls not listed in `calls` because the run limit was reached.
    public var callsNotListed: Int

    public var action: Action
    /// fsopen's fs_name or mount(2)'s filesystemtype.
    public var fstype: [UInt8]?
    /// fsconfig's `source`, mount(2)'s source, open_tree's path, move_mount's from.
    public var source: Location?
    /// Where it was attached, or the mount it changed.
    public var target: Location?
    /// fsconfig parameters in call order (`source` apart), or mount(2)'s data items.
    public var options: [Option]
    /// Options not kept because of `MountOperationLimits` (counted too).
    public var optionsDropped: Int
    /// mount(2)'s mountflags (`FlagTables.mount`); 0 for the new API.
    public var mountFlags: UInt64
    /// umount2(2)'s flags (`FlagTables.umount`).
    public var unmountFlags: UInt64
    /// MOUNT_ATTR_* set: fsmount's attr_flags and every mount_setattr's attr_set.
    public var attrSet: UInt64
    /// MOUNT_ATTR_* cleared by mount_setattr.
    public var attrClear: UInt64
    /// The last propagation type mount_setattr set (`FlagTables.propagation`).
    public var propagation: UInt64
    /// AT_RECURSIVE on mount_setattr, MS_REC on mount(2).
    public var recursive: Bool

    public var outcome: Outcome

    public init(pid: UInt32, tids: [UInt32], comm: [UInt8], mountNamespace: UInt32, start: UInt64, end: UInt64,
                latency: UInt64, calls: [CallRun], callsNotListed: Int = 0, action: Action, fstype: [UInt8]? = nil,
                source: Location? = nil, target: Location? = nil, options: [Option] = [], optionsDropped: Int = 0,
                mountFlags: UInt64 = 0, unmountFlags: UInt64 = 0, attrSet: UInt64 = 0, attrClear: UInt64 = 0,
                propagation: UInt64 = 0, recursive: Bool = false, outcome: Outcome) {
        self.pid = pid
        self.tids = tids
        self.comm = comm
        self.mountNamespace = mountNamespace
        self.start = start
        self.end = end
        self.latency = latency
        self.calls = calls
        self.callsNotListed = callsNotListed
        self.action = action
        self.fstype = fstype
        self.source = source
        self.target = target
        self.options = options
        self.optionsDropped = optionsDropped
        self.mountFlags = mountFlags
        self.unmountFlags = unmountFlags
        self.attrSet = attrSet
        self.attrClear = attrClear
        self.propagation = propagation
        self.recursive = recursive
        self.outcome = outcome
    }
}

/// The bounds on the tracker's state. Reaching one reports the oldest
/// state early (as incomplete, `EndReason.evicted`) or drops detail, and
/// counts it in `MountOperationCounters`: nothing is lost silently.
public enum MountOperationLimits {
    /// Processes with unfinished operations or remembered descriptors.
    public static let processes = 1024
    /// Unfinished operations of one process.
    public static let operationsPerProcess = 16
    /// Unfinished operations of all processes together.
    public static let operations = 4096
    /// Descriptors of finished operations a process still remembers (so a
    /// later mount_setattr or fspick on one can name its mount).
    public static let rememberedDescriptorsPerProcess = 16
    /// fsconfig parameters kept per operation.
    public static let optionsPerOperation = 64
    /// Bytes of parameter keys and values kept per operation.
    public static let optionBytesPerOperation = 16 * 1024
    /// Threads listed per operation.
    public static let threadsPerOperation = 8
    /// Runs of calls listed per operation.
    public static let callRunsPerOperation = 32
}

/// What the limits cost, for the session's summary.
public struct MountOperationCounters: Equatable, Sendable {
    /// Operations reported.
    public var reported: UInt64 = 0
    /// Unfinished operations reported early because a process had
    /// `operationsPerProcess` of them or all had `operations`.
    public var operationsEvicted: UInt64 = 0
    /// Processes with unfinished operations dropped because `processes`
    /// were tracked (those operations are reported, evicted). A dropped
    /// process that held only remembered descriptors counts them in
    /// `descriptorsForgotten` instead.
    public var processesEvicted: UInt64 = 0
    /// fsconfig parameters not kept (`optionsPerOperation`, `optionBytesPerOperation`).
    public var optionsDropped: UInt64 = 0
    /// Remembered descriptors forgotten (`rememberedDescriptorsPerProcess`).
    public var descriptorsForgotten: UInt64 = 0
    /// Threads not listed (`threadsPerOperation`).
    public var threadsNotListed: UInt64 = 0
    /// Calls not listed (`callRunsPerOperation`).
    public var callsNotListed: UInt64 = 0

    public init() {}

    /// Everything a limit cost, in one number to show.
    public var overflows: UInt64 {
        operationsEvicted + processesEvicted + optionsDropped + descriptorsForgotten + threadsNotListed + callsNotListed
    }
}
