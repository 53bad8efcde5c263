import StoretraceDecode

/// A device table with two block devices and a mount of each in the host
/// namespace: `vde` (252:64) under a kubelet pod volume, `loop3` (7:3,
/// backed by /img) at /mnt/l; `gone` and `autoclear` set what a later scan
/// saw. With the JSON a capture stores it as. For mount health tests.
public func mountHealthTable(gone: Bool = false, autoclear: Bool = false) -> (DeviceTable, [UInt8]) {
    var snapshot = NodeSnapshot(takenAt: .init(monotonicNanoseconds: 5, realtimeNanoseconds: 6),
                                clockOffsets: .init(realtimeMinusMonotonic: 1))
    snapshot.blockDevices = [.init(name: "vde", major: 252, minor: 64, sizeBytes: 1 << 30, gone: gone ? true : nil),
                             .init(name: "loop3", major: 7, minor: 3, sizeBytes: 1 << 20, loopBackingFile: "/img",
                                   loopOffset: 0, loopBackingFileSize: 1 << 20, loopAutoclear: autoclear)]
    let mount = { (id: Int, major: UInt32, minor: UInt32, point: String) in
        NodeSnapshot.Mount(mountID: id, parentID: 1, major: major, minor: minor, root: "/", mountPoint: point,
                           options: "rw", fstype: "ext4", source: "/dev/x", superOptions: "rw")
    }
    snapshot.mountNamespaces = [.init(inode: 4_026_531_832, processCount: 0,
                                      mounts: [mount(40, 252, 64, "/var/lib/kubelet/pods/p/volumes/v/mount"),
                                               mount(41, 7, 3, "/mnt/l")], isHost: true)]
    let json = Array(snapshot.jsonText(.compact).utf8)
    return (DeviceTable(try! NodeSnapshot(json: json)), json)
}
