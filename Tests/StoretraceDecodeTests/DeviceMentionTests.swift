import Testing
@testable import StoretraceDecode

/// Every pattern of `KmsgDevicePatterns.table` on a line the kernel prints
/// (from this machine's 6.18 kernel where it can make them, else copied
/// from the kernel's format strings with real values).
@Suite struct DeviceMentionTests {
    struct Case: CustomStringConvertible, Sendable {
        var message: String
        var severe: Bool
        var pattern: String
        var name: String
        var role: KmsgDevicePattern.NameRole
        var problem: DeviceProblem?
        var description: String { message }
    }

    static let cases: [Case] = [
        // ext4: fs/ext4/super.c __ext4_error, __ext4_std_error, __ext4_warning, ext4_msg
        Case(message: "EXT4-fs error (device loop0): __ext4_find_entry:1613: inode #2: comm ls: reading directory lblock 0",
             severe: true, pattern: "ext4_error", name: "loop0", role: .blockDevice, problem: .filesystemError),
        Case(message: "EXT4-fs error (device loop1) in ext4_reserve_inode_write:6385: IO failure",
             severe: true, pattern: "ext4_error", name: "loop1", role: .blockDevice, problem: .filesystemError),
        Case(message: "EXT4-fs warning (device loop1): htree_dirblock_to_tree:1051: inode #2: lblock 0: comm ls: error -5 reading directory block",
             severe: false, pattern: "ext4_warning", name: "loop1", role: .blockDevice, problem: .ioError),
        Case(message: "EXT4-fs (loop0): mounted filesystem 5bd82adf-5322-4cf6-a548-153579d2d613 r/w with ordered data mode. Quota mode: none.",
             severe: false, pattern: "ext4", name: "loop0", role: .blockDevice, problem: nil),
        Case(message: "EXT4-fs (vde): Remounting filesystem read-only",
             severe: true, pattern: "ext4", name: "vde", role: .blockDevice, problem: .filesystemError),
        // xfs: fs/xfs/xfs_message.c "XFS (%s): "
        Case(message: "XFS (sdb1): metadata I/O error in \"xfs_imap_to_bp+0x5c/0xa0 [xfs]\" at daddr 0x80 len 32 error 5",
             severe: true, pattern: "xfs", name: "sdb1", role: .blockDevice, problem: .filesystemError),
        Case(message: "XFS (sdb1): Mounting V5 Filesystem 0d5e1a3c-7f7e-4d7b-9a43-1d2f0c6b9e11",
             severe: false, pattern: "xfs", name: "sdb1", role: .blockDevice, problem: nil),
        // btrfs: fs/btrfs/messages.c "BTRFS %s (device %s%s%s): "
        Case(message: "BTRFS error (device sdc): bdev /dev/sdc errs: wr 0, rd 1, flush 0, corrupt 0, gen 0",
             severe: true, pattern: "btrfs_error", name: "sdc", role: .blockDevice, problem: .filesystemError),
        Case(message: "BTRFS error (device sdc state EA): level verify failed on logical 30441472 mirror 1 wanted 1 found 0",
             severe: true, pattern: "btrfs_error", name: "sdc", role: .blockDevice, problem: .filesystemError),
        Case(message: "BTRFS critical (device loop2): corrupt leaf: root=5 block=30425088 slot=3, invalid key objectid",
             severe: true, pattern: "btrfs_critical", name: "loop2", role: .blockDevice, problem: .filesystemError),
        Case(message: "BTRFS warning (device sdc): csum failed root 5 ino 257 off 0 csum 0x98f94189 expected csum 0x8941f998 mirror 1",
             severe: false, pattern: "btrfs_warning", name: "sdc", role: .blockDevice, problem: .ioError),
        Case(message: "BTRFS info (device loop2): first mount of filesystem 1b3c6a1e-2f3d-4e5a-8b7c-9d0e1f2a3b4c",
             severe: false, pattern: "btrfs_info", name: "loop2", role: .blockDevice, problem: nil),
        // the buffer cache: fs/buffer.c buffer_io_error
        Case(message: "Buffer I/O error on dev loop0, logical block 2, async page read",
             severe: true, pattern: "buffer_io_error", name: "loop0", role: .blockDevice, problem: .ioError),
        // the block layer: block/blk-mq.c blk_print_req_error (and older kernels' blk_update_request)
        Case(message: "I/O error, dev loop0, sector 8742 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2",
             severe: true, pattern: "block_error", name: "loop0", role: .blockDevice, problem: .ioError),
        Case(message: "blk_update_request: I/O error, dev sda, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0",
             severe: true, pattern: "block_error", name: "sda", role: .blockDevice, problem: .ioError),
        Case(message: "critical medium error, dev nvme0n1, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
             severe: true, pattern: "block_error", name: "nvme0n1", role: .blockDevice, problem: .ioError),
        // SCSI disks: sd_printk "sd %s: [%s] "
        Case(message: "sd 2:0:0:0: [sdb] tag#0 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s",
             severe: true, pattern: "scsi_disk", name: "sdb", role: .blockDevice, problem: .ioError),
        Case(message: "sd 2:0:0:0: [sdb] Synchronizing SCSI cache",
             severe: false, pattern: "scsi_disk", name: "sdb", role: .blockDevice, problem: nil),
        // NVMe: dev_warn on the controller
        Case(message: "nvme nvme0: I/O tag 12 (100c) opcode 0x2 (I/O Cmd) QID 1 timeout, aborting req_op:READ(0) size:4096",
             severe: false, pattern: "nvme_controller", name: "nvme0", role: .nvmeController, problem: .ioError),
        Case(message: "nvme nvme0: 2/0/0 default/read/poll queues",
             severe: false, pattern: "nvme_controller", name: "nvme0", role: .nvmeController, problem: nil),
        // virtio_blk: dev_notice on the virtio device, the disk in brackets
        Case(message: "virtio_blk virtio2: [vda] 41943040 512-byte logical blocks (21.5 GB/20.0 GiB)",
             severe: false, pattern: "virtio_blk", name: "vda", role: .blockDevice, problem: nil),
        Case(message: "virtio_blk virtio2: 1/0/0 default/read/poll queues",
             severe: false, pattern: "virtio_blk", name: "virtio2", role: .busDevice, problem: nil),
        // the disk's own name first: nvme_log_error, partition scan, set_capacity_and_notify
        Case(message: "nvme0n1: I/O Cmd(0x2) @ LBA 0, 8 blocks, I/O Error (sct 0x0 / sc 0x2) MORE",
             severe: true, pattern: "leading_name", name: "nvme0n1", role: .blockDeviceIfKnown, problem: .ioError),
        Case(message: "vda: vda1 vda2",
             severe: false, pattern: "leading_name", name: "vda", role: .blockDeviceIfKnown, problem: nil),
        Case(message: "loop0: detected capacity change from 131072 to 0",
             severe: false, pattern: "leading_name", name: "loop0", role: .blockDeviceIfKnown, problem: nil),
    ]

    @Test(arguments: cases)
    func findsTheDevice(_ example: Case) {
        let bytes = Array(example.message.utf8)
        bytes.withUnsafeBytes { message in
            let found = KmsgDevicePatterns.find(in: message, severe: example.severe)
            #expect(found?.patternID == example.pattern)
            #expect(found.map { String(decoding: $0.name(in: message), as: UTF8.self) } == example.name)
            #expect(found?.role == example.role)
            #expect(found?.problem == example.problem)
        }
    }

    /// Every pattern has a case above.
    @Test func everyPatternIsTested() {
        let tested = Set(Self.cases.map(\.pattern))
        for pattern in KmsgDevicePatterns.table { #expect(tested.contains(pattern.id.description), "\(pattern.id)") }
    }

    @Test(arguments: [
        "bash (11667): drop_caches: 3", "loop: module loaded", "audit: type=1400 audit(1.2:3): apparmor=\"STATUS\"",
        "", "EXT4-fs (", "sd 2:0:0:0", "virtio_blk ", "I/O error, dev ",
    ])
    func linesWithoutADevice(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { message in
            let found = KmsgDevicePatterns.find(in: message, severe: true)
            // "loop: module loaded" has a leading word, but only a known device counts (the table decides).
            if let found { #expect(found.role == .blockDeviceIfKnown, "\(text)") }
        }
    }

    @Test func kernelDeviceNumbers() {
        // block:block_rq_error dev=7340032 on loop0: 7 << 20.
        #expect(KernelDeviceNumber.decode(7_340_032) == (7, 0))
        #expect(KernelDeviceNumber.decode(7 << 20 | 3) == (7, 3))
        #expect(KernelDeviceNumber.decode(259 << 20 | 1) == (259, 1))
        #expect(KernelDeviceNumber.decode(253 << 20 | 0xFFFFF) == (253, 0xFFFFF))
        // userspace's makedev(8, 16) = 0x810 is not the kernel's 8:16.
        #expect(KernelDeviceNumber.decode(0x810) == (0, 0x810))
        #expect(KernelDeviceNumber.isDeviceNumberType("dev_t"))
        #expect(!KernelDeviceNumber.isDeviceNumberType("unsigned int"))
    }

    /// TRACE_FLAG_* of common_flags (kernel/trace/trace.h).
    @Test func traceContexts() {
        #expect(TraceContext(commonFlags: 0x00) == .task)
        #expect(TraceContext(commonFlags: 0x01) == .task)          // irqs off
        #expect(TraceContext(commonFlags: 0x10) == .softirq)
        #expect(TraceContext(commonFlags: 0x11) == .softirq)
        #expect(TraceContext(commonFlags: 0x08) == .hardirq)
        #expect(TraceContext(commonFlags: 0x18) == .hardirq)       // hardirq over softirq
        #expect(TraceContext(commonFlags: 0x48) == .nmi)
        #expect(TraceContext(commonFlags: 0x80 | 0x04) == .task)   // bh off, need resched
    }
}

@Suite struct DeviceTableTests {
    static func snapshot() -> NodeSnapshot {
        var snapshot = NodeSnapshot(takenAt: .init(monotonicNanoseconds: 5, realtimeNanoseconds: 6),
                                    clockOffsets: .init(realtimeMinusMonotonic: 1))
        snapshot.blockDevices = [
            .init(name: "loop0", major: 7, minor: 0, sizeBytes: 67_108_864, loopBackingFile: "/tmp/dt.img",
                  loopOffset: 0, loopBackingFileSize: 65_536, loopAutoclear: false),
            .init(name: "vda", major: 254, minor: 0, sizeBytes: 1 << 30),
            .init(name: "vda1", parent: "vda", partitionNumber: 1, major: 254, minor: 1),
            .init(name: "nvme0n1", major: 259, minor: 0),
            .init(name: "sdc", major: 8, minor: 32),
        ]
        let mount = { (id: Int, major: UInt32, minor: UInt32, point: String, fstype: String, source: String) in
            NodeSnapshot.Mount(mountID: id, parentID: 1, major: major, minor: minor, root: "/", mountPoint: point,
                               options: "rw", fstype: fstype, source: source, superOptions: "rw")
        }
        snapshot.mountNamespaces = [
            .init(inode: 4_026_531_832, processCount: 0, mounts: [mount(30, 7, 0, "/mnt/x", "ext4", "/dev/loop0"),
                                                                 mount(31, 254, 1, "/", "ext4", "/dev/vda1"),
                                                                 mount(32, 0, 52, "/mnt/b", "btrfs", "/dev/sdc")], isHost: true),
            .init(inode: 4_026_532_178, processCount: 0, ownerPID: 812, ownerComm: "sleep",
                  mounts: [mount(90, 7, 0, "/var/lib/x", "ext4", "/dev/loop0")]),
        ]
        return snapshot
    }

    @Test func resolvesByNumberNameAndController() {
        let table = DeviceTable(Self.snapshot())
        let loop = table.index(major: 7, minor: 0)!
        #expect(table.devices[loop].name == "loop0")
        #expect(table.devices[loop].mounts.map(\.mountPoint) == ["/mnt/x", "/var/lib/x"])
        #expect(table.devices[loop].mounts.map(\.isHost) == [true, false])
        #expect(table.devices[loop].mounts[1].ownerPID == 812)
        #expect(table.devices[loop].info.loopBackingFileShort == true)
        #expect(Array("loop0".utf8).withUnsafeBytes { table.index(named: $0) } == loop)
        #expect(Array("loop9".utf8).withUnsafeBytes { table.index(named: $0) } == nil)
        // A disk carries its partitions' mounts.
        let vda = table.index(major: 254, minor: 0)!
        #expect(table.devices[vda].mounts.map(\.mountPoint) == ["/"])
        #expect(table.devices[vda].mounts[0].partition == "vda1")
        // btrfs shows an anonymous device number: its source names the disk.
        #expect(table.devices[table.index(major: 8, minor: 32)!].mounts.map(\.mountPoint) == ["/mnt/b"])
        #expect(Array("nvme0".utf8).withUnsafeBytes { table.index(nvmeController: $0) } == table.index(major: 259, minor: 0))
        #expect(Array("nvme1".utf8).withUnsafeBytes { table.index(nvmeController: $0) } == nil)
    }

    @Test func resolvesWhatALogLineNames() {
        let table = DeviceTable(Self.snapshot())
        func resolve(_ text: String) -> String? {
            Array(text.utf8).withUnsafeBytes { message in
                KmsgDevicePatterns.find(in: message, severe: true).flatMap { table.resolve($0, in: message) }.map { table.devices[$0].name }
            }
        }
        #expect(resolve("EXT4-fs error (device loop0): __ext4_find_entry:1613: inode #2: comm ls: reading directory lblock 0") == "loop0")
        #expect(resolve("nvme nvme0: I/O tag 12 (100c) opcode 0x2 (I/O Cmd) QID 1 timeout, aborting") == "nvme0n1")
        #expect(resolve("vda: vda1") == "vda")
        #expect(resolve("audit: type=1400") == nil)
        #expect(resolve("virtio_blk virtio2: 1/0/0 default/read/poll queues") == nil)
        #expect(resolve("EXT4-fs error (device vde): ext4_find_entry:1463: inode #2: comm kubelet: reading directory lblock 0") == nil)
    }

    /// The fields the snapshot adds for device health survive its JSON.
    @Test func healthFieldsRoundTrip() throws {
        var snapshot = Self.snapshot()
        snapshot.blockDevices[0].filesystemErrors = .init(errorsCount: 3, firstErrorTime: 1_764_640_000, firstErrorFunction: "ext4_get_inode_loc",
                                                         lastErrorTime: 1_764_640_005, lastErrorFunction: "ext4_dirty_inode")
        snapshot.blockDevices[0].loopAutoclear = true
        snapshot.blockDevices[1].gone = true
        let decoded = try NodeSnapshot(json: snapshot.jsonText(.compact))
        #expect(decoded == snapshot)
        #expect(snapshot.jsonText(.compact).contains(#""loop_offset":0,"loop_backing_file_size":65536,"loop_autoclear":true,"fs_errors":{"errors_count":3,"first_error_time":1764640000,"first_error_func":"ext4_get_inode_loc","last_error_time":1764640005,"last_error_func":"ext4_dirty_inode"}"#))
    }
}
