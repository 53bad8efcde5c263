import Testing
@testable import StoretraceDecode

/// A snapshot with every field set, and the values that stress an encoder:
/// quotes, backslashes, newlines, control characters, non-ASCII, escaped
/// mountinfo paths, extreme integers.
fileprivate func fullSnapshot() -> NodeSnapshot {
    NodeSnapshot(
        takenAt: .init(monotonicNanoseconds: 1_234_567_890_123, realtimeNanoseconds: 1_795_442_851_123_456_789),
        clockOffsets: .init(realtimeMinusMonotonic: 1_795_441_616_555_566_666, boottimeMinusMonotonic: -1),
        kernelRelease: "6.18.0-storetrace",
        hostname: "node-\"1\"",
        bootID: "8716da70-7c35-4495-aa86-add5ce0e130f",
        onlineCPUs: 2,
        processes: [
            .init(pid: 1, ppid: 0, comm: "systemd", uid: 0, mountNamespace: 4_026_531_832, cgroup: "/init.scope",
                  cgroupV1: ["4:memory:/", "1:name=systemd:/init.scope"]),
            .init(pid: 3, ppid: 2, comm: "kworker/0:0", kernelThread: true),
            .init(pid: 812, ppid: 1, comm: "a\\b\n\u{1}ü😀", uid: UInt32.max, mountNamespace: UInt64.max),
            .init(pid: Int32.max),
        ],
        mountNamespaces: [
            .init(inode: 4_026_531_832, processCount: 1, ownerPID: 1, ownerComm: "systemd", mountinfoPID: 1, mounts: [
                .init(mountID: 27, parentID: 1, major: 254, minor: 0, root: "/", mountPoint: "/", options: "rw,relatime",
                      optionalFields: ["shared:1"], fstype: "ext4", source: "/dev/vda", superOptions: "rw,discard"),
                .init(mountID: 90, parentID: 27, major: 7, minor: 3, root: "/dir with space",
                      mountPoint: "/mnt/a b\tc", options: "ro", optionalFields: [], fstype: "fuse.sshfs",
                      source: "", superOptions: ""),
            ], mountsOverLimit: 3, malformedLines: 1, isHost: true),
            .init(inode: UInt64.max, processCount: 2, ownerPID: 812, ownerComm: nil, mountinfoPID: nil, mounts: nil),
        ],
        blockDevices: [
            .init(name: "vda", major: 254, minor: 0, sizeBytes: 274_877_906_944, readAheadKB: 8192, rotational: true,
                  scheduler: "mq-deadline", serial: "disk-1", pciAddress: "0000:00:02.0", pciDriver: "virtio-pci",
                  driver: "virtio_blk", readOnly: false),
            .init(name: "vda1", parent: "vda", partitionNumber: 1, major: 254, minor: 1, sizeBytes: UInt64.max),
            .init(name: "loop3", major: 7, minor: 3, sizeBytes: 10 << 20, readAheadKB: 128, rotational: false,
                  scheduler: "none", loopBackingFile: "/tmp/x (deleted)"),
            .init(name: "weird"),
        ],
        pciFunctions: [
            .init(address: "0000:00:02.0", vendor: "0x1af4", device: "0x1042", pciClass: "0x018000", driver: "virtio-pci"),
            .init(address: "0000:01:00.0", vendor: "0x144d", device: "0xa808", pciClass: "0x010802", driver: nil,
                  driverOverride: "vfio-pci"),
        ],
        virtioDevices: [.init(name: "virtio1", deviceID: "0x0002", driver: "virtio_blk", pciAddress: "0000:00:02.0")],
        omitted: .init(processesExited: 4, processesOverLimit: 5, namespacesOverLimit: 6, namespacesWithoutMounts: 7))
}

fileprivate func minimalSnapshot() -> NodeSnapshot {
    NodeSnapshot(takenAt: .init(monotonicNanoseconds: 5, realtimeNanoseconds: 6),
                 clockOffsets: .init(realtimeMinusMonotonic: 1))
}

/// A deterministic generator, so a failing mutation is reproducible.
fileprivate struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct NodeSnapshotJSONTests {
    @Test func roundTripIsExactInBothLayouts() throws {
        let snapshot = fullSnapshot()
        for layout in [JSONValue.Layout.lines, .compact] {
            let text = snapshot.jsonText(layout)
            let decoded = try NodeSnapshot(json: text)
            #expect(decoded == snapshot, "layout \(layout)")
        }
        #expect(try NodeSnapshot(json: minimalSnapshot().jsonText()) == minimalSnapshot())
    }

    @Test func keysAreStable() throws {
        // The documented form (docs/snapshot.md); a change here is a format change.
        var snapshot = minimalSnapshot()
        snapshot.processes = [.init(pid: 7, ppid: 1, comm: "sh", uid: 0, mountNamespace: 9, cgroup: "/")]
        let root = NodeSnapshot.Mount(mountID: 1, parentID: 0, major: 0, minor: 2, root: "/", mountPoint: "/", options: "rw",
                                      optionalFields: ["shared:1"], fstype: "tmpfs", source: "none", superOptions: "rw")
        var copy = root
        (copy.mountID, copy.parentID) = (501, 500)
        let run = NodeSnapshot.Mount(mountID: 502, parentID: 501, major: 0, minor: 3, root: "/", mountPoint: "/run", options: "rw",
                                     fstype: "tmpfs", source: "tmpfs", superOptions: "rw")
        snapshot.mountNamespaces = [
            .init(inode: 9, processCount: 1, ownerPID: 7, ownerComm: "sh", mountinfoPID: 7, mounts: [root]),
            .init(inode: 10, processCount: 1, ownerPID: 8, ownerComm: "sh", mountinfoPID: 8, mounts: [copy, run]),
        ]
        snapshot.blockDevices = [.init(name: "loop0", major: 7, minor: 0, sizeBytes: 512, readAheadKB: 128, rotational: false,
                                       scheduler: "none", loopBackingFile: "/f")]
        snapshot.pciFunctions = [.init(address: "0000:00:02.0", vendor: "0x1af4", device: "0x1042", pciClass: "0x018000",
                                       driver: "virtio-pci")]
        let expected = """
        {
          "format": "storetrace-node-snapshot",
          "version": 2,
          "taken_at": {"monotonic_ns": 5, "realtime_ns": 6},
          "clock_offsets": {"realtime_minus_monotonic_ns": 1},
          "processes": [
            {"pid": 7, "ppid": 1, "comm": "sh", "uid": 0, "mntns": 9, "cgroup": "/"}
          ],
          "mount_lines": [
            {"major": 0, "minor": 2, "root": "/", "mount_point": "/", "options": "rw", "optional_fields": ["shared:1"], "fstype": "tmpfs", "source": "none", "super_options": "rw"},
            {"major": 0, "minor": 3, "root": "/", "mount_point": "/run", "options": "rw", "optional_fields": [], "fstype": "tmpfs", "source": "tmpfs", "super_options": "rw"}
          ],
          "mount_namespaces": [
            {"mntns": 9, "process_count": 1, "owner_pid": 7, "owner_comm": "sh", "mountinfo_pid": 7, "mounts": [[1, 0, 0]]},
            {"mntns": 10, "process_count": 1, "owner_pid": 8, "owner_comm": "sh", "mountinfo_pid": 8, "mounts": [[501, 500, 0], [502, 501, 1]]}
          ],
          "block_devices": [
            {"name": "loop0", "major": 7, "minor": 0, "size_bytes": 512, "read_ahead_kb": 128, "rotational": false, "scheduler": "none", "loop_backing_file": "/f"}
          ],
          "pci_functions": [
            {"address": "0000:00:02.0", "vendor": "0x1af4", "device": "0x1042", "class": "0x018000", "driver": "virtio-pci"}
          ],
          "virtio_devices": [],
          "omitted": {"processes_exited": 0, "processes_over_limit": 0, "namespaces_over_limit": 0, "namespaces_without_mounts": 0}
        }
        """
        #expect(snapshot.jsonText() == expected)
        #expect(try NodeSnapshot(json: expected) == snapshot)
    }

    /// Version 1 (storetrace before 2026-12) wrote every mount as an object
    /// in its namespace; captures of that time still replay.
    @Test func versionOneMountTablesStillRead() throws {
        let old = """
            {"format": "storetrace-node-snapshot", "version": 1,
             "taken_at": {"monotonic_ns": 5, "realtime_ns": 6}, "clock_offsets": {"realtime_minus_monotonic_ns": 1},
             "mount_namespaces": [{"mntns": 9, "process_count": 1, "mounts": [
               {"mount_id": 1, "parent_id": 0, "major": 0, "minor": 2, "root": "/", "mount_point": "/", "options": "rw",
                "optional_fields": ["shared:1"], "fstype": "tmpfs", "source": "none", "super_options": "rw"}]}]}
            """
        let snapshot = try NodeSnapshot(json: old)
        #expect(snapshot.mountNamespaces.first?.mounts == [
            .init(mountID: 1, parentID: 0, major: 0, minor: 2, root: "/", mountPoint: "/", options: "rw",
                  optionalFields: ["shared:1"], fstype: "tmpfs", source: "none", superOptions: "rw"),
        ])
    }

    @Test func snapshotsBeforeHostAndKernelThreadKeysStillRead() throws {
        // As storetrace wrote them before the keys existed: no "host", no
        // "kernel_thread". The initial namespace is known by its fixed inode.
        let old = """
            {"format":"storetrace-node-snapshot","version":1,
             "taken_at":{"monotonic_ns":1,"realtime_ns":2},"clock_offsets":{"realtime_minus_monotonic_ns":1},
             "processes":[{"pid":2,"ppid":0,"comm":"kthreadd","mntns":4026531832}],
             "mount_namespaces":[{"mntns":4026531832,"process_count":1,"owner_pid":2,"owner_comm":"kthreadd"},
                                 {"mntns":4026532201,"process_count":1,"owner_pid":812}]}
            """
        let snapshot = try NodeSnapshot(json: old)
        #expect(snapshot.processes.first?.kernelThread == nil)
        #expect(snapshot.mountNamespaces.map(\.isHost) == [true, false])
        // New snapshots write both, and only when true.
        var new = snapshot
        new.processes[0].kernelThread = true
        let text = new.jsonText(.compact)
        #expect(text.contains(#"{"pid":2,"ppid":0,"comm":"kthreadd","mntns":4026531832,"kernel_thread":true}"#))
        #expect(text.contains(#"{"mntns":4026531832,"host":true,"process_count":1"#))
        #expect(text.contains(#"{"mntns":4026532201,"process_count":1"#))
        #expect(try NodeSnapshot(json: text) == new)
    }

    @Test func stringsAreEscaped() {
        var snapshot = minimalSnapshot()
        snapshot.hostname = "q\"b\\n\nt\tc\u{1}d\u{7f}ü"
        let text = snapshot.jsonText(.compact)
        #expect(text.contains(#""hostname":"q\"b\\n\nt\tc\u0001d\u007fü""#))
    }

    @Test func readerToleratesWhatAnotherWriterMayDo() throws {
        // Unknown keys, nulls for optionals, missing arrays, escaped slashes
        // and surrogate pairs, reordered keys.
        let text = #"""
        {"version": 1, "future_key": {"nested": [1, 2.5e3, true, null]}, "format": "storetrace-node-snapshot",
         "taken_at": {"realtime_ns": 6, "monotonic_ns": 5},
         "clock_offsets": {"realtime_minus_monotonic_ns": -1, "boottime_minus_monotonic_ns": null},
         "hostname": "a\/b \ud83d\ude00 \u00fc", "kernel_release": null,
         "processes": [{"pid": 3, "comm": null, "new": "x"}]}
        """#
        let snapshot = try NodeSnapshot(json: text)
        #expect(snapshot.hostname == "a/b 😀 ü")
        #expect(snapshot.kernelRelease == nil)
        #expect(snapshot.clockOffsets == .init(realtimeMinusMonotonic: -1, boottimeMinusMonotonic: nil))
        #expect(snapshot.processes == [.init(pid: 3)])
        #expect(snapshot.mountNamespaces.isEmpty && snapshot.blockDevices.isEmpty)
    }

    @Test func loneSurrogatesBecomeReplacementCharacters() throws {
        #expect(try JSONValue.parse(#""\ud800x\udc00\ud800\u0041""#) == .string("\u{FFFD}x\u{FFFD}\u{FFFD}A"))
    }

    @Test func everyTruncationIsAnErrorNotACrash() {
        let bytes = Array(fullSnapshot().jsonText().utf8)
        for length in 0..<bytes.count {
            do {
                _ = try NodeSnapshot(json: Array(bytes[..<length]))
                Issue.record("a prefix of \(length) of \(bytes.count) bytes decoded")
            } catch .json(_, let error) {
                #expect(error.offset <= length)
            } catch {
                Issue.record("prefix \(length): \(error)")
            }
        }
    }

    @Test func mutatedDocumentsNeverCrash() {
        let original = Array(fullSnapshot().jsonText(.compact).utf8)
        var random = SplitMix64(state: 42)
        var decoded = 0
        var rejected = 0
        let interesting: [UInt8] = Array("{}[]\",:\\-0123456789eE.tfnu \u{0}\u{ff}".utf8)
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = interesting.randomElement(using: &random)!
                case 1: bytes.remove(at: index)
                default: bytes.insert(interesting.randomElement(using: &random)!, at: index)
                }
            }
            if (try? NodeSnapshot(json: bytes)) != nil { decoded += 1 } else { rejected += 1 }
        }
        #expect(decoded + rejected == 3000)
        #expect(rejected > 1000) // most mutations break the document
    }

    @Test func hostileDocumentsGiveErrors() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        #expect((try? JSONValue.parse(deep)) == nil)
        do {
            _ = try JSONValue.parse(deep)
        } catch {
            #expect(error.reason == "nested deeper than 64")
            #expect(error.offset == 64)
        }

        let manyValues = "[" + Array(repeating: "0", count: 1001).joined(separator: ",") + "]"
        #expect(throws: JSONParseError.self) { try JSONValue.parse(manyValues, limits: JSONLimits(maxValues: 1000)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(manyValues, limits: JSONLimits(maxBytes: 100)) }

        for bad in ["", " ", "nul", "tru", "01", "-", "1.", "1e", "\"\\x\"", "\"\\u12\"", "\"a\u{1}\"", "{\"a\" 1}",
                    "{\"a\":1,}", "[1,]", "[1 2]", "{1:2}", "\"abc", "{} {}", "\u{FEFF}{}", "[\"\\"] {
            #expect(throws: JSONParseError.self, "\(bad.debugDescription)") { try JSONValue.parse(bad) }
        }
    }

    @Test func wrongShapesNameTheirPath() {
        func decodeError(_ text: String) -> JSONDocumentError? {
            do {
                _ = try NodeSnapshot(json: text)
                return nil
            } catch {
                return error
            }
        }
        let head = #""format": "storetrace-node-snapshot", "version": 1, "taken_at": {"monotonic_ns": 1, "realtime_ns": 2}, "clock_offsets": {"realtime_minus_monotonic_ns": 1}"#
        #expect(decodeError("[]") == .wrongType(.nodeSnapshot, path: "(document)", expected: "an object"))
        #expect(decodeError(#"{"version": 1}"#) == .notA(.nodeSnapshot, format: nil))
        #expect(decodeError(#"{"format": "other", "version": 1}"#) == .notA(.nodeSnapshot, format: "other"))
        #expect(decodeError(#"{"format": "storetrace-node-snapshot", "version": 3}"#) == .unsupportedVersion(.nodeSnapshot, 3))
        #expect(decodeError(#"{"format": "storetrace-node-snapshot", "version": "1"}"#) == .wrongType(.nodeSnapshot, path: "version", expected: "an integer"))
        #expect(decodeError(#"{"format": "storetrace-node-snapshot", "version": 1}"#) == .missingKey(.nodeSnapshot, path: "taken_at"))
        #expect(decodeError("{\(head), \"processes\": [{\"pid\": 1}, {\"pid\": 2147483648}]}")
            == .wrongType(.nodeSnapshot, path: "processes[1].pid", expected: "a pid"))
        #expect(decodeError("{\(head), \"processes\": [{\"pid\": 1.5}]}")
            == .wrongType(.nodeSnapshot, path: "processes[0].pid", expected: "a pid"))
        #expect(decodeError("{\(head), \"processes\": [7]}") == .wrongType(.nodeSnapshot, path: "processes[0]", expected: "an object"))
        #expect(decodeError("{\(head), \"block_devices\": [{\"name\": \"a\", \"size_bytes\": -1}]}")
            == .wrongType(.nodeSnapshot, path: "block_devices[0].size_bytes", expected: "a size"))
        #expect(decodeError("{\(head), \"mount_namespaces\": [{\"mntns\": 1, \"mounts\": [{\"mount_id\": 1}]}]}")
            == .missingKey(.nodeSnapshot, path: "mount_namespaces[0].mounts[0].parent_id"))
        let head2 = head.replacingVersion(with: 2)
        let line = #"{"major": 0, "minor": 2, "root": "/", "mount_point": "/", "fstype": "tmpfs"}"#
        #expect(decodeError("{\(head2), \"mount_lines\": [\(line)], \"mount_namespaces\": [{\"mntns\": 1, \"mounts\": [[1, 0, 1]]}]}")
            == .wrongType(.nodeSnapshot, path: "mount_namespaces[0].mounts[0]", expected: "[mount_id, parent_id, line in mount_lines]"))
        #expect(decodeError("{\(head2), \"mount_lines\": [\(line)], \"mount_namespaces\": [{\"mntns\": 1, \"mounts\": [[1, 0]]}]}")
            == .wrongType(.nodeSnapshot, path: "mount_namespaces[0].mounts[0]", expected: "[mount_id, parent_id, line in mount_lines]"))
        #expect(decodeError("{\(head2), \"mount_lines\": [{\"major\": 0}], \"mount_namespaces\": []}")
            == .missingKey(.nodeSnapshot, path: "mount_lines[0].minor"))
        #expect(decodeError("{\(head2), \"mount_lines\": [\(line)], \"mount_namespaces\": [{\"mntns\": 1, \"mounts\": [[1, 0, 0]]}]}") == nil)
        #expect(decodeError("{\(head), \"processes\": [{\"pid\": 1, \"cgroup_v1\": [\"a\", 2]}]}")
            == .wrongType(.nodeSnapshot, path: "processes[0].cgroup_v1[1]", expected: "a string"))
        #expect(decodeError("{\(head)}") == nil)
    }

    @Test func integersKeepTheirFullWidth() throws {
        #expect(try JSONValue.parse("18446744073709551615").integer(as: UInt64.self) == UInt64.max)
        #expect(try JSONValue.parse("18446744073709551616").integer(as: UInt64.self) == nil)
        #expect(try JSONValue.parse("-9223372036854775808").integer(as: Int64.self) == Int64.min)
        #expect(try JSONValue.parse("1e3").integer(as: Int.self) == nil)
        #expect(try JSONValue.parse("-0").integer(as: Int.self) == 0)
    }
}

extension String {
    /// The document head of these tests with another "version".
    fileprivate func replacingVersion(with version: Int) -> String {
        String(split(separator: "\"version\": 1", omittingEmptySubsequences: false).joined(separator: "\"version\": \(version)"))
    }
}

@Suite struct SnapshotTextTests {
    @Test func mountinfoLines() throws {
        let root = try #require(SnapshotText.mount(mountinfoLine:
            "27 1 254:0 / / rw,relatime shared:1 master:4 - ext4 /dev/vda rw,discard,resv_strict"))
        #expect(root == .init(mountID: 27, parentID: 1, major: 254, minor: 0, root: "/", mountPoint: "/",
                              options: "rw,relatime", optionalFields: ["shared:1", "master:4"], fstype: "ext4",
                              source: "/dev/vda", superOptions: "rw,discard,resv_strict"))

        let escaped = try #require(SnapshotText.mount(mountinfoLine:
            #"90 27 0:52 /a\040b /mnt/x\040y\011z\134w\012 rw - tmpfs  rw,size=4k"#))
        #expect(escaped.root == "/a b")
        #expect(escaped.mountPoint == "/mnt/x y\tz\\w\n")
        #expect(escaped.source == "")
        #expect(escaped.optionalFields == [])
        #expect(escaped.superOptions == "rw,size=4k")

        // A backslash not followed by three octal digits stays.
        #expect(SnapshotText.unescapeOctal(#"a\09b\\c\"#) == #"a\09b\\c\"#)
        #expect(SnapshotText.unescapeOctal(#"\777"#) == #"\777"#)

        for bad in ["", "27 1 254:0 / / rw", "x 1 254:0 / / rw - ext4 s o", "27 1 254 / / rw - ext4 s o",
                    "27 1 254:0 / / rw shared:1 ext4 s o", "27 1 254:0 / / rw - ext4"] {
            #expect(SnapshotText.mount(mountinfoLine: bad[...]) == nil, "\(bad)")
        }
    }

    /// A whole table through one parser: the counts, and the strings of a
    /// second namespace's copy of a line sharing the first one's storage.
    @Test func mountinfoTablesShareStrings() throws {
        func table(_ id: Int, _ parent: Int) -> String { """
            27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict
            garbage

            \(id) \(parent) 0:29 / /var/lib/kubelet/pods/7f3e1c2a/volumes rw,nosuid shared:7 master:1 - tmpfs tmpfs rw,size=1024k
            32 27 0:30 / /ends/after/source rw - tmpfs tmpfs
            33 27 0:31 / /over/the/limit rw - tmpfs tmpfs rw

            """ }
        var parser = MountinfoParser()
        var malformed = 0, overLimit = 0
        let first = parser.mounts(table(31, 27), limit: 3, malformed: &malformed, overLimit: &overLimit)
        #expect(first.map(\.mountID) == [27, 31, 32])
        #expect(malformed == 1)
        #expect(overLimit == 1)
        #expect(first[1].optionalFields == ["shared:7", "master:1"])
        #expect(first[2].superOptions == "")
        let second = parser.mounts(table(931, 927), limit: 3,
                                   malformed: &malformed, overLimit: &overLimit)
        #expect(second[1].mountID == 931 && second[1].parentID == 927)
        #expect(second[1] == NodeSnapshot.Mount(
            mountID: 931, parentID: 927, major: 0, minor: 29, root: "/", mountPoint: "/var/lib/kubelet/pods/7f3e1c2a/volumes",
            options: "rw,nosuid", optionalFields: ["shared:7", "master:1"], fstype: "tmpfs", source: "tmpfs",
            superOptions: "rw,size=1024k"))
        func storage(_ string: String) -> UnsafeRawPointer? {
            var string = string
            return string.withUTF8 { UnsafeRawPointer($0.baseAddress) }
        }
        #expect(first[1].line === second[1].line)
        #expect(first[0].line === second[0].line)
        // Lines that differ still share their strings.
        let other = parser.mounts("40 1 0:29 / /var/lib/kubelet/pods/7f3e1c2a/volumes ro - tmpfs tmpfs rw,size=1024k",
                                  malformed: &malformed, overLimit: &overLimit)
        #expect(other[0].line !== first[1].line)
        #expect(storage(other[0].mountPoint) == storage(first[1].mountPoint))
        // (Strings of up to 15 bytes, such as its options, are stored inline: nothing to share.)
    }

    @Test func processStatus() {
        let status = SnapshotText.processStatus("Name:\tmy\\nname\\\\x\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t41\nUid:\t1000\t0\t0\t0\n")
        #expect(status == .init(name: "my\nname\\x", ppid: 41, uid: 1000))
        #expect(SnapshotText.processStatus("garbage") == .init())
    }

    @Test func cgroups() {
        let hybrid = SnapshotText.cgroups("4:memory:/kubepods/pod1\n1:cpu:/\n0::/system.slice/kubelet.service\n")
        #expect(hybrid.v2 == "/system.slice/kubelet.service")
        #expect(hybrid.v1 == ["4:memory:/kubepods/pod1", "1:cpu:/"])
        let unified = SnapshotText.cgroups("0::/\n")
        #expect(unified.v2 == "/" && unified.v1 == nil)
    }

    @Test func sysfsValues() {
        #expect(SnapshotText.activeScheduler("none [mq-deadline] kyber bfq\n") == "mq-deadline")
        #expect(SnapshotText.activeScheduler("none\n") == "none")
        #expect(SnapshotText.activeScheduler("") == nil)
        #expect(SnapshotText.cpuCount(list: "0-1\n") == 2)
        #expect(SnapshotText.cpuCount(list: "0-3,8,10-11") == 7)
        #expect(SnapshotText.cpuCount(list: "3-1") == nil)
        #expect(SnapshotText.cpuCount(list: "") == nil)
        #expect(SnapshotText.deviceNumber("254:16\n")! == (254, 16))
        #expect(SnapshotText.deviceNumber("254") == nil)
        #expect(SnapshotText.namespaceInode(link: "mnt:[4026531832]") == 4_026_531_832)
        #expect(SnapshotText.namespaceInode(link: "mnt:4026531832") == nil)
        #expect(SnapshotText.pciAddress(inDevicePath: "/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda") == "0000:00:02.0")
        #expect(SnapshotText.pciAddress(inDevicePath: "/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/nvme/nvme0/nvme0n1")
            == "0000:02:00.0")
        #expect(SnapshotText.pciAddress(inDevicePath: "/sys/devices/virtual/block/loop0") == nil)
        #expect(!SnapshotText.isPCIAddress("0000:00:02.8"))
        #expect(!SnapshotText.isPCIAddress("pci0000:00"))
    }
}

@Suite struct NodeSnapshotIndexTests {
    @Test func lookups() {
        let index = NodeSnapshotIndex(fullSnapshot())
        #expect(index.comm(pid: 1) == "systemd")
        #expect(index.comm(pid: 2) == nil)
        #expect(index.process(pid: 812)?.mountNamespace == UInt64.max)
        #expect(index.owner(mountNamespace: 4_026_531_832) == .init(pid: 1, comm: "systemd"))
        // No owner comm stored: falls back to the process table.
        #expect(index.owner(mountNamespace: UInt64.max) == .init(pid: 812, comm: "a\\b\n\u{1}ü😀"))
        #expect(index.owner(mountNamespace: 5) == nil)
        #expect(index.pids(inMountNamespace: 4_026_531_832) == [1])
        #expect(index.blockDevice(major: 7, minor: 3)?.loopBackingFile == "/tmp/x (deleted)")
        #expect(index.blockDevice(for: FileRef(device: 254 << 20 | 1, inode: 12))?.name == "vda1")
        #expect(index.blockDevice(major: 0, minor: 52) == nil)
        let partition = index.blockDevice(named: "vda1")!
        #expect(index.wholeDisk(of: partition)?.readAheadKB == 8192)
        #expect(index.pciFunction(address: "0000:01:00.0")?.driverOverride == "vfio-pci")
        let mounts = index.mounts(major: 7, minor: 3)
        #expect(mounts.count == 1 && mounts[0].mount.mountPoint == "/mnt/a b\tc")
        #expect(index.mounts(major: 7, minor: 3, inMountNamespace: UInt64.max).isEmpty)
    }

    @Test func duplicateEntriesDoNotTrap() {
        var snapshot = minimalSnapshot()
        snapshot.processes = [.init(pid: 1, comm: "first"), .init(pid: 1, comm: "second")]
        snapshot.blockDevices = [.init(name: "a", major: 1, minor: 1), .init(name: "a", major: 1, minor: 1)]
        let index = NodeSnapshotIndex(snapshot)
        #expect(index.comm(pid: 1) == "first")
        #expect(index.blockDevice(major: 1, minor: 1)?.name == "a")
    }
}
