import Testing
@testable import StoretraceAnalyze
@testable import StoretraceDecode
@testable import StoretraceRender


/// Device names and numbers in events, resolved against a device table and
/// annotated with the device's mounts in every namespace.
@Suite struct DeviceAnnotationTests {
    static func table() -> DeviceTable {
        var snapshot = NodeSnapshot(takenAt: .init(monotonicNanoseconds: 5, realtimeNanoseconds: 6),
                                    clockOffsets: .init(realtimeMinusMonotonic: 1))
        snapshot.blockDevices = [
            .init(name: "loop0", major: 7, minor: 0, sizeBytes: 67_108_864, loopBackingFile: "/tmp/dt.img",
                  loopOffset: 0, loopBackingFileSize: 65_536, loopAutoclear: false),
        ]
        let mount = { (id: Int, point: String) in
            NodeSnapshot.Mount(mountID: id, parentID: 1, major: 7, minor: 0, root: "/", mountPoint: point,
                               options: "rw", fstype: "ext4", source: "/dev/loop0", superOptions: "rw")
        }
        snapshot.mountNamespaces = [
            .init(inode: 4_026_531_832, processCount: 0, mounts: [mount(30, "/mnt/x")], isHost: true),
            .init(inode: 4_026_532_178, processCount: 0, ownerPID: 812, ownerComm: "sleep",
                  mounts: [mount(90, "/var/lib/\u{1B}[31mx")]),
        ]
        return DeviceTable(snapshot)
    }

    static let annotation = "  ↳ loop0 (7:0) mounted at /mnt/x in host, /var/lib/\\x1b[31mx in mnt:4026532178 (sleep[812]); "
        + "its backing file /tmp/dt.img has 65536 bytes, the device claims 67108864\n"

    func kmsg(_ record: String, json: Bool) throws -> String {
        var out = OutputBuffer()
        try Array(record.utf8).withUnsafeBytes { bytes in
            let parsed = try KmsgRecord(parsing: bytes)
            if json {
                var renderer = JSONRenderer(clock: clock)
                renderer.devices = DeviceAnnotations(Self.table())
                renderer.renderKmsg(parsed, monotonic: 1_000_000_000, into: &out)
            } else {
                var renderer = TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
                renderer.devices = DeviceAnnotations(Self.table())
                renderer.renderKmsg(parsed, monotonic: 1_000_000_000, into: &out)
            }
        }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// The mount point is escaped for the terminal (a hostile name cannot paint it).
    @Test func kmsgLineGetsTheMountsOfItsDevice() throws {
        let text = try kmsg("3,405,1432597787,-;EXT4-fs error (device loop0): __ext4_find_entry:1613: inode #2: comm ls: reading directory lblock 0\n", json: false)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3)
        #expect(lines[0].hasSuffix("<3>err EXT4-fs error (device loop0): __ext4_find_entry:1613: inode #2: comm ls: reading directory lblock 0"))
        #expect(String(lines[1]) + "\n" == Self.annotation)
    }

    @Test func kmsgJSONFillsDeviceAndBlockDevice() throws {
        let line = try kmsg("3,406,1432597790,-;I/O error, dev loop0, sector 8742 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2\n", json: true)
        #expect(line.hasSuffix(#""subsystem":null,"device":"b7:0","resolved_device":{"name":"loop0","major":7,"minor":0,"known":true,"gone":false,"loop_backing_file":"/tmp/dt.img","loop_backing_file_short":true,"mounts":[{"mount_point":"/mnt/x","mntns":4026531832,"host":true,"mount_id":30,"fstype":"ext4","partition":null},{"mount_point":"/var/lib/\u001b[31mx","mntns":4026532178,"host":false,"mount_id":90,"fstype":"ext4","partition":null}],"pattern":"block_error","problem":"io_error"}}"# + "\n"), "\(line)")
    }

    /// The field note's case: a device named that no longer exists.
    @Test func unknownDeviceIsSaidSo() throws {
        let text = try kmsg("3,9,1,-;EXT4-fs error (device vde): ext4_find_entry:1463: inode #2: comm kubelet: reading directory lblock 0\n", json: false)
        #expect(text.hasSuffix("\n  ↳ vde: no block device of that name in the device table\n"))
        let json = try kmsg("3,9,1,-;EXT4-fs error (device vde): ext4_find_entry:1463: inode #2: comm kubelet: reading directory lblock 0\n", json: true)
        #expect(json.hasSuffix(#""device":null,"resolved_device":{"name":"vde","major":null,"minor":null,"known":false,"gone":null,"loop_backing_file":null,"loop_backing_file_short":null,"mounts":[],"pattern":"ext4_error","problem":"fs_error"}}"# + "\n"))
        // A leading word nobody knows is no device at all.
        #expect(try kmsg("6,10,1,-;loop: module loaded\n", json: true).hasSuffix(#""device":null,"resolved_device":null}"# + "\n"))
        #expect(!(try kmsg("6,10,1,-;loop: module loaded\n", json: false)).contains("↳"))
    }

    /// block:block_rq_error as this kernel's format file describes it.
    static let rqError = try! EventFormat(parsing: Array("""
        name: block_rq_error
        ID: 2106
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

        \tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;
        \tfield:sector_t sector;\toffset:16;\tsize:8;\tsigned:0;
        \tfield:unsigned int nr_sector;\toffset:24;\tsize:4;\tsigned:0;
        \tfield:int error;\toffset:28;\tsize:4;\tsigned:1;
        \tfield:unsigned short ioprio;\toffset:32;\tsize:2;\tsigned:0;
        \tfield:char rwbs[10];\toffset:34;\tsize:10;\tsigned:0;
        \tfield:__data_loc char[] cmd;\toffset:44;\tsize:4;\tsigned:0;

        print fmt: "%d,%d %s (%s) %llu + %u %s,%u,%u [%d]", ((unsigned int) ((REC->dev) >> 20)), ((unsigned int) ((REC->dev) & ((1U << 20) - 1))), REC->rwbs, __get_str(cmd), (unsigned long long)REC->sector, REC->nr_sector, REC->error
        """.utf8))

    /// Completed in softirq (common_flags 0x10... with irqs off 0x01) on
    /// ksoftirqd/0 (pid 14): dev 7340032 is loop0.
    static func rqErrorRecord(flags: UInt8) -> [UInt8] {
        var bytes = le16(2106) + [flags, 0x01] + le32(14)
        bytes += le32(7_340_032) + le32(0)                  // dev, padding
        bytes += le64(16902) + le32(98) + le32(UInt32(bitPattern: -5)) + le16(16388)
        bytes += Array("RA".utf8) + [UInt8](repeating: 0, count: 8)
        bytes += le32(UInt32(48) | 1 << 16)                   // cmd: offset 48, length 1
        bytes += [0]
        return bytes
    }

    func ftrace(flags: UInt8, json: Bool) throws -> String {
        let catalog = FtraceEventCatalog(formats: [("block", Self.rqError)])
        var out = OutputBuffer()
        let task = TaskIdentity(tgid: 14, comm: Array("ksoftirqd/0".utf8))
        try Self.rqErrorRecord(flags: flags).withUnsafeBytes { bytes in
            let view = try catalog.view(bytes)
            #expect(view.deviceNumber! == (7, 0))
            if json {
                var renderer = JSONRenderer(clock: clock)
                renderer.devices = DeviceAnnotations(Self.table())
                renderer.renderFtrace(view, monotonic: 1_000_000_000, cpu: 0, task: task, describe: { _ in "" }, into: &out)
            } else {
                var renderer = TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
                renderer.devices = DeviceAnnotations(Self.table())
                renderer.renderFtrace(view, monotonic: 1_000_000_000, cpu: 0, task: task, describe: { _ in "" }, into: &out)
            }
        }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func tracepointDeviceNumberAndSoftirqContext() throws {
        let text = try ftrace(flags: 0x11, json: false)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0].contains("  in softirq  "), "\(text)")
        #expect(!text.contains("ksoftirqd"))
        #expect(lines[0].hasSuffix(#"block:block_rq_error dev=7:0 sector=16902 nr_sector=98 error=-5 ioprio=16388 rwbs="RA" cmd="" cpu=0"#), "\(text)")
        #expect(String(lines[1]) + "\n" == Self.annotation)
        // In task context the thread is the actor, as before.
        #expect(try ftrace(flags: 0x00, json: false).contains("ksoftirqd/0[14]"))

        let json = try ftrace(flags: 0x11, json: true)
        #expect(json.contains(#""pid":14,"tid":14,"comm":"ksoftirqd/0","cpu":0,"context":"softirq","event":"block:block_rq_error","fields":{"dev":7340032,"#), "\(json)")
        #expect(json.contains(#"},"resolved_device":{"name":"loop0","major":7,"minor":0,"known":true,"#), "\(json)")
        #expect(try ftrace(flags: 0x08, json: true).contains(#""context":"hardirq""#))
    }
}

/// The tracker behind `mount_health`: each cause once per mount, counts since the first.
@Suite struct MountHealthTrackerTests {
    @Test func firstOfEachCausePerMountWithCounts() {
        let table = DeviceAnnotationTests.table()
        var reported: [MountHealth] = []
        let tracker = MountHealthTracker { reported.append($0) }
        let loop = table.index(major: 7, minor: 0)!
        tracker.logged(.ioError, device: loop, table: table, timestamp: 100) { "I/O error, dev loop0, sector 8742" }
        tracker.logged(.ioError, device: loop, table: table, timestamp: 110) { Issue.record("only the first is described"); return "" }
        tracker.logged(.filesystemError, device: loop, table: table, timestamp: 120) { "EXT4-fs error (device loop0)" }
        // Both mounts (host and the pod's namespace), io_error then fs_error.
        #expect(reported.map(\.mount.mountPoint) == ["/mnt/x", "/var/lib/\u{1B}[31mx", "/mnt/x", "/var/lib/\u{1B}[31mx"])
        #expect(reported.map(\.cause) == [.ioError, .ioError, .filesystemError, .filesystemError])
        #expect(reported[2].ioErrors == 2 && reported[2].filesystemErrors == 1)
        #expect(reported[2].firstProblem == 100 && reported[2].timestamp == 120)
        #expect(reported[2].causes == [.ioError, .filesystemError])
        #expect(tracker.unhealthy.count == 2)
        #expect(tracker.unhealthy[0].ioErrors == 2)

        // The table says the backing file is short: from an empty table, that is new.
        tracker.tableChanged(from: .empty, to: table, timestamp: 130)
        #expect(reported.count == 6 && reported[4].cause == .backingFileShort)
        // Unchanged since: nothing more.
        tracker.tableChanged(from: table, to: table, timestamp: 140)
        #expect(reported.count == 6)
    }

    @Test func boundedByItsLimit() {
        let table = DeviceAnnotationTests.table()
        var reported = 0
        let tracker = MountHealthTracker(limit: 1) { _ in reported += 1 }
        tracker.logged(.ioError, device: 0, table: table, timestamp: 1) { "x" }
        #expect(reported == 1 && tracker.overLimit == 1 && tracker.unhealthy.count == 1)
    }

    @Test func textAndJSON() {
        var health = MountHealth(mount: DeviceAnnotationTests.table().devices[0].mounts[0], deviceName: "loop0", major: 7, minor: 0,
                                 cause: .ioError, detail: "I/O error, dev loop0, sector 8742", timestamp: 1_000_000_000)
        health.ioErrors = 1
        health.causes = [.ioError]
        var out = OutputBuffer()
        TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock).renderMountHealth(health, into: &out)
        let text = String(decoding: out.bytes, as: UTF8.self)
        #expect(text.hasSuffix("[mount_health]                                    /mnt/x in host: io_error on loop0 (7:0), 1 I/O error and 0 fs errors since 14:07:31.123456: I/O error, dev loop0, sector 8742\n"), "\(text)")
        out.removeAll()
        JSONRenderer(clock: clock).renderMountHealth(health, into: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self) == #"{"time":"2026-11-23T14:07:31.123456789Z","type":"mount_health","pid":null,"tid":null,"comm":null,"mount":{"mount_point":"/mnt/x","mntns":4026531832,"host":true,"mount_id":30,"fstype":"ext4","partition":null},"device":{"name":"loop0","major":7,"minor":0},"cause":"io_error","causes":["io_error"],"detail":"I/O error, dev loop0, sector 8742","first_problem_time":"2026-11-23T14:07:31.123456789Z","io_errors":1,"fs_errors":0}"# + "\n")
    }
}
