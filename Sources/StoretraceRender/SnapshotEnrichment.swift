import StoretraceDecode

/// What a node snapshot adds to events: who stands for a mount namespace
/// (an inode number means nothing once the pods are gone), and the block
/// device a copy's file lives on with its `read_ahead_kb` (the setting that
/// made Go's io.Copy slow after a kernel upgrade).
///
/// Built once per capture from its start snapshot, so `record --live` and a
/// later `replay` print the same bytes. The JSON fragments are rendered here,
/// once: per event a lookup and a copy, no allocation.
public struct SnapshotEnrichment: Sendable {
    /// `{"pid":812,"comm":"sleep"}` by mount namespace inode; `{"label":"host"}`
    /// for the initial one.
    private let owners: [UInt64: [UInt8]]
    /// `"vda1","read_ahead_kb":128` by device (major << 32 | minor).
    private let devices: [UInt64: [UInt8]]

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
        var devices: [UInt64: [UInt8]] = [:]
        for device in index.snapshot.blockDevices {
            guard let major = device.major, let minor = device.minor else { continue }
            var out = OutputBuffer(capacity: 64)
            out.appendJSONString(string: device.name)
            out.append(",\"read_ahead_kb\":")
            // A partition's queue settings are its disk's.
            if let readAhead = index.wholeDisk(of: device)?.readAheadKB { out.appendDecimal(readAhead) } else { out.append("null") }
            devices[UInt64(major) << 32 | UInt64(minor)] = out.bytes
        }
        self.owners = owners
        self.devices = devices
    }

    /// `,"mntns_owner":{...}` (`{"label":"host"}` for the initial
    /// namespace) or `,"mntns_owner":null` for a namespace the
    /// snapshot did not see (created after it).
    func appendNamespaceOwner(_ inode: UInt32, into out: inout OutputBuffer) {
        out.append(",\"mntns_owner\":")
        if let owner = owners[UInt64(inode)] {
            owner.withUnsafeBytes { out.append(bytes: $0) }
        } else {
            out.append("null")
        }
    }

    /// `,"block_device":"vda1","read_ahead_kb":128`, nulls for a file on a
    /// filesystem without a block device (tmpfs, overlay: major 0).
    func appendBlockDevice(major: UInt32, minor: UInt32, into out: inout OutputBuffer) {
        out.append(",\"block_device\":")
        if let device = devices[UInt64(major) << 32 | UInt64(minor)] {
            device.withUnsafeBytes { out.append(bytes: $0) }
        } else {
            out.append("null,\"read_ahead_kb\":null")
        }
    }
}
