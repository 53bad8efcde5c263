// The node snapshot: what storetrace records about a node at the start (and
// end) of a capture so that events read days later on another machine can be
// explained: which process a pid was, what a mount namespace held, which disk
// a major:minor was and which driver owned its PCI function.
//
// Pure values only. StoretraceKernel fills them from /proc and /sys
// (`NodeSnapshot.take`); replay decodes them from JSON without kernel code.
// Every field the kernel could refuse is optional: a snapshot is never lost
// because one file was unreadable. The JSON form is specified in
// docs/snapshot.md.

public struct NodeSnapshot: Equatable, Sendable {
    /// The value of the "format" key, so a stray JSON file is recognized.
    public static let format = "storetrace-node-snapshot"
    /// Bumped only for changes an older reader would misread. Adding keys
    /// does not bump it: readers ignore keys they do not know.
    public static let version = 2

    /// When the snapshot was started.
    public var takenAt: TakenAt
    public var clockOffsets: ClockOffsets
    /// `uname -r`.
    public var kernelRelease: String?
    /// `uname -n` (the UTS namespace storetrace runs in).
    public var hostname: String?
    /// /proc/sys/kernel/random/boot_id: tells two boots of one node apart.
    public var bootID: String?
    /// CPUs online (/sys/devices/system/cpu/online).
    public var onlineCPUs: Int?
    /// What the kernel says of the wall clock's synchronization (adjtimex);
    /// nil in snapshots from before it was recorded.
    public var clockSync: ClockSync?
    /// Kubelet's CSI volume records (`vol_data.json`) under the kubelet root;
    /// nil when none was looked for.
    public var kubeletVolumes: [KubeletVolume]?
    /// Every process (thread group), sorted by pid.
    public var processes: [ProcessEntry]
    /// Every distinct mount namespace a process was in, init's first.
    public var mountNamespaces: [MountNamespace]
    /// Disks from /sys/block, each followed by its partitions.
    public var blockDevices: [BlockDevice]
    /// PCI functions of class 0x01 (mass storage), sorted by address.
    public var pciFunctions: [PCIFunction]
    /// Every virtio device and its driver, sorted by name.
    public var virtioDevices: [VirtioDevice]
    /// What the snapshot left out and why; all zero for a complete one.
    public var omitted: Omissions

    public init(takenAt: TakenAt, clockOffsets: ClockOffsets, kernelRelease: String? = nil,
                hostname: String? = nil, bootID: String? = nil, onlineCPUs: Int? = nil,
                processes: [ProcessEntry] = [], mountNamespaces: [MountNamespace] = [],
                blockDevices: [BlockDevice] = [], pciFunctions: [PCIFunction] = [],
                virtioDevices: [VirtioDevice] = [], omitted: Omissions = Omissions()) {
        self.takenAt = takenAt
        self.clockOffsets = clockOffsets
        self.kernelRelease = kernelRelease
        self.hostname = hostname
        self.bootID = bootID
        self.onlineCPUs = onlineCPUs
        self.processes = processes
        self.mountNamespaces = mountNamespaces
        self.blockDevices = blockDevices
        self.pciFunctions = pciFunctions
        self.virtioDevices = virtioDevices
        self.omitted = omitted
    }

    public struct TakenAt: Equatable, Sendable {
        /// CLOCK_MONOTONIC, the clock events are stamped with.
        public var monotonicNanoseconds: Int64
        /// CLOCK_REALTIME: nanoseconds since the Unix epoch.
        public var realtimeNanoseconds: Int64

        public init(monotonicNanoseconds: Int64, realtimeNanoseconds: Int64) {
            self.monotonicNanoseconds = monotonicNanoseconds
            self.realtimeNanoseconds = realtimeNanoseconds
        }
    }

    /// adjtimex(2) with no change asked: whether NTP (or PTP, chrony) keeps
    /// the wall clock synchronized, and the kernel's error bounds.
    public struct ClockSync: Equatable, Sendable {
        /// False when the kernel's STA_UNSYNC is set (or its state is TIME_ERROR).
        public var synchronized: Bool
        /// The maximum error the kernel keeps for the clock, microseconds.
        public var maxErrorMicroseconds: Int64?
        /// The estimated error, microseconds.
        public var estimatedErrorMicroseconds: Int64?

        public init(synchronized: Bool, maxErrorMicroseconds: Int64? = nil, estimatedErrorMicroseconds: Int64? = nil) {
            self.synchronized = synchronized
            self.maxErrorMicroseconds = maxErrorMicroseconds
            self.estimatedErrorMicroseconds = estimatedErrorMicroseconds
        }
    }

    /// One CSI volume's `vol_data.json`, written by kubelet next to the
    /// volume's `mount` (pod publish) or `globalmount` (staging) directory:
    /// what a hashed staging path cannot say.
    public struct KubeletVolume: Equatable, Sendable {
        /// The directory holding vol_data.json (the parent of `mount` or `globalmount`).
        public var directory: String
        /// `driverName`.
        public var driver: String?
        /// `volumeHandle`: the storage system's id of the volume.
        public var volumeHandle: String?
        /// `specVolumeID`: the PV name (or the inline volume's name).
        public var specName: String?

        public init(directory: String, driver: String? = nil, volumeHandle: String? = nil, specName: String? = nil) {
            self.directory = directory
            self.driver = driver
            self.volumeHandle = volumeHandle
            self.specName = specName
        }
    }

    public struct ClockOffsets: Equatable, Sendable {
        /// CLOCK_REALTIME minus CLOCK_MONOTONIC: add to an event's monotonic
        /// timestamp for wall time.
        public var realtimeMinusMonotonic: Int64
        /// CLOCK_BOOTTIME minus CLOCK_MONOTONIC: the time the node spent
        /// suspended, for sources stamped with the boot clock.
        public var boottimeMinusMonotonic: Int64?

        public init(realtimeMinusMonotonic: Int64, boottimeMinusMonotonic: Int64? = nil) {
            self.realtimeMinusMonotonic = realtimeMinusMonotonic
            self.boottimeMinusMonotonic = boottimeMinusMonotonic
        }

        public var clockOffset: ClockOffset { ClockOffset(realtimeMinusMonotonic: realtimeMinusMonotonic) }
    }

    public struct ProcessEntry: Equatable, Sendable {
        public var pid: Int32
        public var ppid: Int32?
        /// The task name (/proc/PID/status Name, unescaped), at most 15 bytes.
        public var comm: String?
        /// Real user id.
        public var uid: UInt32?
        /// Inode of /proc/PID/ns/mnt; the `mntns` of syscall events.
        public var mountNamespace: UInt64?
        /// The cgroup v2 path (the "0::" line of /proc/PID/cgroup).
        public var cgroup: String?
        /// The cgroup v1 lines ("4:memory:/kubepods/…") as the kernel wrote
        /// them; nil on a pure cgroup v2 node.
        public var cgroupV1: [String]?
        /// A kernel thread (kthreadd and its children): never stands for a
        /// mount namespace. nil when the snapshot did not say (older ones).
        public var kernelThread: Bool?

        public init(pid: Int32, ppid: Int32? = nil, comm: String? = nil, uid: UInt32? = nil,
                    mountNamespace: UInt64? = nil, cgroup: String? = nil, cgroupV1: [String]? = nil,
                    kernelThread: Bool? = nil) {
            self.pid = pid
            self.ppid = ppid
            self.comm = comm
            self.uid = uid
            self.mountNamespace = mountNamespace
            self.cgroup = cgroup
            self.cgroupV1 = cgroupV1
            self.kernelThread = kernelThread
        }
    }

    public struct MountNamespace: Equatable, Sendable {
        /// The namespace inode (what /proc/PID/ns/mnt links to).
        public var inode: UInt64
        /// Processes in it at snapshot time.
        public var processCount: Int
        /// The process that stands for the namespace: its lowest pid that
        /// is not a kernel thread (a container's or `unshare`'s first
        /// process), else its lowest pid.
        public var ownerPID: Int32?
        public var ownerComm: String?
        /// The pid whose /proc/PID/mountinfo was read (the owner unless it
        /// could not be read). A chrooted process sees only mounts under its
        /// root, which is why the owner is tried first.
        public var mountinfoPID: Int32?
        /// The mount table in mountinfo order; nil when no process's
        /// mountinfo could be read.
        public var mounts: [Mount]?
        /// Mount lines past the per-namespace limit, not stored.
        public var mountsOverLimit: Int
        /// Mount lines that did not parse, skipped.
        public var malformedLines: Int
        /// The initial mount namespace (the fixed inode of 6.x kernels, or
        /// kthreadd's): output calls it `host`.
        public var isHost: Bool

        public init(inode: UInt64, processCount: Int, ownerPID: Int32? = nil, ownerComm: String? = nil,
                    mountinfoPID: Int32? = nil, mounts: [Mount]? = nil, mountsOverLimit: Int = 0,
                    malformedLines: Int = 0, isHost: Bool = false) {
            self.inode = inode
            self.processCount = processCount
            self.ownerPID = ownerPID
            self.ownerComm = ownerComm
            self.mountinfoPID = mountinfoPID
            self.mounts = mounts
            self.mountsOverLimit = mountsOverLimit
            self.malformedLines = malformedLines
            self.isHost = isHost
        }
    }

    /// One line of /proc/PID/mountinfo (proc(5)), with the kernel's octal
    /// escapes (\040 for a space, …) undone in paths, source and fstype.
    ///
    /// The ids are the mount's own; the rest of the line is a shared,
    /// immutable `Line`: the hundreds of pod namespaces of a node are
    /// near-copies of each other, and a scan (`MountinfoParser`) or a
    /// snapshot read back gives every copy of a line the same object, so a
    /// mount costs its ids and one reference (BENCHMARKS.md, "Snapshot scale").
    public struct Mount: Equatable, Sendable {
        public var mountID: Int
        public var parentID: Int
        public private(set) var line: Line

        /// What a mount line says apart from its ids.
        public struct Fields: Hashable, Sendable {
            /// st_dev of files on this mount (the superblock's device).
            public var major: UInt32
            public var minor: UInt32
            /// The directory of the filesystem that is mounted (a bind mount's origin).
            public var root: String
            public var mountPoint: String
            /// Per-mount options ("rw,nosuid,relatime").
            public var options: String
            /// Propagation tags: "shared:N", "master:N", "propagate_from:N",
            /// "unbindable". Empty for a private mount.
            public var optionalFields: [String]
            public var fstype: String
            public var source: String
            /// Per-superblock options, as the filesystem shows them.
            public var superOptions: String
        }

        /// The fields of one line, shared by every mount that has them.
        public final class Line: Hashable, Sendable {
            public let fields: Fields
            public init(_ fields: Fields) { self.fields = fields }
            public static func == (a: Line, b: Line) -> Bool { a === b || a.fields == b.fields }
            public func hash(into hasher: inout Hasher) { hasher.combine(fields) }
        }

        public init(mountID: Int, parentID: Int, line: Line) {
            self.mountID = mountID
            self.parentID = parentID
            self.line = line
        }

        public init(mountID: Int, parentID: Int, major: UInt32, minor: UInt32, root: String,
                    mountPoint: String, options: String, optionalFields: [String] = [], fstype: String,
                    source: String, superOptions: String) {
            self.init(mountID: mountID, parentID: parentID, line: Line(Fields(
                major: major, minor: minor, root: root, mountPoint: mountPoint, options: options,
                optionalFields: optionalFields, fstype: fstype, source: source, superOptions: superOptions)))
        }

        public var fields: Fields {
            get { line.fields }
            set { line = Line(newValue) }
        }
        public var major: UInt32 { get { line.fields.major } set { fields.major = newValue } }
        public var minor: UInt32 { get { line.fields.minor } set { fields.minor = newValue } }
        public var root: String { get { line.fields.root } set { fields.root = newValue } }
        public var mountPoint: String { get { line.fields.mountPoint } set { fields.mountPoint = newValue } }
        public var options: String { get { line.fields.options } set { fields.options = newValue } }
        public var optionalFields: [String] { get { line.fields.optionalFields } set { fields.optionalFields = newValue } }
        public var fstype: String { get { line.fields.fstype } set { fields.fstype = newValue } }
        public var source: String { get { line.fields.source } set { fields.source = newValue } }
        public var superOptions: String { get { line.fields.superOptions } set { fields.superOptions = newValue } }
    }

    public struct BlockDevice: Equatable, Sendable {
        /// Kernel name: "vda", "nvme0n1", "loop3", "vda1".
        public var name: String
        /// For a partition, the disk it is on; nil for a whole disk.
        public var parent: String?
        /// For a partition, its number (/sys/block/DISK/PART/partition).
        public var partitionNumber: Int?
        public var major: UInt32?
        public var minor: UInt32?
        /// `size` (512-byte sectors, whatever the logical block size) × 512.
        public var sizeBytes: UInt64?
        /// queue/read_ahead_kb. Disks only: partitions share the disk's queue.
        public var readAheadKB: UInt64?
        /// queue/rotational.
        public var rotational: Bool?
        /// The active I/O scheduler: the bracketed name in queue/scheduler.
        public var scheduler: String?
        /// `serial` (virtio) or `device/serial` (NVMe, SCSI), trimmed.
        public var serial: String?
        /// loop/backing_file of an attached loop device.
        public var loopBackingFile: String?
        /// loop/offset: where in the backing file the device starts.
        public var loopOffset: UInt64?
        /// The backing file's size now (stat of loop/backing_file); nil when
        /// it cannot be stat'ed (deleted: the kernel appends " (deleted)").
        public var loopBackingFileSize: UInt64?
        /// loop/autoclear: the device detaches at its last close (set by
        /// `losetup -d` of a device still in use: a mounted one).
        public var loopAutoclear: Bool?
        /// /sys/fs/ext4/NAME/: the error state ext4 keeps in its superblock.
        public var filesystemErrors: FilesystemErrors?
        /// Device tables only: no longer in /sys/block, its filesystem still
        /// mounted (kept from the table before).
        public var gone: Bool?
        /// The PCI function (DDDD:BB:DD.F) the device hangs off, if any.
        public var pciAddress: String?
        /// The driver bound to that PCI function ("nvme", "virtio-pci").
        public var pciDriver: String?
        /// The driver of the block device's own parent device ("virtio_blk").
        public var driver: String?
        /// `ro`.
        public var readOnly: Bool?

        public init(name: String, parent: String? = nil, partitionNumber: Int? = nil, major: UInt32? = nil,
                    minor: UInt32? = nil, sizeBytes: UInt64? = nil, readAheadKB: UInt64? = nil,
                    rotational: Bool? = nil, scheduler: String? = nil, serial: String? = nil,
                    loopBackingFile: String? = nil, pciAddress: String? = nil, pciDriver: String? = nil,
                    driver: String? = nil, readOnly: Bool? = nil, loopOffset: UInt64? = nil,
                    loopBackingFileSize: UInt64? = nil, loopAutoclear: Bool? = nil,
                    filesystemErrors: FilesystemErrors? = nil, gone: Bool? = nil) {
            self.name = name
            self.parent = parent
            self.partitionNumber = partitionNumber
            self.major = major
            self.minor = minor
            self.sizeBytes = sizeBytes
            self.readAheadKB = readAheadKB
            self.rotational = rotational
            self.scheduler = scheduler
            self.serial = serial
            self.loopBackingFile = loopBackingFile
            self.pciAddress = pciAddress
            self.pciDriver = pciDriver
            self.driver = driver
            self.readOnly = readOnly
            self.loopOffset = loopOffset
            self.loopBackingFileSize = loopBackingFileSize
            self.loopAutoclear = loopAutoclear
            self.filesystemErrors = filesystemErrors
            self.gone = gone
        }

        /// For a loop device: whether its backing file is shorter than the
        /// device claims (offset + size): reads past the file's end fail
        /// with I/O errors. nil when not a loop device or not known.
        public var loopBackingFileShort: Bool? {
            guard loopBackingFile != nil, let fileSize = loopBackingFileSize, let size = sizeBytes else { return nil }
            let (end, overflow) = (loopOffset ?? 0).addingReportingOverflow(size)
            return overflow || fileSize < end
        }
    }

    /// What ext4 keeps about the errors it met (fs/ext4/sysfs.c): a count
    /// and the first and last error, in seconds since the epoch (0: none).
    public struct FilesystemErrors: Equatable, Sendable {
        public var errorsCount: UInt64
        public var firstErrorTime: UInt64?
        public var firstErrorFunction: String?
        public var lastErrorTime: UInt64?
        public var lastErrorFunction: String?

        public init(errorsCount: UInt64, firstErrorTime: UInt64? = nil, firstErrorFunction: String? = nil,
                    lastErrorTime: UInt64? = nil, lastErrorFunction: String? = nil) {
            self.errorsCount = errorsCount
            self.firstErrorTime = firstErrorTime
            self.firstErrorFunction = firstErrorFunction
            self.lastErrorTime = lastErrorTime
            self.lastErrorFunction = lastErrorFunction
        }
    }

    /// A PCI function from /sys/bus/pci/devices. Hex values are kept as the
    /// kernel prints them ("0x1af4"), the form `lspci -n` users compare with.
    public struct PCIFunction: Equatable, Sendable {
        /// Domain:bus:device.function, "0000:00:02.0".
        public var address: String
        public var vendor: String?
        public var device: String?
        /// Class code, "0x010802" for NVMe.
        public var pciClass: String?
        /// Bound driver; nil when the function is unbound (the state in
        /// which a re-attached disk shows no block device).
        public var driver: String?
        /// driver_override when set: the only driver allowed to bind.
        public var driverOverride: String?

        public init(address: String, vendor: String? = nil, device: String? = nil, pciClass: String? = nil,
                    driver: String? = nil, driverOverride: String? = nil) {
            self.address = address
            self.vendor = vendor
            self.device = device
            self.pciClass = pciClass
            self.driver = driver
            self.driverOverride = driverOverride
        }
    }

    /// A device on the virtio bus (/sys/bus/virtio/devices).
    public struct VirtioDevice: Equatable, Sendable {
        /// "virtio1".
        public var name: String
        /// Virtio device type, "0x0002" for a block device.
        public var deviceID: String?
        /// "virtio_blk"; nil when unbound.
        public var driver: String?
        /// The PCI function of a virtio-pci transport.
        public var pciAddress: String?

        public init(name: String, deviceID: String? = nil, driver: String? = nil, pciAddress: String? = nil) {
            self.name = name
            self.deviceID = deviceID
            self.driver = driver
            self.pciAddress = pciAddress
        }
    }

    /// Counts of what the snapshot left out, so nothing is lost silently.
    public struct Omissions: Equatable, Sendable {
        /// Listed in /proc but gone before their status could be read.
        public var processesExited: Int
        /// Past the process limit.
        public var processesOverLimit: Int
        /// Namespaces past the namespace limit (their processes are kept).
        public var namespacesOverLimit: Int
        /// Namespaces whose mountinfo no process would give.
        public var namespacesWithoutMounts: Int
        /// Kubelet `vol_data.json` files past the limit.
        public var kubeletVolumesOverLimit: Int = 0

        public init(processesExited: Int = 0, processesOverLimit: Int = 0, namespacesOverLimit: Int = 0,
                    namespacesWithoutMounts: Int = 0) {
            self.processesExited = processesExited
            self.processesOverLimit = processesOverLimit
            self.namespacesOverLimit = namespacesOverLimit
            self.namespacesWithoutMounts = namespacesWithoutMounts
        }

        public var isEmpty: Bool { self == Omissions() }
    }
}
