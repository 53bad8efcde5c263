import StoretraceFixtures
import CStoretraceABI
import Testing
@testable import StoretraceDecode

@Suite struct SyscallRecordTests {
    /// mount("/a", "/b", NULL, MS_BIND|MS_REC, NULL) = 0 by mount[4120/4121],
    /// exactly as the BPF program writes it. Little-endian.
    static let mountFixture: [UInt8] = [
        0x01, 0x00,                                     // kind = 1 (ST_KIND_MOUNT)
        0xb4, 0x00,                                     // size = 180: header 176 + "/a" + "/b"
        0x04,                                           // nstr = 4 (source, target, fstype, data)
        0x00,                                           // truncated = none
        0x00,                                           // faulted = none
        0x0c,                                           // null: bits 2 (fstype) and 3 (data)
        0x18, 0x10, 0x00, 0x00,                         // pid = 4120
        0x19, 0x10, 0x00, 0x00,                         // tid = 4121
        0xe8, 0x03, 0x00, 0x00,                         // uid = 1000
        0x01, 0x00, 0x00, 0xf0,                         // mntns = 4026531841 (0xf0000001)
        0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // cgroup_id = 42
        0x00, 0xca, 0x9a, 0x3b, 0x00, 0x00, 0x00, 0x00, // ts_ns = 1_000_000_000
        0x39, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // latency_ns = 12345
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ret = 0
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // args[0] = 0x1000 (source pointer)
        0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // args[1] = 0x2000 (target pointer)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // args[2] = NULL (fstype)
        0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // args[3] = 0x5000 = MS_BIND|MS_REC
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // args[4] = NULL (data)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // args[5] unused
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // detail: unused by mount (48 bytes)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x6d, 0x6f, 0x75, 0x6e, 0x74, 0x00, 0x00, 0x00, // comm = "mount"
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02, 0x00,                                     // str_len[0] = 2
        0x02, 0x00,                                     // str_len[1] = 2
        0x00, 0x00,                                     // str_len[2] = 0 (NULL)
        0x00, 0x00,                                     // str_len[3] = 0 (NULL)
        0x2f, 0x61,                                     // "/a"
        0x2f, 0x62,                                     // "/b"
    ]

    @Test func decodesAnnotatedMountFixture() throws {
        try Self.mountFixture.withRecord { record in
            #expect(record.kind == .mount)
            #expect(record.size == 180)
            #expect(record.pid == 4120)
            #expect(record.tid == 4121)
            #expect(record.uid == 1000)
            #expect(record.mountNamespace == 4026531841)
            #expect(record.cgroupID == 42)
            #expect(record.timestamp == 1_000_000_000)
            #expect(record.latency == 12345)
            #expect(record.returnValue == 0)
            #expect(record.errno == nil)
            #expect(record.arg(3) == 0x5000)
            #expect(Array(record.comm) == Array("mount".utf8))
            #expect(record.string(0).map(Array.init) == Array("/a".utf8))
            #expect(record.string(1).map(Array.init) == Array("/b".utf8))
            #expect(record.string(2) == nil)
            #expect(record.isNull(2) && record.isNull(3))
            #expect(!record.anyTruncated)
            #expect(FlagTables.mount.names(record.arg(3)) == ["MS_BIND", "MS_REC"])
        }
    }

    @Test func builderMatchesAnnotatedFixture() {
        var builder = RecordBuilder()
        builder.uid = 1000
        builder.cgroupID = 42
        builder.args = [0x1000, 0x2000, 0, 0x5000, 0, 0]
        builder.strings = ["/a", "/b", nil, nil]
        #expect(builder.bytes == Self.mountFixture)
    }

    @Test func failedCallHasErrno() throws {
        var builder = RecordBuilder()
        builder.kind = 2
        builder.ret = -16
        builder.strings = ["/mnt/busy"]
        try builder.bytes.withRecord { record in
            #expect(record.kind == .umount)
            #expect(record.errno == 16)
            #expect(ErrnoNames.name(record.errno!)?.description == "EBUSY")
        }
    }

    @Test func rejectsShortRecord() {
        let bytes = Array(Self.mountFixture.prefix(100))
        #expect(throws: RecordError.short(have: 100, need: 176)) { try bytes.withRecord { _ in } }
    }

    @Test func rejectsSizeBeyondBuffer() {
        let bytes = Array(Self.mountFixture.prefix(179)) // declared 180
        #expect(throws: RecordError.sizeMismatch(declared: 180, available: 179)) { try bytes.withRecord { _ in } }
    }

    @Test func rejectsUnknownKind() {
        var bytes = Self.mountFixture
        bytes[0] = 99
        #expect(throws: RecordError.unknownKind(99)) { try bytes.withRecord { _ in } }
    }

    @Test func rejectsStringsPastRecordEnd() {
        var bytes = Self.mountFixture
        bytes[168] = 0xff // str_len[0] = 255, more than the record holds
        #expect(throws: RecordError.stringsOverflow(declared: 433, available: 180)) { try bytes.withRecord { _ in } }
    }

    @Test func rejectsTooManyStrings() {
        var bytes = Self.mountFixture
        bytes[4] = 5
        #expect(throws: RecordError.tooManyStrings(5)) { try bytes.withRecord { _ in } }
    }

    @Test func acceptsPerfBufferPadding() throws {
        // Perf samples are padded to 8 bytes: extra bytes after `size` are ignored.
        let bytes = Self.mountFixture + [0, 0, 0, 0]
        try bytes.withRecord { record in #expect(record.size == 180) }
    }

    @Test func flagsTruncatedString() throws {
        var builder = RecordBuilder()
        builder.kind = 2
        builder.strings = [String(repeating: "x", count: 4096)]
        builder.truncated = 1
        try builder.bytes.withRecord { record in
            #expect(record.isTruncated(0))
            #expect(record.anyTruncated)
            #expect(record.string(0)?.count == 4096)
        }
    }

    @Test func randomBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var bytes = Self.mountFixture
            for _ in 0..<4 {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
            }
            let cut = Int.random(in: 0...bytes.count, using: &generator)
            let sample = Array(bytes.prefix(cut))
            if let record = try? sample.withRecord({ $0 }) as SyscallRecord? {
                _ = record // views into `sample` are not used after the closure
            }
            sample.withUnsafeBytes { raw in
                guard let record = try? SyscallRecord(validating: raw) else { return }
                for index in 0..<4 { _ = record.string(index)?.count }
                _ = record.comm.count
            }
        }
    }
}

@Suite struct LayoutTests {
    /// Swift's view of the imported C struct must match the offsets the
    /// decoder uses (and that the C header asserts).
    @Test func syscallEventLayout() {
        typealias E = st_syscall_event
        #expect(MemoryLayout<E>.size == SyscallLayout.headerSize)
        #expect(MemoryLayout<E>.offset(of: \E.kind) == SyscallLayout.kind)
        #expect(MemoryLayout<E>.offset(of: \E.size) == SyscallLayout.size)
        #expect(MemoryLayout<E>.offset(of: \E.nstr) == SyscallLayout.nstr)
        #expect(MemoryLayout<E>.offset(of: \E.truncated) == SyscallLayout.truncated)
        #expect(MemoryLayout<E>.offset(of: \E.faulted) == SyscallLayout.faulted)
        #expect(MemoryLayout<E>.offset(of: \E.null) == SyscallLayout.null)
        #expect(MemoryLayout<E>.offset(of: \E.pid) == SyscallLayout.pid)
        #expect(MemoryLayout<E>.offset(of: \E.tid) == SyscallLayout.tid)
        #expect(MemoryLayout<E>.offset(of: \E.uid) == SyscallLayout.uid)
        #expect(MemoryLayout<E>.offset(of: \E.mntns) == SyscallLayout.mntns)
        #expect(MemoryLayout<E>.offset(of: \E.cgroup_id) == SyscallLayout.cgroupID)
        #expect(MemoryLayout<E>.offset(of: \E.ts_ns) == SyscallLayout.timestamp)
        #expect(MemoryLayout<E>.offset(of: \E.latency_ns) == SyscallLayout.latency)
        #expect(MemoryLayout<E>.offset(of: \E.ret) == SyscallLayout.ret)
        #expect(MemoryLayout<E>.offset(of: \E.args) == SyscallLayout.args)
        #expect(MemoryLayout<E>.offset(of: \E.detail) == SyscallLayout.detail)
        #expect(MemoryLayout<E>.offset(of: \E.comm) == SyscallLayout.comm)
        #expect(MemoryLayout<E>.offset(of: \E.str_len) == SyscallLayout.strLen)
        #expect(MemoryLayout<st_event_detail>.size == 48)
        #expect(MemoryLayout<st_file_ref>.size == 16)
        #expect(MemoryLayout<st_settings>.size == 32)
        #expect(MemoryLayout<st_settings>.offset(of: \st_settings.wakeup_interval_ns) == 16)
    }

    /// The union's members: write through C's view, read through the decoder's.
    @Test func detailUnionLayout() throws {
        var event = st_syscall_event()
        event.kind = UInt16(ST_KIND_COPY_FILE_RANGE.rawValue)
        event.size = UInt16(ST_EVENT_HEADER_SIZE)
        event.detail.copy.in.ino = 11
        event.detail.copy.in.dev = (8 << 20) | 1
        event.detail.copy.out.ino = 22
        event.detail.copy.out.dev = (8 << 20) | 2
        event.detail.copy.off_in = 4096
        event.detail.copy.off_out = -1
        try withUnsafeBytes(of: &event) { raw in
            let record = try SyscallRecord(validating: raw)
            #expect(record.fileIn == FileRef(device: (8 << 20) | 1, inode: 11))
            #expect(record.fileIn.major == 8 && record.fileIn.minor == 1)
            #expect(record.fileOut == FileRef(device: (8 << 20) | 2, inode: 22))
            #expect(record.offsetInAtEntry == 4096)
            #expect(record.offsetOutAtEntry == -1)
        }
        event.kind = UInt16(ST_KIND_MOUNT_SETATTR.rawValue)
        event.detail.mount_attr.attr_set = 1
        event.detail.mount_attr.attr_clr = 0x70
        event.detail.mount_attr.propagation = 0x40000
        try withUnsafeBytes(of: &event) { raw in
            let record = try SyscallRecord(validating: raw)
            #expect(record.attrSet == 1)
            #expect(record.attrClear == 0x70)
            #expect(record.attrPropagation == 0x40000)
        }
    }

    @Test func kindsMatchHeader() {
        #expect(SyscallKind.mount.rawValue == UInt16(ST_KIND_MOUNT.rawValue))
        #expect(SyscallKind.umount.rawValue == UInt16(ST_KIND_UMOUNT.rawValue))
        #expect(SyscallKind.fsopen.rawValue == UInt16(ST_KIND_FSOPEN.rawValue))
        #expect(SyscallKind.fsconfig.rawValue == UInt16(ST_KIND_FSCONFIG.rawValue))
        #expect(SyscallKind.fsmount.rawValue == UInt16(ST_KIND_FSMOUNT.rawValue))
        #expect(SyscallKind.moveMount.rawValue == UInt16(ST_KIND_MOVE_MOUNT.rawValue))
        #expect(SyscallKind.openTree.rawValue == UInt16(ST_KIND_OPEN_TREE.rawValue))
        #expect(SyscallKind.mountSetattr.rawValue == UInt16(ST_KIND_MOUNT_SETATTR.rawValue))
        #expect(SyscallKind.fspick.rawValue == UInt16(ST_KIND_FSPICK.rawValue))
        #expect(SyscallKind.copyFileRange.rawValue == UInt16(ST_KIND_COPY_FILE_RANGE.rawValue))
        #expect(SyscallKind.splice.rawValue == UInt16(ST_KIND_SPLICE.rawValue))
        #expect(SyscallKind.sendfile.rawValue == UInt16(ST_KIND_SENDFILE.rawValue))
        #expect(SyscallKind.allCases.count == Int(ST_KIND_MAX.rawValue))
    }
}
