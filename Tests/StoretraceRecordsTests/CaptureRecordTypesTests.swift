import CStoretraceABI
import StoretraceCapture
import StoretraceDecode
import StoretraceFixtures
import StoretraceRecords
import Testing

@Suite struct CaptureRecordTypesTests {
    /// The schema every capture has stored since format 1.0, as it was typed
    /// by hand then: the generated one must stay identical, byte for byte,
    /// or older readers would see a different type.
    static let formatOneSyscallSchema =
        "kind 0 2 u16\nsize 2 2 u16\nnstr 4 1 u8\ntruncated 5 1 u8\nfaulted 6 1 u8\nnull 7 1 u8\npid 8 4 u32\n"
        + "tid 12 4 u32\nuid 16 4 u32\nmntns 20 4 u32\ncgroup_id 24 8 u64\nts_ns 32 8 u64\nlatency_ns 40 8 u64\n"
        + "ret 48 8 i64\nargs 56 48 u64[6]\ndetail 104 48 bytes\ncomm 152 16 char[16]\nstr_len 168 8 u16[4]\n"
        + "strings 176 * bytes"

    @Test func syscallSchemaIsGeneratedFromTheABILayout() throws {
        #expect(CaptureRecordTypes.syscall.fields == Self.formatOneSyscallSchema)
        let fields = try CaptureField.parseList(CaptureRecordTypes.syscall.fields)
        #expect(fields.last?.offset == Int(ST_EVENT_HEADER_SIZE))
        #expect(fields.first { $0.name == "ts_ns" }?.offset == MemoryLayout<st_syscall_event>.offset(of: \.ts_ns))
        // Fixed fields tile the header with no gap and no overlap.
        var next = 0
        for field in fields.dropLast() {
            #expect(field.offset == next, "\(field.name)")
            next = field.offset + (field.size ?? 0)
        }
        #expect(next == Int(ST_EVENT_HEADER_SIZE))
    }

    /// storetrace.claim: generated from struct st_claim_event, tiling it exactly.
    @Test func claimSchemaIsGeneratedFromTheABILayout() throws {
        #expect(CaptureRecordTypes.claim.fields ==
            "kind 0 2 u16\nsize 2 2 u16\ndev 4 4 u32\npid 8 4 u32\ntid 12 4 u32\nmntns 16 4 u32\nuid 20 4 u32\n"
            + "ts_ns 24 8 u64\nholder 32 8 u64\nret 40 8 i64\ncomm 48 16 char[16]")
        #expect(SourceKind.claim.rawValue == 6)
        #expect(CaptureRecordTypes.written(for: .claim).name == "storetrace.claim")
        var next = 0
        for field in try CaptureField.parseList(CaptureRecordTypes.claim.fields) {
            #expect(field.offset == next, "\(field.name)")
            next = field.offset + (field.size ?? 0)
        }
        #expect(next == MemoryLayout<st_claim_event>.size)
    }

    @Test func everyWrittenTypeParsesAndHasItsOwnIDAndName() throws {
        for type in CaptureRecordTypes.written { _ = try CaptureField.parseList(type.fields) }
        #expect(Set(CaptureRecordTypes.written.map(\.id)).count == CaptureRecordTypes.written.count)
        #expect(Set(CaptureRecordTypes.written.map(\.name)).count == CaptureRecordTypes.written.count)
        for kind in SourceKind.allCases { #expect(CaptureRecordTypes.written(for: kind).id == kind.rawValue) }
    }

    @Test func rolesFollowNameAndVersion() {
        func role(_ type: CaptureRecordType, id: UInt16 = 40) -> CaptureRecordRole {
            CaptureRecordRole(CaptureSchema(typeId: id, name: type.name, version: type.version, fieldText: type.fields))
        }
        #expect(role(CaptureRecordTypes.syscall) == .data(.syscall, cpuInPayload: false))
        #expect(role(CaptureRecordTypes.ftrace) == .data(.ftrace, cpuInPayload: true))
        #expect(role(CaptureRecordTypes.ftraceV1) == .data(.ftrace, cpuInPayload: false))
        #expect(role(CaptureRecordTypes.uevent) == .data(.uevent, cpuInPayload: false))
        #expect(role(CaptureRecordTypes.kmsg) == .data(.kmsg, cpuInPayload: false))
        #expect(role(CaptureRecordTypes.claim) == .data(.claim, cpuInPayload: false))
        #expect(role(CaptureRecordTypes.task) == .task)
        #expect(role(CaptureRecordTypes.kernelSymbol) == .kernelSymbol)
        #expect(role(CaptureRecordTypes.ftraceFormat) == .ftraceFormat)
        #expect(role(CaptureRecordTypes.cgroupPath) == .cgroupPath)
        #expect(CaptureRecordRole(CaptureSchema(typeId: 19, name: "storetrace.cgroup", version: 2, fieldText: "")) == .skip)
        #expect(CaptureRecordRole(CaptureSchema(typeId: 9, name: "storetrace.syscall", version: 7, fieldText: "")) == .skip)
        #expect(CaptureRecordRole(nil) == .skip)
    }

    @Test func ftraceRecordsCarryTheirCPUInThePayload() {
        let event: [UInt8] = [0x2a, 0x00, 0x01, 0x00, 0xde, 0xad]  // common_type 42, flags, preempt, pid...
        event.withUnsafeBytes { bytes in
            let raw = RawRecord(source: .ftrace, timestamp: 99, cpu: 3, bytes: bytes)
            let size = DataRecordCodec.headerSize(of: .ftrace) + bytes.count
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
            defer { buffer.deallocate() }
            DataRecordCodec.writeHeader(of: raw, into: buffer)
            (buffer.baseAddress! + 8).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            // u32 cpu = 3, u32 reserved = 0, then the event.
            #expect(Array(buffer) == [3, 0, 0, 0, 0, 0, 0, 0] + event)
            let decoded = DataRecordCodec.decode(kind: .ftrace, cpuInPayload: true, timestamp: 99, flags: 0,
                                                 payload: UnsafeRawBufferPointer(buffer))
            #expect(decoded?.cpu == 3)
            #expect(decoded.map { Array($0.bytes) } == event)
            // Version 1: the CPU in the flags, the payload is the event.
            let old = DataRecordCodec.decode(kind: .ftrace, cpuInPayload: false, timestamp: 99, flags: 5, payload: bytes)
            #expect(old?.cpu == 5)
            #expect(old.map { Array($0.bytes) } == event)
            // Too short for the header: no record (the pipeline counts it malformed).
            #expect(DataRecordCodec.decode(kind: .ftrace, cpuInPayload: true, timestamp: 1, flags: 0,
                                           payload: UnsafeRawBufferPointer(rebasing: bytes[0..<5])) == nil)
        }
        #expect(DataRecordCodec.headerSize(of: .syscall) == 0)
    }

    @Test func taskRecordsRoundTrip() {
        let identity = TaskIdentity(tgid: 4629, comm: Array("kworker/u8:1-events".utf8))
        let bytes = TaskCodec.encode(tid: 4633, identity)
        // u32 tid 4633 = 0x1219, u32 tgid 4629 = 0x1215, comm cut at 15 bytes.
        #expect(bytes == [0x19, 0x12, 0, 0, 0x15, 0x12, 0, 0] + Array("kworker/u8:1-ev".utf8))
        let decoded = bytes.withUnsafeBytes { TaskCodec.decode($0) }
        #expect(decoded?.tid == 4633)
        #expect(decoded?.identity == TaskIdentity(tgid: 4629, comm: Array("kworker/u8:1-ev".utf8)))
        #expect([UInt8](repeating: 1, count: 7).withUnsafeBytes { TaskCodec.decode($0) } == nil)
        #expect([UInt8](repeating: 1, count: 24).withUnsafeBytes { TaskCodec.decode($0) } == nil)
    }

    @Test func cgroupPathRecordsRoundTrip() {
        let path = Array("/kubepods.slice/kubepods-pod7f3e1c2a_5b6d_4e8f_9a0b_1c2d3e4f5a6b.slice".utf8)
        // From the cgroup id: the v2 directory whose inode is 0x1f2e (pid 0).
        let byID = CgroupPathCodec.Entry(cgroupID: 0x1f2e, pid: 0, source: .cgroupID, path: path)
        let bytes = CgroupPathCodec.encode(byID)
        #expect(bytes == [0x2e, 0x1f, 0, 0, 0, 0, 0, 0,   // u64 cgroup_id 0x1f2e
                          0, 0, 0, 0,                     // u32 pid 0
                          1,                              // u8 source 1: the cgroup id's directory
                          0, 0, 0]                        // reserved
                          + path)
        #expect(bytes.withUnsafeBytes { CgroupPathCodec.decode($0) } == byID)
        // From /proc/4629/cgroup, on a hybrid host (the unified root's id 1).
        let byProcess = CgroupPathCodec.Entry(cgroupID: 1, pid: 4629, source: .process, path: Array("/kubepods/pod1".utf8))
        let processBytes = CgroupPathCodec.encode(byProcess)
        #expect(Array(processBytes[8..<13]) == [0x15, 0x12, 0, 0, 2]) // pid 4629 = 0x1215, source 2
        #expect(processBytes.withUnsafeBytes { CgroupPathCodec.decode($0) } == byProcess)
        // Short, an unknown source, no path, a path too long for the record.
        #expect(Array(bytes.prefix(15)).withUnsafeBytes { CgroupPathCodec.decode($0) } == nil)
        #expect(Array(bytes.prefix(16)).withUnsafeBytes { CgroupPathCodec.decode($0) } == nil)
        var unknown = bytes
        unknown[12] = 3
        #expect(unknown.withUnsafeBytes { CgroupPathCodec.decode($0) } == nil)
        let long = CgroupPathCodec.Entry(cgroupID: 2, pid: 0, source: .cgroupID, path: [UInt8](repeating: 0x61, count: 5000))
        #expect(CgroupPathCodec.encode(long).count == 16 + CgroupPathCodec.pathLimit) // cut when written
        #expect(([UInt8](bytes.prefix(16)) + [UInt8](repeating: 0x61, count: 4097)).withUnsafeBytes { CgroupPathCodec.decode($0) } == nil)
    }

    /// A notice is its text; one past the limit is cut before a character,
    /// not inside one, and an empty or oversized payload is refused.
    @Test func noticeRoundTripsAndIsCutBeforeACharacter() {
        let line = "not tracing block-device claims: the kernel refused fexit (EPERM) and has no kprobes"
        #expect(NoticeCodec.encode(line).withUnsafeBytes { NoticeCodec.decode($0) } == line)
        let long = String(repeating: "a", count: NoticeCodec.textLimit - 1) + "é" // é is 2 bytes: it would end past the limit
        let cut = NoticeCodec.encode(long)
        #expect(cut.count == NoticeCodec.textLimit - 1)
        #expect(cut.withUnsafeBytes { NoticeCodec.decode($0) } == String(repeating: "a", count: NoticeCodec.textLimit - 1))
        #expect([UInt8]().withUnsafeBytes { NoticeCodec.decode($0) } == nil)
        #expect([UInt8](repeating: 0x61, count: NoticeCodec.textLimit + 1).withUnsafeBytes { NoticeCodec.decode($0) } == nil)
    }

    @Test func kernelSymbolRecordsRoundTrip() {
        let bytes = KernelSymbolCodec.encode(address: 0xffff_ffff_8123_4560, name: "bind_store+0x10")
        #expect(Array(bytes.prefix(8)) == [0x60, 0x45, 0x23, 0x81, 0xff, 0xff, 0xff, 0xff])
        let decoded = bytes.withUnsafeBytes { KernelSymbolCodec.decode($0) }
        #expect(decoded?.address == 0xffff_ffff_8123_4560)
        #expect(decoded?.name == "bind_store+0x10")
        #expect([UInt8](repeating: 0, count: 8).withUnsafeBytes { KernelSymbolCodec.decode($0) } == nil)
    }

    @Test func ftraceFormatRecordsRoundTrip() throws {
        let format = """
            name: block_rq_error
            ID: 1234
            format:
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
            \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
            \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
            \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
            \tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;

            print fmt: "%d", REC->dev

            """
        let bytes = FtraceFormatCodec.encode(system: "block", formatText: format)
        #expect(Array(bytes.prefix(6)) == Array("block\0".utf8))
        let decoded = try #require(bytes.withUnsafeBytes { FtraceFormatCodec.decode($0) })
        #expect(decoded.system == "block")
        #expect(decoded.format.name == "block_rq_error")
        #expect(decoded.format.id == 1234)
        #expect(Array("no terminator".utf8).withUnsafeBytes { FtraceFormatCodec.decode($0) } == nil)
    }

    @Test func aCaptureFromTheOtherByteOrderIsRefusedByName() {
        let little = CaptureFileHeader(creationRealtimeNs: 1, creationMonotonicNs: 1,
                                       payloadByteOrder: CaptureFormat.byteOrderLittle, writerChunkSize: 65536)
        let big = CaptureFileHeader(creationRealtimeNs: 1, creationMonotonicNs: 1,
                                    payloadByteOrder: CaptureFormat.byteOrderBig, writerChunkSize: 65536)
        // This project's hosts (x86-64, arm64) are little-endian.
        #expect(CaptureRecordTypes.byteOrderProblem(little) == nil)
        #expect(CaptureRecordTypes.byteOrderProblem(big)
                == "recorded on a big-endian host; this storetrace reads little-endian records only")
    }
}

@Suite struct LossTests {
    @Test func onlyEventCountsAddToTheLostTotal() {
        let losses = [
            LossCount(name: "ring buffer full", count: 12, kind: .events),
            LossCount(name: "ftrace overrun pages", count: 3, kind: .occurrences),
            LossCount(name: "exits without entry", count: 2, kind: .information),
            LossCount(name: "kmsg lost", count: 0, kind: .events),
        ]
        #expect(losses.lostEvents == 12)
        #expect(losses.describeNonZero() == "12 ring buffer full, 3 ftrace overrun pages, 2 exits without entry")
        #expect(losses.describeNonZero(information: false) == "12 ring buffer full, 3 ftrace overrun pages")
    }
}
