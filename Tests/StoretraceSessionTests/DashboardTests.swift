import Foundation
import Glibc
import StoretraceAnalyze
import StoretraceDecode
import StoretraceFixtures
import StoretraceRecords
import StoretraceRender
import Testing
@testable import StoretraceSession

/// A node on fixture events, as `storetrace top` sees them through the
/// pipeline (`DashboardFeed`, with `MountHealthAnalyzer`): a CSI staging
/// mount by a pod, a stuck teardown (umount2 EBUSY ×12, the holders scan
/// after the last), a remount that fails, an unmount of a mount whose
/// loop device reports I/O errors, a target with control characters,
/// copies on vda1 before and after its read_ahead_kb changes, splices from
/// a pipe, uevents and a kernel error; a tick a second.
struct DashboardScenario {
    static let start: UInt64 = 100_000_000_000
    /// Wall time 2026-12-07T03:40:00Z at `start`.
    static let clock = ClockOffset(realtimeMinusMonotonic: 1_796_614_800_000_000_000 - Int64(start))
    static let staging = "/var/lib/kubelet/plugins/kubernetes.io/csi/disk.csi.example.com/3f9a0c1e/globalmount"
    static let podUID = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
    static let podCgroup: UInt64 = 310
    static let holderNamespace: UInt64 = 4_026_532_178

    let feed: DashboardFeed
    let pipeline: Pipeline

    init() {
        let decoder = EventDecoder()
        let (table, json, blockDevices) = Self.table()
        let view = DashboardView(clock: Self.clock, utcOffsetSeconds: 0)
        feed = DashboardFeed(model: DashboardModel(devices: BlockDevicesInForce(blockDevices)), view: view, decoder: decoder)
        feed.model.header.node = "node-a"
        feed.model.header.kernel = "Linux 6.18.44"
        feed.model.header.sources = ["syscall", "uevent", "kmsg", "queue", "holders"].map(DashboardModel.SourceRate.init(name:))
        feed.model.header.refusals = [
            "function tracer: the kernel refused reading /sys/kernel/tracing/available_filter_functions: EPERM (Operation not permitted)",
            "not tracing block-device claims (bd_prepare_to_claim: fexit load refused (EPERM)); holders of a busy device come from the scan",
        ]
        feed.model.header.startedAt = Self.start
        feed.model.header.now = Self.start
        pipeline = Pipeline(filter: EventFilter(), decoder: decoder, consumers: [feed], merging: false)
        pipeline.add(MountHealthAnalyzer(pipeline: pipeline))
        pipeline.add(feed)
        pipeline.updateDevices(table, json: json, timestamp: Self.start)
        let u = Self.podUID.replacingOccurrences(of: "-", with: "_")
        let path = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(u).slice/cri-containerd-3b1f0c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9.scope"
        decoder.pods.insert(CgroupPathCodec.Entry(cgroupID: Self.podCgroup, pid: 0, source: .cgroupID, path: Array(path.utf8)))
        // The holder is in a pod of its own (live: its /proc/PID/cgroup).
        feed.podOfProcess = { pid in
            pid == 812 ? PodCgroup(qos: .burstable, podUID: Array("9a8b7c6d-1234-4e8f-9a0b-aabbccddeeff".utf8), containerID: nil,
                                   runtime: nil, driver: .systemd) : nil
        }
    }

    /// vda (254:0) with vda1, loop1 (7:1) backed by /srv/data.img mounted at
    /// /mnt/data in the host and in the holder's namespace.
    static func table() -> (DeviceTable, [UInt8], [NodeSnapshot.BlockDevice]) {
        var snapshot = NodeSnapshot(takenAt: .init(monotonicNanoseconds: Int64(start), realtimeNanoseconds: 6),
                                    clockOffsets: .init(realtimeMinusMonotonic: 1))
        snapshot.blockDevices = [
            .init(name: "vda", major: 254, minor: 0, sizeBytes: 1 << 38, readAheadKB: 128),
            .init(name: "vda1", parent: "vda", partitionNumber: 1, major: 254, minor: 1, sizeBytes: 1 << 37),
            .init(name: "loop1", major: 7, minor: 1, sizeBytes: 1 << 26, readAheadKB: 128, loopBackingFile: "/srv/data.img",
                  loopOffset: 0, loopBackingFileSize: 1 << 26, loopAutoclear: false),
        ]
        let mount = { (id: Int, major: UInt32, minor: UInt32, point: String, fstype: String) in
            NodeSnapshot.Mount(mountID: id, parentID: 1, major: major, minor: minor, root: "/", mountPoint: point,
                               options: "rw", fstype: fstype, source: "/dev/x", superOptions: "rw")
        }
        snapshot.mountNamespaces = [
            .init(inode: initialMountNamespaceInode, processCount: 90,
                  mounts: [mount(30, 254, 1, "/", "ext4"), mount(41, 7, 1, "/mnt/data", "ext4")], isHost: true),
            .init(inode: holderNamespace, processCount: 1, ownerPID: 812, ownerComm: "sleep",
                  mounts: [mount(71, 7, 1, "/mnt/data", "ext4")]),
        ]
        let json = Array(snapshot.jsonText(.compact).utf8)
        return (DeviceTable(try! NodeSnapshot(json: json)), json, snapshot.blockDevices)
    }

    // MARK: Records

    func submit(_ source: SourceKind, _ bytes: [UInt8], at timestamp: UInt64) {
        bytes.withUnsafeBytes { pipeline.process(RawRecord(source: source, timestamp: timestamp, bytes: $0)) }
    }

    func call(_ kind: SyscallKind, at timestamp: UInt64, comm: String, pid: UInt32, strings: [String?], ret: Int64 = 0,
              latency: UInt64 = 20_000, mntns: UInt32 = UInt32(truncatingIfNeeded: initialMountNamespaceInode),
              cgroup: UInt64 = 1, args: [UInt64] = [0, 0, 0, 0, 0, 0], detail: [UInt64] = [0, 0, 0, 0, 0, 0]) {
        var builder = RecordBuilder(kind, at: timestamp, pid: pid, strings: strings, ret: ret)
        builder.comm = comm
        builder.latency = latency
        builder.mntns = mntns
        builder.cgroupID = cgroup
        builder.args = args
        builder.detail = detail
        submit(.syscall, builder.bytes, at: timestamp)
    }

    func copy(at timestamp: UInt64, device: UInt64, bytes: Int64, latency: UInt64, kind: SyscallKind = .copyFileRange,
              names: (String, String) = ("a.bin", "b.bin")) {
        call(kind, at: timestamp, comm: "io-copy", pid: 4400, strings: [names.0, names.1], ret: bytes, latency: latency,
             args: [3, 0, 4, 0, UInt64(bytes), 0], detail: [12, device, 13, device, 0, 0])
    }

    func holders(explaining timestamp: UInt64, pid: UInt32, scannedAt: UInt64) {
        let report = HolderReport(
            target: .init(given: Self.staging, kind: .path, mountID: 63, mountNamespace: initialMountNamespaceInode,
                          mountPoint: Self.staging, root: "/", fstype: "ext4", source: "/dev/loop1", peerGroup: 2, major: 7, minor: 1),
            scannedAtMonotonicNanoseconds: Int64(scannedAt), durationNanoseconds: 3_100_000,
            holders: [.init(how: .cwd, via: .peer(group: 2), pid: 812, comm: "sleep", mountNamespace: Self.holderNamespace,
                            path: Self.staging, mountID: 69),
                      .init(how: .mount, via: .peer(group: 2), mountNamespace: Self.holderNamespace, path: Self.staging, mountID: 69)],
            namespaces: [.init(inode: initialMountNamespaceInode, isHost: true, pid: 1, comm: "systemd", processCount: 90),
                         .init(inode: Self.holderNamespace, isHost: false, pid: 812, comm: "sleep", processCount: 1)],
            counts: .init(processes: 91, mountNamespaces: 2, mounts: 40, entriesUnreadable: 1))
        let explained = HoldersRecordCodec.Explained(timestamp: timestamp, pid: pid, tid: pid, type: Array("umount".utf8), comm: Array("kubelet".utf8))
        submit(.holders, HoldersRecordCodec.encode(explained, reportJSON: report.jsonText()), at: scannedAt)
    }

    func uevent(_ text: String, at timestamp: UInt64) { submit(.uevent, Array(text.utf8), at: timestamp) }
    func kmsg(_ text: String, at timestamp: UInt64) { submit(.kmsg, Array(text.utf8), at: timestamp) }

    func queueSetting(_ change: QueueSettingChange, at timestamp: UInt64) {
        submit(.queueSetting, QueueSettingCodec.encode(change), at: timestamp)
    }

    func tick(at timestamp: UInt64, lost: UInt64 = 0) {
        let counts = pipeline.counts
        let kinds: [SourceKind] = [.syscall, .uevent, .kmsg, .queueSetting, .holders]
        feed.model.tick(at: timestamp, sourceTotals: kinds.map { counts.bySource[$0.index] }, shownTotal: counts.shown,
                        filteredTotal: counts.filteredOut, lost: lost, lossDetail: lost > 0 ? "\(lost) ring buffer full" : "")
    }

    /// The whole story: two seconds of a node whose CSI teardown is stuck.
    static func stuckTeardown() -> DashboardScenario {
        let scenario = DashboardScenario()
        let s = start
        let ms: UInt64 = 1_000_000
        scenario.tick(at: s + 1_000 * ms)
        // The CSI node plugin (a pod) stages the volume.
        scenario.call(.mount, at: s + 1_010 * ms, comm: "csi-node", pid: 2100, strings: ["/dev/loop1", staging, "ext4", nil],
                      cgroup: podCgroup)
        // kubelet tries to tear it down, a dozen times; a sleep in another namespace has its cwd there.
        for attempt in 0..<12 {
            scenario.call(.umount, at: s + (1_100 + UInt64(attempt) * 50) * ms, comm: "kubelet", pid: 1900 + UInt32(attempt),
                          strings: [staging], ret: -16, latency: 9_370)
        }
        let lastAttempt = s + (1_100 + 11 * 50) * ms
        scenario.holders(explaining: lastAttempt, pid: 1911, scannedAt: lastAttempt + 3 * ms)
        // Mounts and unmounts of a pod's own volume, and a remount that fails.
        for round in 0..<4 {
            let at = s + (1_200 + UInt64(round) * 100) * ms
            scenario.call(.mount, at: at, comm: "csi-node", pid: 2101, strings: ["tmpfs", "/var/lib/kubelet/pods/\(podUID)/volumes/kubernetes.io~empty-dir/cache", "tmpfs", nil],
                          cgroup: podCgroup)
            scenario.call(.umount, at: at + 40 * ms, comm: "csi-node", pid: 2101,
                          strings: ["/var/lib/kubelet/pods/\(podUID)/volumes/kubernetes.io~empty-dir/cache"], cgroup: podCgroup)
        }
        scenario.call(.mount, at: s + 1_300 * ms, comm: "mount", pid: 3000, strings: ["none", "/srv/ro", nil, nil], ret: -22,
                      args: [0, 0, 0, 0x21, 0, 0])
        // loop1 reports an I/O error; then its unmount fails.
        scenario.kmsg("3,812,\(1_400_000),-;I/O error, dev loop1, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n",
                      at: s + 1_400 * ms)
        scenario.call(.umount, at: s + 1_450 * ms, comm: "umount", pid: 3100, strings: ["/mnt/data"], ret: -16, latency: 6_020)
        // A hostile name: escape, CSI, BEL and a bidi override in the path and the comm.
        scenario.call(.umount, at: s + 1_460 * ms, comm: "x\u{1B}[31mred", pid: 3200, strings: ["/tmp/evil\u{1B}[2J\u{07}\u{202E}gnp.exe"],
                      ret: -22, latency: 3_000)
        // Copies on vda1: 1 MiB each, 2 ms; read_ahead_kb of vda goes 128 -> 4096; faster copies after.
        for index in 0..<10 {
            scenario.copy(at: s + (1_500 + UInt64(index) * 20) * ms, device: 254 << 20 | 1, bytes: 1 << 20, latency: 2_000_000)
        }
        // Splices from a pipe (no block device).
        for index in 0..<3 {
            scenario.copy(at: s + (1_520 + UInt64(index) * 20) * ms, device: 12, bytes: 65_536, latency: 40_000, kind: .splice,
                          names: ("pipe:[1234]", "out.log"))
        }
        scenario.uevent("add@/devices/virtual/block/loop2\0ACTION=add\0DEVPATH=/devices/virtual/block/loop2\0SUBSYSTEM=block\0MAJOR=7\0MINOR=2\0DEVNAME=loop2\0DEVTYPE=disk\0SEQNUM=5120\0",
                        at: s + 1_700 * ms)
        scenario.uevent("change@/devices/virtual/block/loop2\0ACTION=change\0DEVPATH=/devices/virtual/block/loop2\0SUBSYSTEM=block\0MAJOR=7\0MINOR=2\0DEVNAME=loop2\0DEVTYPE=disk\0SEQNUM=5121\0",
                        at: s + 1_710 * ms)
        scenario.uevent("bind@/devices/pci0000:00/0000:00:06.0\0ACTION=bind\0DEVPATH=/devices/pci0000:00/0000:00:06.0\0SUBSYSTEM=pci\0DRIVER=nvme\0PCI_SLOT_NAME=0000:00:06.0\0SEQNUM=5122\0",
                        at: s + 1_720 * ms)
        scenario.tick(at: s + 2_000 * ms)
        scenario.queueSetting(QueueSettingChange(major: 254, minor: 0, device: Array("vda".utf8), setting: .readAheadKB,
                                                 old: Array("128".utf8), new: Array("4096".utf8)), at: s + 2_100 * ms)
        for index in 0..<20 {
            scenario.copy(at: s + (2_200 + UInt64(index) * 30) * ms, device: 254 << 20 | 1, bytes: 1 << 20, latency: 1_000_000)
        }
        scenario.tick(at: s + 3_000 * ms, lost: 3)
        return scenario
    }
}

@Suite struct DashboardTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The screen compared with a golden file; a mismatch writes what was
    /// drawn beside it (NAME.actual) to look at.
    static func expectGolden(_ screen: Screen, _ name: String) throws {
        let path = fixtures.appendingPathComponent(name).path
        let drawn = screen.text() + "--- styles\n" + screen.styleText()
        let expected = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        if drawn != expected { try? drawn.write(toFile: path + ".actual", atomically: true, encoding: .utf8) }
        #expect(drawn == expected, "\(name) differs; drawn:\n\(drawn)")
    }

    @Test func mainScreenAt80x24() throws {
        let scenario = DashboardScenario.stuckTeardown()
        let screen = scenario.feed.view.draw(scenario.feed.model, state: DashboardViewState(), width: 80, height: 24)
        try Self.expectGolden(screen, "dashboard-80x24.txt")
    }

    @Test func mainScreenAt200x50() throws {
        let scenario = DashboardScenario.stuckTeardown()
        let screen = scenario.feed.view.draw(scenario.feed.model, state: DashboardViewState(), width: 200, height: 50)
        try Self.expectGolden(screen, "dashboard-200x50.txt")
    }

    /// Enter on the stuck teardown: who holds it, then its last calls as `live` prints them.
    @Test func failureDetailAt80x24() throws {
        let scenario = DashboardScenario.stuckTeardown()
        let view = scenario.feed.view
        var state = DashboardViewState()
        let order = view.failureOrder(scenario.feed.model, state: state)
        let stuck = try #require(scenario.feed.model.failures.values.first { $0.count == 12 })
        // Newest first: the stuck umount2 (its last attempt) leads; the first
        // down selects it, two more go past it, up twice comes back.
        #expect(order.first == stuck.id && order.count == 4)
        #expect(state.handle(.down, failures: order) == .redraw && state.selected == stuck.id)
        #expect(state.handle(.down, failures: order) == .redraw && state.selected == order[1])
        #expect(state.handle(.character("j"), failures: order) == .redraw && state.selected == order[2])
        #expect(state.handle(.up, failures: order) == .redraw && state.handle(.character("k"), failures: order) == .redraw)
        #expect(state.selected == stuck.id)
        #expect(state.handle(.up, failures: order) == .none && state.selected == stuck.id) // stays at the top
        #expect(state.handle(.enter, failures: order) == .redraw)
        #expect(state.page == .failure(id: stuck.id))
        try Self.expectGolden(view.draw(scenario.feed.model, state: state, width: 80, height: 24), "dashboard-detail-80x24.txt")
    }

    /// f with text, s, p: the filter keeps matching rows of every pane, the
    /// sort puts the most frequent failure first.
    @Test func filterAndSortAt80x24() throws {
        let scenario = DashboardScenario.stuckTeardown()
        let view = scenario.feed.view
        var state = DashboardViewState()
        for key in DashboardKey.decode(Array("fLOOP\r".utf8)) + DashboardKey.decode(Array("s".utf8)) {
            _ = state.handle(key, failures: view.failureOrder(scenario.feed.model, state: state))
        }
        #expect(state.filter == "LOOP" && state.sort == .count && state.prompt == nil)
        try Self.expectGolden(view.draw(scenario.feed.model, state: state, width: 80, height: 24), "dashboard-filter-80x24.txt")
    }

    /// No byte of a name from the node reaches the grid as a control: ESC,
    /// BEL and the bidi override are spelled \xNN.
    @Test func namesAreEscaped() throws {
        let scenario = DashboardScenario.stuckTeardown()
        let screen = scenario.feed.view.draw(scenario.feed.model, state: DashboardViewState(), width: 200, height: 50)
        #expect(screen.text().contains("/tmp/evil\\x1b[2J\\x07\\xe2\\x80\\xaegnp.exe EINVAL"))
        for cell in screen.cells {
            let value = cell.scalar.value
            #expect(cell.isContinuation || (value >= 0x20 && !(0x7F...0x9F).contains(value) && value != 0x202E))
        }
        let bytes = screen.ansiUpdate(from: nil, color: true)
        // Only the escape sequences of the update itself: every ESC starts a CSI.
        for (index, byte) in bytes.enumerated() where byte == 0x1B { #expect(bytes[index + 1] == UInt8(ascii: "[")) }
        #expect(!bytes.contains(0x07))
    }

    /// Every page at sizes from the smallest up: no row wider than the
    /// screen, the footer on the last row; below the smallest, one line says so.
    @Test func everySizeFits() throws {
        let scenario = DashboardScenario.stuckTeardown()
        let view = scenario.feed.view
        let stuck = try #require(scenario.feed.model.failures.values.first { $0.count == 12 })
        var pages = [DashboardViewState(), DashboardViewState(), DashboardViewState()]
        pages[1].page = .help
        pages[2].page = .failure(id: stuck.id)
        pages[2].scroll = 1000
        for width in stride(from: 40, through: 240, by: 11) {
            for height in stride(from: 10, through: 70, by: 6) {
                for state in pages {
                    let screen = view.draw(scenario.feed.model, state: state, width: width, height: height)
                    let rows = screen.text().split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                    #expect(rows.count == height)
                    #expect(rows.allSatisfy { Screen.columns(of: String($0)) <= width }, "\(width)x\(height)")
                    #expect(rows.last?.contains("sort: newest") == true, "\(width)x\(height): \(rows.last ?? "")")
                }
            }
        }
        #expect(view.draw(scenario.feed.model, state: DashboardViewState(), width: 39, height: 9).text()
                == "storetrace top needs 40x10; this termi…\n" + String(repeating: "\n", count: 8))
        #expect(view.draw(scenario.feed.model, state: DashboardViewState(), width: 60, height: 3).text()
                == "storetrace top needs 40x10; this terminal is 60x3\n\n\n")
    }

    /// The model's counts, exactly: what the panes are drawn from.
    @Test func modelCounts() throws {
        let model = DashboardScenario.stuckTeardown().feed.model
        let stuck = try #require(model.failures.values.first { $0.count == 12 })
        #expect(stuck.kind == .umount && stuck.errno == 16 && String(decoding: stuck.subject, as: UTF8.self) == DashboardScenario.staging)
        #expect(stuck.recent.count == 12 && stuck.latest.pid == 1911)
        #expect(stuck.holders?.holders.first?.pid == 812)
        #expect(model.failedCalls == 15 && model.failures.count == 4)
        let pod = try #require(model.activity[.pod(uid: Array(DashboardScenario.podUID.utf8), qos: .besteffort)])
        #expect(pod.mounts.total == 5 && pod.umounts.total == 4 && pod.failures.total == 0)
        let host = try #require(model.activity[.namespace(initialMountNamespaceInode)])
        #expect(host.failures.total == 15 && host.mounts.total == 0)
        let vda1 = try #require(model.copies[BlockDevicesInForce.key(254, 1)])
        #expect(vda1.calls.total == 30 && vda1.bytes.total == 30 << 20 && vda1.readAheadKB == 4096)
        // 20 MiB in the last second: 200 tenths of MiB/s; 20 calls/s.
        #expect(vda1.bytes.tenthsPerSecond >> 20 == 200 && vda1.calls.tenthsPerSecond == 200)
        #expect(model.readAheadChange(of: vda1).map { [$0.before, $0.now] } == [128, 4096])
        #expect(model.unhealthy.map(\.mount.mountPoint) == ["/mnt/data", "/mnt/data"])
        #expect(model.deviceEvents.count == 3 && model.ueventChanges == 1 && model.kernelErrors.count == 1)
        #expect(model.header.lost == 3 && model.header.sources.map(\.events.total) == [57, 3, 1, 1, 1])
    }
}
