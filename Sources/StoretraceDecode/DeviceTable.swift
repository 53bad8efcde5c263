/// The node's block devices with their mounts in every mount namespace, as
/// last seen: what device names and numbers in events are resolved against
/// (`KmsgDevicePatterns`, `KernelDeviceNumber`). Built from a node snapshot
/// (the start snapshot of a capture, or a device-table record: the same
/// model with only devices and block-backed mounts), off the per-event
/// path; a lookup by number is one dictionary probe, by name a scan over
/// the devices comparing bytes, neither allocates.
public struct DeviceTable: Sendable {
    public struct Mount: Equatable, Sendable {
        public var namespace: UInt64
        /// The initial mount namespace (output says `host`).
        public var isHost: Bool
        public var mountID: Int
        public var mountPoint: String
        public var fstype: String
        /// The device mounted, when it is a partition of this disk.
        public var partition: String?
        /// The process that stands for the namespace (`MountNamespace.ownerPID`).
        public var ownerPID: Int32?
        public var ownerComm: String?

        /// "host", or "mnt:4026532178 (sleep[812])".
        public var namespaceName: String {
            if isHost { return "host" }
            guard let pid = ownerPID else { return "mnt:\(namespace)" }
            return "mnt:\(namespace) (\(ownerComm ?? "?")[\(pid)])"
        }

        public init(namespace: UInt64, isHost: Bool, mountID: Int, mountPoint: String, fstype: String,
                    partition: String? = nil, ownerPID: Int32? = nil, ownerComm: String? = nil) {
            self.ownerPID = ownerPID
            self.ownerComm = ownerComm
            self.namespace = namespace
            self.isHost = isHost
            self.mountID = mountID
            self.mountPoint = mountPoint
            self.fstype = fstype
            self.partition = partition
        }
    }

    public struct Device: Sendable {
        public var info: NodeSnapshot.BlockDevice
        public var nameBytes: [UInt8]
        /// Its mounts in every namespace (a disk's include its partitions').
        public var mounts: [Mount]

        public var name: String { info.name }
        public var major: UInt32 { info.major ?? 0 }
        public var minor: UInt32 { info.minor ?? 0 }
    }

    public let devices: [Device]
    private let byNumber: [UInt64: Int]
    /// When the table was taken (CLOCK_MONOTONIC ns).
    public let monotonicNanoseconds: Int64
    /// Kubelet's vol_data.json records as of this table (`--kubelet-root`);
    /// nil when the table did not look (older captures, no kubelet).
    public let kubeletVolumes: [NodeSnapshot.KubeletVolume]?

    public static let empty = DeviceTable(NodeSnapshot(
        takenAt: .init(monotonicNanoseconds: 0, realtimeNanoseconds: 0), clockOffsets: .init(realtimeMinusMonotonic: 0)))

    public init(_ snapshot: NodeSnapshot) {
        var devices: [Device] = []
        var byNumber: [UInt64: Int] = [:]
        var byName: [String: Int] = [:]
        for info in snapshot.blockDevices where info.major != nil && info.minor != nil {
            let key = Self.key(info.major!, info.minor!)
            guard byNumber[key] == nil else { continue } // first wins: a hostile snapshot must not trap
            byNumber[key] = devices.count
            byName[info.name] = devices.count
            devices.append(Device(info: info, nameBytes: Array(info.name.utf8), mounts: []))
        }
        for namespace in snapshot.mountNamespaces {
            for mount in namespace.mounts ?? [] {
                // btrfs (and other multi-device filesystems) show an anonymous
                // device number: match their source then.
                var index = byNumber[Self.key(mount.major, mount.minor)]
                if index == nil, mount.source.hasPrefix("/dev/") { index = byName[String(mount.source.dropFirst(5))] }
                guard let index else { continue }
                let entry = Mount(namespace: namespace.inode, isHost: namespace.isHost, mountID: mount.mountID,
                                  mountPoint: mount.mountPoint, fstype: mount.fstype,
                                  ownerPID: namespace.ownerPID, ownerComm: namespace.ownerComm)
                devices[index].mounts.append(entry)
                if let parent = devices[index].info.parent, let disk = byName[parent] {
                    var onDisk = entry
                    onDisk.partition = devices[index].name
                    devices[disk].mounts.append(onDisk)
                }
            }
        }
        self.devices = devices
        self.byNumber = byNumber
        self.monotonicNanoseconds = snapshot.takenAt.monotonicNanoseconds
        kubeletVolumes = snapshot.kubeletVolumes
    }

    @inline(__always)
    static func key(_ major: UInt32, _ minor: UInt32) -> UInt64 { UInt64(major) << 32 | UInt64(minor) }

    @inline(__always)
    public func index(major: UInt32, minor: UInt32) -> Int? { byNumber[Self.key(major, minor)] }

    /// The device with this name (bytes of a log message), if any.
    public func index(named name: UnsafeRawBufferPointer) -> Int? {
        for index in devices.indices where devices[index].nameBytes.withUnsafeBytes({ $0.elementsEqual(name) }) {
            return index
        }
        return nil
    }

    /// The first namespace (`nvme0n1`) of an NVMe controller (`nvme0`).
    public func index(nvmeController name: UnsafeRawBufferPointer) -> Int? {
        for index in devices.indices {
            let matches = devices[index].nameBytes.withUnsafeBytes { bytes in
                bytes.count > name.count + 1 && bytes.starts(with: name) && bytes[name.count] == 0x6E // 'n'
                    && ASCII.isDigit(bytes[name.count + 1])
            }
            if matches && devices[index].info.parent == nil { return index }
        }
        return nil
    }

    /// The device a kernel log line names (nil: none, or not a block device
    /// this table knows). `message` is the record's text.
    public func resolve(_ mention: KmsgDeviceMention, in message: UnsafeRawBufferPointer) -> Int? {
        let name = message.view(mention.name)
        switch mention.role {
        case .blockDevice, .blockDeviceIfKnown: return index(named: name)
        case .nvmeController: return index(nvmeController: name)
        case .busDevice: return nil
        }
    }
}
