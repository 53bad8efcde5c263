/// Lookups that enrich events from a node snapshot: the comm of a pid that
/// has exited by the time an event is read, who stands for a mount
/// namespace, which disk a copy's file lives on. Built once per snapshot
/// (dictionaries over the snapshot's arrays); every lookup is O(1) except
/// `pids(inMountNamespace:)` and `mounts(major:minor:…)`, which scan.
public struct NodeSnapshotIndex: Sendable {
    public let snapshot: NodeSnapshot
    private let processIndex: [Int32: Int]
    private let namespaceIndex: [UInt64: Int]
    private let deviceIndex: [UInt64: Int]
    private let deviceNameIndex: [String: Int]
    private let pciIndex: [String: Int]

    /// Who stands for a mount namespace in output: "mnt:4026532201 (sleep[812])".
    public struct NamespaceOwner: Equatable, Sendable {
        public var pid: Int32
        public var comm: String?

        public init(pid: Int32, comm: String?) {
            self.pid = pid
            self.comm = comm
        }
    }

    public init(_ snapshot: NodeSnapshot) {
        self.snapshot = snapshot
        // First entry wins for duplicates: a well-formed snapshot has none,
        // and a decoded hostile one must not trap.
        processIndex = Dictionary(snapshot.processes.enumerated().map { ($1.pid, $0) }, uniquingKeysWith: { first, _ in first })
        namespaceIndex = Dictionary(snapshot.mountNamespaces.enumerated().map { ($1.inode, $0) }, uniquingKeysWith: { first, _ in first })
        deviceIndex = Dictionary(snapshot.blockDevices.enumerated().compactMap { index, device in
            guard let major = device.major, let minor = device.minor else { return nil }
            return (Self.key(major, minor), index)
        }, uniquingKeysWith: { first, _ in first })
        deviceNameIndex = Dictionary(snapshot.blockDevices.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        pciIndex = Dictionary(snapshot.pciFunctions.enumerated().map { ($1.address, $0) }, uniquingKeysWith: { first, _ in first })
    }

    private static func key(_ major: UInt32, _ minor: UInt32) -> UInt64 { UInt64(major) << 32 | UInt64(minor) }

    public func process(pid: Int32) -> NodeSnapshot.ProcessEntry? {
        processIndex[pid].map { snapshot.processes[$0] }
    }

    /// The comm the snapshot saw for `pid`: what to show for an event whose
    /// process is gone (the event's own comm may be a thread's name).
    public func comm(pid: Int32) -> String? {
        process(pid: pid)?.comm
    }

    public func mountNamespace(inode: UInt64) -> NodeSnapshot.MountNamespace? {
        namespaceIndex[inode].map { snapshot.mountNamespaces[$0] }
    }

    /// The representative process of a mount namespace (see
    /// `MountNamespace.ownerPID`); nil for a namespace the snapshot did not see.
    public func owner(mountNamespace inode: UInt64) -> NamespaceOwner? {
        guard let namespace = mountNamespace(inode: inode), let pid = namespace.ownerPID else { return nil }
        return NamespaceOwner(pid: pid, comm: namespace.ownerComm ?? comm(pid: pid))
    }

    /// Every pid the snapshot saw in the namespace, ascending.
    public func pids(inMountNamespace inode: UInt64) -> [Int32] {
        snapshot.processes.filter { $0.mountNamespace == inode }.map(\.pid)
    }

    /// The disk or partition with this device number.
    public func blockDevice(major: UInt32, minor: UInt32) -> NodeSnapshot.BlockDevice? {
        deviceIndex[Self.key(major, minor)].map { snapshot.blockDevices[$0] }
    }

    /// The block device a traced file lives on (copy_file_range, splice
    /// and sendfile events carry the superblock's device). nil for a file
    /// on a filesystem without a block device (tmpfs, overlay: major 0).
    public func blockDevice(for file: FileRef) -> NodeSnapshot.BlockDevice? {
        blockDevice(major: file.major, minor: file.minor)
    }

    public func blockDevice(named name: String) -> NodeSnapshot.BlockDevice? {
        deviceNameIndex[name].map { snapshot.blockDevices[$0] }
    }

    /// The whole disk for a partition (whose queue settings, such as
    /// read_ahead_kb, are the disk's); the device itself for a disk.
    public func wholeDisk(of device: NodeSnapshot.BlockDevice) -> NodeSnapshot.BlockDevice? {
        guard let parent = device.parent else { return device }
        return blockDevice(named: parent)
    }

    public func pciFunction(address: String) -> NodeSnapshot.PCIFunction? {
        pciIndex[address].map { snapshot.pciFunctions[$0] }
    }

    /// Mounts of the filesystem with this device number, in one namespace
    /// or (nil) in all of them: where a device is still mounted, and where
    /// a copy's file may have been reached from.
    public func mounts(major: UInt32, minor: UInt32, inMountNamespace inode: UInt64? = nil)
        -> [(mountNamespace: UInt64, mount: NodeSnapshot.Mount)] {
        var found: [(UInt64, NodeSnapshot.Mount)] = []
        for namespace in snapshot.mountNamespaces where inode == nil || namespace.inode == inode {
            for mount in namespace.mounts ?? [] where mount.major == major && mount.minor == minor {
                found.append((namespace.inode, mount))
            }
        }
        return found
    }
}
