import Testing
@testable import StoretraceDecode
import StoretraceFixtures

/// The procfs text a holder scan reads, written inline as the kernel prints it.
@Suite struct HolderTextTests {
    @Test func mountinfoPeerGroupsAndEveryOptionalField() throws {
        // mount id 46, parent 27, dev 0:40, root /, mount point, options,
        // then the optional fields up to "-", fstype, source, super options.
        let shared = try #require(SnapshotText.mount(mountinfoLine:
            "46 45 0:40 / /tmp/x/S/D rw,relatime shared:2 - tmpfs storetrace-busy rw,size=16384k"))
        #expect(shared.peerGroup == 2)
        #expect(shared.master == nil)
        #expect(shared.optionalFields == ["shared:2"])

        // A slave of peer group 7 that is also shared (group 12), with
        // propagate_from and unbindable: all four kinds on one line.
        let all = try #require(SnapshotText.mount(mountinfoLine:
            "90 46 254:1 /sub /var/lib/kubelet/pods/p rw shared:12 master:7 propagate_from:3 unbindable - ext4 /dev/vda1 rw"))
        #expect(all.optionalFields == ["shared:12", "master:7", "propagate_from:3", "unbindable"])
        #expect(all.peerGroup == 12)
        #expect(all.master == 7)
        #expect(all.propagateFrom == 3)
        #expect(all.isUnbindable)
        #expect(all.fstype == "ext4")
        #expect(all.source == "/dev/vda1")

        // Private: no optional fields at all.
        let none = try #require(SnapshotText.mount(mountinfoLine: "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw"))
        #expect(none.peerGroup == nil && none.master == nil && none.propagateFrom == nil && !none.isUnbindable)

        // "shared:" without a number is not a peer group.
        let broken = try #require(SnapshotText.mount(mountinfoLine: "28 27 0:5 / /x rw shared: - tmpfs t rw"))
        #expect(broken.peerGroup == nil)
    }

    @Test func mountinfoEscapedPaths() throws {
        // The kernel writes space as \040, newline as \012, tab as \011 and
        // backslash as \134 in root, mount point and source.
        let line = #"91 27 0:41 /dir\040with\134slash /mnt/a\040b\012c\011d rw master:4 - tmpfs my\040source rw"#
        let mount = try #require(SnapshotText.mount(mountinfoLine: line[...]))
        #expect(mount.root == "/dir with\\slash")
        #expect(mount.mountPoint == "/mnt/a b\nc\td")
        #expect(mount.source == "my source")
        #expect(mount.master == 4)
        // A backslash not followed by three octal digits stays as it is.
        let odd = try #require(SnapshotText.mount(mountinfoLine: #"92 27 0:41 / /mnt/\9x\04 rw - tmpfs t rw"#))
        #expect(odd.mountPoint == #"/mnt/\9x\04"#)
    }

    @Test func fileDescriptorInfo() {
        // /proc/PID/fdinfo/3 of a block device opened O_RDONLY|O_CLOEXEC:
        // flags are octal, mnt_id decimal.
        let info = SnapshotText.fileDescriptorInfo("pos:\t0\nflags:\t02100000\nmnt_id:\t24\nino:\t5\n")
        #expect(info.flags == 0o2100000)
        #expect(info.mountID == 24)
        #expect(FlagTables.openFlagNames(UInt64(info.flags!)) == ["O_RDONLY", "O_LARGEFILE", "O_CLOEXEC"])
        // Garbage and a non-octal digit leave the fields absent.
        #expect(SnapshotText.fileDescriptorInfo("flags:\t0800\nmnt_id:\tx\n") == .init())
        #expect(SnapshotText.fileDescriptorInfo("") == .init())
    }

    @Test func mapsLinesAreFilteredByDeviceBeforeAllocating() {
        let maps = """
            55d0c0a00000-55d0c0a02000 r--p 00000000 fe:00 1835041                    /usr/bin/sleep
            7f2c4a000000-7f2c4a021000 r--p 00000000 00:28 77                         /tmp/x/D/lib\\012name.so
            7f2c4a021000-7f2c4a022000 rw-p 00000000 00:00 0
            7ffd1a2b3000-7ffd1a2d4000 rw-p 00000000 00:00 0                          [stack]
            7f2c4a030000-7f2c4a031000 r--s 00001000 00:28 78                         /tmp/x/D/data (deleted)
            not a maps line

            """
        var seen: [SnapshotText.Mapping] = []
        let malformed = maps.utf8CString.withUnsafeBytes { raw in
            SnapshotText.forEachMapping(UnsafeRawBufferPointer(rebasing: raw.dropLast()), wanted: { $0 == 0 && $1 == 0x28 }) {
                seen.append($0)
            }
        }
        #expect(malformed == 1)
        #expect(seen == [
            .init(range: "7f2c4a000000-7f2c4a021000", major: 0, minor: 0x28, inode: 77, path: "/tmp/x/D/lib\\012name.so"),
            .init(range: "7f2c4a030000-7f2c4a031000", major: 0, minor: 0x28, inode: 78, path: "/tmp/x/D/data (deleted)"),
        ])
    }

    @Test func swapFiles() {
        // Header, then one partition and one file with an escaped space.
        let swaps = """
            Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
            /dev/vdb2                               partition\t1048572\t\t0\t\t-2
            /tmp/x/D/swap\\040file                   file\t\t65532\t\t0\t\t-3

            """
        #expect(SnapshotText.swapFiles(swaps[...]) == ["/dev/vdb2", "/tmp/x/D/swap file"])
        #expect(SnapshotText.swapFiles("Filename Type Size Used Priority\n") == [])
    }

    @Test func deviceNumberArguments() {
        #expect(SnapshotText.deviceNumberArgument("7:0")! == (7, 0))
        #expect(SnapshotText.deviceNumberArgument("259:12")! == (259, 12))
        for text in ["/dev/loop0", "7:", ":0", "7:0:1", "7 :0", "a:b", "", "99999999999:0", "٣:1"] {
            #expect(SnapshotText.deviceNumberArgument(text) == nil, "\(text)")
        }
    }

    @Test func kernelThreads() {
        // 6.3+: the Kthread line decides.
        let kthreadd = SnapshotText.processStatus("Name:\tkthreadd\nPPid:\t0\nUid:\t0\t0\t0\t0\nKthread:\t1\n")
        #expect(kthreadd.kernelThread == true)
        #expect(SnapshotText.isKernelThread(kthreadd, pid: 2))
        let systemd = SnapshotText.processStatus("Name:\tsystemd\nPPid:\t0\nUid:\t0\t0\t0\t0\nKthread:\t0\n")
        #expect(systemd.kernelThread == false)
        #expect(!SnapshotText.isKernelThread(systemd, pid: 1))
        // Older kernels: pid 2 and its children.
        let old = SnapshotText.processStatus("Name:\tkworker/0:1\nPPid:\t2\nUid:\t0\t0\t0\t0\n")
        #expect(old.kernelThread == nil)
        #expect(SnapshotText.isKernelThread(old, pid: 40))
        #expect(!SnapshotText.isKernelThread(SnapshotText.processStatus("Name:\tsh\nPPid:\t1\n"), pid: 41))
    }
}

@Suite struct HolderReportJSONTests {
    @Test func everyFieldSurvivesItsJSON() throws {
        let report = everyHolderReport()
        let text = report.jsonText()
        #expect(!text.contains("\n"), "one line, so a capture stores it as one record")
        #expect(try HolderReport(json: text) == report)
        let device = HolderReport(target: .init(given: "7:0", kind: .device, major: 7, minor: 0, deviceName: "loop0",
                                                partitions: ["loop0p1"]),
                                  scannedAtMonotonicNanoseconds: 5)
        #expect(try HolderReport(json: device.jsonText()) == device)
    }

    @Test func keysAreSnakeCaseInAFixedOrder() throws {
        let text = everyHolderReport().jsonText()
        #expect(text.hasPrefix(#"{"format":"storetrace-holders","version":1,"target":{"given":"#))
        #expect(text.contains(#"{"how":"fd","pid":815,"comm":"cat","mntns":4026531832,"fd":3,"path":"/tmp/f","mount_id":46,"flags":["O_RDWR","O_LARGEFILE"],"open_flags":32770,"via":"target"}"#))
        #expect(text.contains(#""via":"below","under_mount_id":46,"on_top":true"#))
        #expect(text.contains(#"{"how":"claim","pid":818,"comm":"python3","mntns":4026531832,"path":"/dev/vdb","claimed_at_ns":1605483065673,"via":"device"}"#))
        #expect(text.contains(#"{"mntns":4026532300,"label":"mnt:4026532300","processes":0,"pinned_at":"/run/pin"}"#))
        #expect(text.contains(#""budget_exhausted":true}"#))
    }

    @Test func badDocumentsAreErrorsWithAPath() throws {
        #expect(throws: JSONDocumentError.notA(.holderReport, format: "storetrace-node-snapshot")) {
            try HolderReport(json: #"{"format":"storetrace-node-snapshot","version":1}"#)
        }
        #expect(throws: JSONDocumentError.unsupportedVersion(.holderReport, 2)) {
            try HolderReport(json: #"{"format":"storetrace-holders","version":2}"#)
        }
        let base = everyHolderReport().jsonText()
        #expect(throws: JSONDocumentError.wrongType(.holderReport, path: "holders[0].how", expected: "a kind of holder")) {
            try HolderReport(json: base.replacing(#""how":"cwd""#, with: #""how":"teleport""#))
        }
        #expect(throws: JSONDocumentError.missingKey(.holderReport, path: "holders[0].peer_group")) {
            try HolderReport(json: base.replacing(#""via":"peer","peer_group":2"#, with: #""via":"peer""#))
        }
        #expect(throws: JSONDocumentError.wrongType(.holderReport, path: "target.dev", expected: "MAJ:MIN")) {
            try HolderReport(json: base.replacing(#""dev":"254:16""#, with: #""dev":"vdb""#))
        }
        #expect(throws: JSONDocumentError.self) { try HolderReport(json: "{") }
        #expect(throws: JSONDocumentError.self) { try HolderReport(json: "[]") }
    }

    @Test func unknownKeysAreIgnored() throws {
        let report = everyHolderReport()
        let text = report.jsonText().replacing(#""held":true,"#, with: #""held":true,"future":{"x":[1]},"#)
        #expect(try HolderReport(json: text) == report)
    }
}
