import StoretraceDecode

/// What a node snapshot adds to events: who stands for a mount namespace
/// (an inode number means nothing once the pods are gone), and the block
/// device a copy's file lives on with the `read_ahead_kb` in force (the
/// setting that made Go's io.Copy slow after a kernel upgrade).
///
/// Built once per capture from its start snapshot (`live`: from a scan of
/// the block devices only), so `record --live` and a later `replay` print
/// the same bytes; `queue_setting` events update `devices` as they come.
/// The owners' JSON is rendered here, once: per event a lookup and a copy,
/// no allocation.
/// A class, shared by both renderers of a printer: a queue setting applied
/// once is seen by both, and rendering does not copy (retain) its tables per
/// event. Used on the session's thread only.
public final class SnapshotEnrichment: @unchecked Sendable {
    /// `{"pid":812,"comm":"sleep"}` by mount namespace inode, `{"label":"host"}`
    /// for the initial one; nil when no process table was taken (`live`):
    /// no `mntns_owner` then.
    private let owners: [UInt64: [UInt8]]?
    /// Block devices and the read-ahead in force on each.
    public var devices: BlockDevicesInForce {
        didSet {
            lastDeviceKey = nil
            generation &+= 1
        }
    }
    /// Changes whenever what this adds to events may have: renderers that
    /// remember rendered pieces (`RenderMemo`) key them with it.
    public private(set) var generation: UInt64 = 0
    /// The last device looked up: a copy's two files, and a storm's calls,
    /// are mostly on one device, so most lookups hash nothing.
    private var lastDeviceKey: UInt64?
    private var lastDevice: BlockDevicesInForce.Device?
    /// Likewise the last namespace owner (a storm comes from one namespace).
    private var lastOwnerInode: UInt32?
    private var lastOwner: [UInt8]?
    /// Kubelet's vol_data.json records: the PV and driver a kubelet path
    /// does not name.
    public var kubeletVolumes: KubeletVolumeTable {
        didSet { generation &+= 1 }
    }

    public init(_ index: NodeSnapshotIndex) {
        var owners: [UInt64: [UInt8]] = [:]
        for namespace in index.snapshot.mountNamespaces {
            // The initial namespace is the host's, not kthreadd's or init's.
            if namespace.isHost {
                owners[namespace.inode] = Array("{\"label\":\"host\"}".utf8)
                continue
            }
            guard let owner = index.owner(mountNamespace: namespace.inode) else { continue }
            var out = OutputBuffer(capacity: 64)
            out.append("{\"pid\":")
            out.appendDecimal(owner.pid)
            out.append(",\"comm\":")
            if let comm = owner.comm { out.appendJSONString(string: comm) } else { out.append("null") }
            out.append(UInt8(ascii: "}"))
            owners[namespace.inode] = out.bytes
        }
        self.owners = owners
        devices = BlockDevicesInForce(index.snapshot.blockDevices)
        kubeletVolumes = KubeletVolumeTable(index.snapshot.kubeletVolumes ?? [])
    }

    /// Block devices only (`live` takes no process table).
    public init(devices: BlockDevicesInForce) {
        owners = nil
        self.devices = devices
        kubeletVolumes = .empty
    }

    /// The vol_data.json record of the volume a kubelet path is in.
    public func kubeletVolume(_ path: KubeletPath) -> NodeSnapshot.KubeletVolume? {
        guard let directory = path.volumeDirectory, !kubeletVolumes.isEmpty else { return nil }
        return kubeletVolumes.volume(directory: directory)
    }

    /// `,"mntns_owner":{...}` (`{"label":"host"}` for the initial
    /// namespace) or `,"mntns_owner":null` for a namespace the snapshot did
    /// not see (created after it); nothing without a snapshot.
    func appendNamespaceOwner(_ inode: UInt32, into out: inout OutputBuffer) {
        guard let owners else { return }
        out.append(",\"mntns_owner\":")
        if lastOwnerInode != inode {
            lastOwnerInode = inode
            lastOwner = owners[UInt64(inode)]
        }
        if let lastOwner {
            lastOwner.withUnsafeBytes { out.append(bytes: $0) }
        } else {
            out.append("null")
        }
    }

    @inline(__always)
    private func device(major: UInt32, minor: UInt32) -> BlockDevicesInForce.Device? {
        let key = BlockDevicesInForce.key(major, minor)
        if lastDeviceKey != key {
            lastDeviceKey = key
            lastDevice = devices.device(major: major, minor: minor)
        }
        return lastDevice
    }

    /// `,"block_device":"vda1","read_ahead_kb":128`, nulls for a file on a
    /// filesystem without a block device (tmpfs, overlay: major 0).
    func appendBlockDevice(major: UInt32, minor: UInt32, into out: inout OutputBuffer) {
        out.append(",\"block_device\":")
        if let device = device(major: major, minor: minor) {
            device.name.withUnsafeBytes { out.appendJSONString($0) }
            out.append(",\"read_ahead_kb\":")
            if let readAhead = device.readAheadKB { out.appendDecimal(readAhead) } else { out.append("null") }
        } else {
            out.append("null,\"read_ahead_kb\":null")
        }
    }

    /// ` on vda1 read_ahead_kb=128` after a file name in a text line;
    /// nothing for a file without a block device.
    func appendBlockDeviceText(major: UInt32, minor: UInt32, into out: inout OutputBuffer) {
        guard let device = device(major: major, minor: minor) else { return }
        out.append(" on ")
        device.name.withUnsafeBytes { out.appendPrintable($0) }
        if let readAhead = device.readAheadKB {
            out.append(" read_ahead_kb=")
            out.appendDecimal(readAhead)
        }
    }
}
