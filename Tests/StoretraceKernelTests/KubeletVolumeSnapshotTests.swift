import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import Testing

extension KernelTests {
/// kubelet's vol_data.json files, written here as kubelet's CSI plugin
/// writes them under a kubelet root of our own, read into the snapshot.
@Suite struct KubeletVolumeSnapshotTests {
    static func write(_ text: String, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try text.write(toFile: directory + "/vol_data.json", atomically: false, encoding: .utf8)
    }

    @Test func volDataFilesUnderTheKubeletRootAreInTheSnapshot() throws {
        let scratch = Scratch()
        let root = scratch.path + "/kubelet"
        let pod = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
        let staging = root + "/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a0c1e2d4b"
        let publish = root + "/pods/\(pod)/volumes/kubernetes.io~csi/pvc-12ab"
        let block = root + "/plugins/kubernetes.io/csi/volumeDevices/pvc-77/data"
        try Self.write(#"{"driverName":"disk.csi.example.com","specVolumeID":"pvc-12ab","volumeHandle":"vol-0a1b2c"}"#, to: staging)
        try FileManager.default.createDirectory(atPath: staging + "/globalmount", withIntermediateDirectories: true)
        try Self.write(#"{"attachmentID":"csi-8e2f","driverName":"disk.csi.example.com","nodeName":"node-1","specVolumeID":"pvc-12ab","volumeHandle":"vol-0a1b2c","volumeLifecycleMode":"Persistent"}"#, to: publish)
        try Self.write(#"{"driverName":"blk.csi.example.com","specVolumeID":"pvc-77","volumeHandle":"blk-77"}"#, to: block)
        // Not kubelet's: ignored, not fatal.
        try Self.write("not json", to: root + "/plugins/kubernetes.io/csi/broken.example.com/0000")
        try FileManager.default.createDirectory(atPath: root + "/pods/\(pod)/volumes/kubernetes.io~empty-dir/cache", withIntermediateDirectories: true)

        let snapshot = NodeSnapshot.take(kubeletRoot: root)
        #expect(snapshot.kubeletVolumes == [
            .init(directory: publish, driver: "disk.csi.example.com", volumeHandle: "vol-0a1b2c", specName: "pvc-12ab"),
            .init(directory: staging, driver: "disk.csi.example.com", volumeHandle: "vol-0a1b2c", specName: "pvc-12ab"),
            .init(directory: block, driver: "blk.csi.example.com", volumeHandle: "blk-77", specName: "pvc-77"),
        ])
        #expect(snapshot.omitted.kubeletVolumesOverLimit == 0)
        // The kernel's word on the wall clock is there.
        #expect(snapshot.clockSync != nil)
        // As stored in a capture, and read back.
        let stored = try NodeSnapshot(json: Array(snapshot.jsonText(.compact).utf8))
        #expect(stored.kubeletVolumes == snapshot.kubeletVolumes)
        #expect(stored.clockSync == snapshot.clockSync)

        // Bounded: past the limit, counted.
        var limits = NodeSnapshotLimits()
        limits.maxKubeletVolumes = 1
        let cut = NodeSnapshot.take(limits: limits, kubeletRoot: root)
        #expect(cut.kubeletVolumes?.count == 1)
        #expect(cut.omitted.kubeletVolumesOverLimit == 2)

        // No kubelet there: none looked for.
        #expect(NodeSnapshot.take(kubeletRoot: scratch.path + "/none").kubeletVolumes == nil)

        // The device table holds them too: read with the mounts, else kept.
        let table = NodeSnapshot.takeDevices(previous: nil, rescanMounts: true, kubeletRoot: root)
        #expect(table.kubeletVolumes == snapshot.kubeletVolumes)
        try FileManager.default.removeItem(atPath: block + "/vol_data.json")
        #expect(NodeSnapshot.takeDevices(previous: table, rescanMounts: false, kubeletRoot: root).kubeletVolumes == table.kubeletVolumes)
        #expect(NodeSnapshot.takeDevices(previous: table, rescanMounts: true, kubeletRoot: root).kubeletVolumes?.count == 2)
        #expect(NodeSnapshot.takeDevices(previous: nil, rescanMounts: true).kubeletVolumes == nil)
    }

    /// A volume staged while recording: its vol_data.json is read with the
    /// mount tables after the staging mount, so the calls after it (the
    /// unstage) name its PV and handle, in the capture as live.
    @Test func aVolumeStagedWhileRecordingIsCompletedFromThenOn() throws {
        let scratch = Scratch()
        let root = scratch.path + "/kubelet"
        let staging = root + "/plugins/kubernetes.io/csi/disk.csi.example.com/9e8d7c6b5a"
        try FileManager.default.createDirectory(atPath: staging + "/globalmount", withIntermediateDirectories: true)
        let capture = scratch.path + "/late.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--kubelet-root", root, "--type", "mount", "--type", "umount",
                                       "--pid", "\(getpid())", "--no-ftrace", "--no-uevents", "--no-kmsg", "--no-holders"])
        #expect(recorder.waitUntilReady(), "\(recorder.stderrText)")
        // As kubelet stages a CSI volume: vol_data.json, then the mount.
        try Self.write(#"{"driverName":"disk.csi.example.com","specVolumeID":"pvc-late","volumeHandle":"vol-late"}"#, to: staging)
        try check(mount("vol-late", staging + "/globalmount", "tmpfs", 0, nil), "mount")
        // The rescan after a mount: at most 100 ms after its batch, or on the
        // one-second timer when a scan ran less than 100 ms before.
        usleep(1_500_000)
        try check(umount2(staging + "/globalmount", 0), "umount2")
        usleep(300_000)
        let stopped = recorder.stop()
        #expect(stopped.status == 0, "\(stopped.stderr)")

        let replay = try CLI.run(["replay", capture, "--json", "--type", "mount", "--type", "umount"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let calls = jsonLines(replay.stdout)
        #expect(calls.map { $0["type"] as? String } == ["mount", "umount"])
        let k8s = calls.map { $0["k8s"] as? [String: Any] }
        // The mount: before the table that holds the volume, the path alone.
        #expect(k8s.first??["volume"] is NSNull && k8s.first??["volume_handle"] == nil, "\(replay.stdout)")
        #expect(k8s.first??["csi_driver"] as? String == "disk.csi.example.com")
        // The unmount: completed from vol_data.json.
        #expect(k8s.last??["volume"] as? String == "pvc-late", "\(replay.stdout)")
        #expect(k8s.last??["volume_handle"] as? String == "vol-late")
    }
}
}
