import StoretraceDecode

/// A report with one holder of every kind and relation, and strings that
/// stress the encoder.
public func everyHolderReport() -> HolderReport {
    HolderReport(
        target: .init(given: "/var/lib/kubelet/plugins/kubernetes.io/csi/x/globalmount", kind: .path, mountID: 46,
                      mountNamespace: 4_026_531_832, mountPoint: "/tmp/a b\nc", root: "/", fstype: "ext4",
                      source: "/dev/vdb", peerGroup: 2, major: 254, minor: 16),
        scannedAtMonotonicNanoseconds: 1_607_983_065_673, durationNanoseconds: 4_200_000,
        holders: [
            .init(how: .cwd, via: .peer(group: 2), pid: 812, comm: "sleep", mountNamespace: 4_026_532_178, path: "/tmp/a b\nc", mountID: 69),
            .init(how: .root, via: .sameRoot, pid: 813, comm: "py\"thon", mountNamespace: 4_026_531_832, path: "/x", mountID: 70),
            .init(how: .exe, via: .sameDevice(root: "/sub"), pid: 814, comm: "e", mountNamespace: 4_026_531_832, path: "/bin/e", mountID: 71),
            .init(how: .fd, via: .target, pid: 815, comm: "cat", mountNamespace: 4_026_531_832, path: "/tmp/f", mountID: 46, fd: 3, openFlags: 0o100002),
            .init(how: .map, via: .slave(group: 2), pid: 816, comm: "m", mountNamespace: 4_026_532_200, path: "/lib.so", mountID: 72),
            .init(how: .open, via: .device, pid: 817, comm: "fsck", mountNamespace: 4_026_531_832, path: "/dev/vdb", fd: 4, openFlags: 0o2100000),
            .init(how: .claim, via: .device, pid: 818, comm: "python3", mountNamespace: 4_026_531_832, path: "/dev/vdb",
                  claimedAtMonotonicNanoseconds: 1_607_983_065_673 - 2_500_000_000),
            .init(how: .mount, via: .peer(group: 2), mountNamespace: 4_026_532_178, path: "/tmp/a b\nc", mountID: 69),
            .init(how: .submount, via: .below(mountID: 46, onTop: true), mountNamespace: 4_026_531_832, path: "/tmp/a b\nc", mountID: 99),
            .init(how: .nsPinned, via: .peer(group: 2), mountNamespace: 4_026_532_300, path: "/run/pin", mountID: 100),
            .init(how: .stacked, via: .device, path: "/dev/dm-0", device: "dm-0"),
            .init(how: .loopBacking, via: .target, path: "/tmp/f.img", mountID: 46, device: "loop3"),
            .init(how: .swap, via: .device, path: "/dev/vdb"),
        ],
        namespaces: [
            .init(inode: 4_026_531_832, isHost: true, pid: 1, comm: "systemd", processCount: 90),
            .init(inode: 4_026_532_178, isHost: false, pid: 812, comm: "sleep", processCount: 1),
            .init(inode: 4_026_532_300, isHost: false, processCount: 0, pinnedAt: "/run/pin"),
        ],
        counts: .init(processes: 96, mountNamespaces: 4, mounts: 120, processesExited: 1, entriesUnreadable: 2,
                      processesOverLimit: 3, namespacesUnreadable: 4, holdersOverLimit: 5),
        budgetExhausted: true)
}
