// libFuzzer target for the procfs text parsers of node snapshots and holder
// scans (SnapshotText.swift, HolderText.swift): every line of the input as a
// /proc/PID/mountinfo line (what HolderScan and NodeSnapshot parse), and the
// whole input as fdinfo, maps, swaps, status, cgroup, a namespace link and
// a device number.
// Built and run by scripts/fuzz (target proc-text).
import StoretraceDecode

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Bytes in, as the scans read the files: no String is made of the input.
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var parser = MountinfoParser()
    var malformed = 0, overLimit = 0
    let mounts = parser.mounts(input, limit: 64, malformed: &malformed, overLimit: &overLimit)
    for mount in mounts {
        _ = (mount.peerGroup, mount.master, mount.propagateFrom, mount.isUnbindable)
    }
    precondition(mounts.count + malformed + overLimit <= size / 2 + 1, "more mountinfo lines than the input holds")
    _ = SnapshotText.fileDescriptorInfo(input)
    SnapshotText.forEachMapping(input, wanted: { _, _ in true }) { _ in }
    _ = SnapshotText.swapFiles(input)
    let status = SnapshotText.processStatus(input)
    _ = SnapshotText.isKernelThread(status, pid: 2)
    _ = SnapshotText.cgroups(input)
    _ = SnapshotText.namespaceInode(link: input)
    _ = SnapshotText.deviceNumber(input)
    _ = SnapshotText.unescapeOctal(input)
    return 0
}
