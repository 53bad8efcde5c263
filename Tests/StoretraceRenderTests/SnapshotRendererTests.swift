import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// A two-namespace node with a disk, a partition, a loop device and an
/// unbound NVMe function: small enough to check the output byte for byte.
func smallNodeSnapshot() -> NodeSnapshot {
    NodeSnapshot(
        takenAt: .init(monotonicNanoseconds: 12_345_678_901, realtimeNanoseconds: 1_795_442_851_123_456_789),
        clockOffsets: .init(realtimeMinusMonotonic: 1_795_442_838_777_777_888, boottimeMinusMonotonic: 0),
        kernelRelease: "6.18.0",
        hostname: "node-1",
        bootID: "8716da70-7c35-4495-aa86-add5ce0e130f",
        onlineCPUs: 2,
        processes: [
            .init(pid: 1, ppid: 0, comm: "init", uid: 0, mountNamespace: 4_026_531_832, cgroup: "/"),
            .init(pid: 700, ppid: 1, comm: "kubelet", uid: 0, mountNamespace: 4_026_531_832, cgroup: "/"),
            .init(pid: 812, ppid: 700, comm: "sleep", uid: 0, mountNamespace: 4_026_532_201, cgroup: "/"),
        ],
        mountNamespaces: [
            .init(inode: 4_026_531_832, processCount: 2, ownerPID: 1, ownerComm: "init", mountinfoPID: 1, mounts: [
                .init(mountID: 27, parentID: 1, major: 254, minor: 1, root: "/", mountPoint: "/", options: "rw,relatime",
                      optionalFields: ["shared:1"], fstype: "ext4", source: "/dev/vda1", superOptions: "rw"),
                .init(mountID: 95, parentID: 27, major: 7, minor: 3, root: "/",
                      mountPoint: "/var/lib/kubelet/plugins/globalmount", options: "rw,noatime",
                      optionalFields: ["shared:40"], fstype: "ext4", source: "/dev/loop3", superOptions: "rw"),
            ], isHost: true),
            .init(inode: 4_026_532_201, processCount: 1, ownerPID: 812, ownerComm: "sleep", mountinfoPID: 812, mounts: [
                .init(mountID: 300, parentID: 299, major: 254, minor: 1, root: "/", mountPoint: "/", options: "rw,relatime",
                      optionalFields: [], fstype: "ext4", source: "/dev/vda1", superOptions: "rw"),
                .init(mountID: 301, parentID: 300, major: 0, minor: 60, root: "/", mountPoint: "/mnt/my dir\n",
                      options: "rw", optionalFields: [], fstype: "tmpfs", source: "tmpfs", superOptions: "rw"),
            ], mountsOverLimit: 2),
        ],
        blockDevices: [
            .init(name: "loop3", major: 7, minor: 3, sizeBytes: 64 << 20, readAheadKB: 128, rotational: false,
                  scheduler: "none", loopBackingFile: "/tmp/disk.img"),
            .init(name: "vda", major: 254, minor: 0, sizeBytes: 256 << 30, readAheadKB: 8192, rotational: true,
                  scheduler: "mq-deadline", serial: "vol-0a1b", pciAddress: "0000:00:02.0", pciDriver: "virtio-pci",
                  driver: "virtio_blk"),
            .init(name: "vda1", parent: "vda", partitionNumber: 1, major: 254, minor: 1, sizeBytes: 1536,
                  pciAddress: "0000:00:02.0", pciDriver: "virtio-pci"),
        ],
        pciFunctions: [
            .init(address: "0000:00:02.0", vendor: "0x1af4", device: "0x1042", pciClass: "0x018000", driver: "virtio-pci"),
            .init(address: "0000:01:00.0", vendor: "0x144d", device: "0xa808", pciClass: "0x010802", driver: nil),
        ],
        virtioDevices: [.init(name: "virtio1", deviceID: "0x0002", driver: "virtio_blk", pciAddress: "0000:00:02.0")],
        omitted: .init(processesExited: 1))
}

@Suite struct SnapshotRendererTests {
    @Test func fullSnapshotIsReadableAndAligned() {
        let expected = #"""
        host      node-1
        kernel    6.18.0
        boot id   8716da70-7c35-4495-aa86-add5ce0e130f
        CPUs      2
        taken at  2026-11-23T14:07:31.123456789Z (monotonic 12.345678901 s)
        contents  3 processes, 2 mount namespaces, 4 mounts, 3 block devices, 2 PCI storage functions
        omitted   1 process exited during the scan

        Mount namespace mnt:4026531832 (host)  owner 1 (init)  2 processes  2 mounts
          MOUNT POINT                           SOURCE      FSTYPE  OPTIONS      PROPAGATION
          /                                     /dev/vda1   ext4    rw,relatime  shared:1
          /var/lib/kubelet/plugins/globalmount  /dev/loop3  ext4    rw,noatime   shared:40

        Mount namespace mnt:4026532201  owner 812 (sleep)  1 process  2 mounts
          PID  PPID  UID  COMM   CGROUP
          812  700   0    sleep  /
          MOUNT POINT         SOURCE     FSTYPE  OPTIONS      PROPAGATION
          /                   /dev/vda1  ext4    rw,relatime  private
          /mnt/my\040dir\012  tmpfs      tmpfs   rw           private
          (2 more mounts past the limit, not recorded)

        Block devices
          NAME    MAJ:MIN  SIZE       RA_KB  ROT  SCHED        SERIAL    PCI           PCI DRIVER  BACKING FILE
          loop3   7:3      64.0 MiB   128    no   none         -         -             -           /tmp/disk.img
          vda     254:0    256.0 GiB  8192   yes  mq-deadline  vol-0a1b  0000:00:02.0  virtio-pci
            vda1  254:1    1.5 KiB    -      -    -            -         0000:00:02.0  virtio-pci

        PCI storage functions
          ADDRESS       VENDOR  DEVICE  CLASS     DRIVER      DRIVER OVERRIDE
          0000:00:02.0  0x1af4  0x1042  0x018000  virtio-pci
          0000:01:00.0  0x144d  0xa808  0x010802  (none)

        Virtio devices
          NAME     DEVICE  DRIVER      PCI
          virtio1  0x0002  virtio_blk  0000:00:02.0

        """#
        #expect(SnapshotRenderer.render(smallNodeSnapshot()) == expected)
    }

    @Test func summaryCountsWhatTheSnapshotHolds() {
        let expected = #"""
        snapshot: host node-1, Linux 6.18.0, 2 CPUs, boot 8716da70-7c35-4495-aa86-add5ce0e130f, taken 2026-11-23T14:07:31.123456789Z
          3 processes, 2 mount namespaces, 4 mounts, 3 block devices, 2 PCI storage functions (1 unbound), 1 virtio device
          1 process exited during the scan

        """#
        #expect(SnapshotRenderer.summary(smallNodeSnapshot()) == expected)
    }

    @Test func absentFieldsAndEmptySections() {
        let snapshot = NodeSnapshot(takenAt: .init(monotonicNanoseconds: 0, realtimeNanoseconds: 0),
                                    clockOffsets: .init(realtimeMinusMonotonic: 0),
                                    mountNamespaces: [.init(inode: 9, processCount: 1)],
                                    blockDevices: [.init(name: "sdz")])
        let expected = #"""
        host      -
        kernel    -
        boot id   -
        CPUs      -
        taken at  1970-01-01T00:00:00.000000000Z (monotonic 0.000000000 s)
        contents  0 processes, 1 mount namespace, 0 mounts, 1 block device, 0 PCI storage functions

        Mount namespace mnt:9  1 process
          (mount table unreadable: no process in it would give /proc/PID/mountinfo)

        Block devices
          NAME  MAJ:MIN  SIZE  RA_KB  ROT  SCHED  SERIAL  PCI  PCI DRIVER  BACKING FILE
          sdz   -        -     -      -    -      -       -    -

        PCI storage functions
          (none)

        """#
        #expect(SnapshotRenderer.render(snapshot) == expected)
    }

    @Test func controlCharactersCannotReachTheTerminal() {
        #expect(SnapshotRenderer.printable("a\u{1b}[31mb\u{85}c d") == #"a\033[31mb\302\205c d"#)
        #expect(SnapshotRenderer.cell("a b\\c") == #"a\040b\134c"#)
        #expect(SnapshotRenderer.cell("ü") == "ü")
    }

    /// Every kind of omission is said, in one line, in the order of the
    /// scan: a snapshot that left something out never reads as complete.
    @Test func omissionsNameEveryKind() {
        #expect(SnapshotRenderer.omissions(NodeSnapshot.Omissions()) == nil)
        var omitted = NodeSnapshot.Omissions(processesExited: 1, processesOverLimit: 2, namespacesOverLimit: 3,
                                             namespacesWithoutMounts: 1)
        omitted.kubeletVolumesOverLimit = 4
        #expect(SnapshotRenderer.omissions(omitted) == "1 process exited during the scan; 2 processes past the limit; "
            + "3 mount namespaces past the limit; 1 mount namespace without a readable mount table; "
            + "4 kubelet volumes past the limit (vol_data.json not read)")
        var volumesOnly = NodeSnapshot.Omissions()
        volumesOnly.kubeletVolumesOverLimit = 1
        #expect(SnapshotRenderer.omissions(volumesOnly) == "1 kubelet volume past the limit (vol_data.json not read)")
    }

    @Test func humanSizes() {
        #expect(SnapshotRenderer.humanSize(0) == "0 B")
        #expect(SnapshotRenderer.humanSize(1023) == "1023 B")
        #expect(SnapshotRenderer.humanSize(1024) == "1.0 KiB")
        #expect(SnapshotRenderer.humanSize(1075) == "1.0 KiB")
        #expect(SnapshotRenderer.humanSize(1076) == "1.1 KiB")
        #expect(SnapshotRenderer.humanSize((1 << 20) - 1) == "1024.0 KiB")
        #expect(SnapshotRenderer.humanSize(536_870_912 * 512) == "256.0 GiB")
        #expect(SnapshotRenderer.humanSize(UInt64.max) == "16.0 EiB")
    }
}
