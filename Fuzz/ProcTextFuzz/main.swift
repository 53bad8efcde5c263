// libFuzzer target for the procfs text parsers of node snapshots and holder
// scans (SnapshotText.swift, HolderText.swift): every line of the input as a
// /proc/PID/mountinfo line (what HolderScan and NodeSnapshot parse), and the
// whole input as fdinfo, maps, swaps, status, cgroup and a namespace link.
// Built and run by scripts/fuzz (target proc-text).
import StoretraceDecode

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let text = String(decoding: input, as: UTF8.self)
    var parser = MountinfoParser()
    var malformed = 0, overLimit = 0
    for mount in parser.mounts(text, limit: 64, malformed: &malformed, overLimit: &overLimit) {
        _ = (mount.peerGroup, mount.master, mount.propagateFrom, mount.isUnbindable)
    }
    _ = SnapshotText.fileDescriptorInfo(input)
    SnapshotText.forEachMapping(input, wanted: { _, _ in true }) { _ in }
    _ = SnapshotText.swapFiles(text[...])
    let status = SnapshotText.processStatus(input)
    _ = SnapshotText.isKernelThread(status, pid: 2)
    _ = SnapshotText.cgroups(input)
    _ = SnapshotText.namespaceInode(link: text[...])
    _ = SnapshotText.deviceNumberArgument(text)
    _ = SnapshotText.unescapeOctal(text[...])
    return 0
}
