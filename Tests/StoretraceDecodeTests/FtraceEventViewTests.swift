import StoretraceDecode
import Testing

/// FtraceEventCatalog / FtraceEventView on records built byte by byte from
/// the format files of Linux 6.18 (x86_64), as found in
/// /sys/kernel/tracing/events/*/*/format.
@Suite struct FtraceEventViewTests {
    static let commonFields = """
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

        """

    static let execFormat = try! EventFormat(parsing: ascii("""
        name: sched_process_exec
        ID: 365
        format:
        \(commonFields)
        \tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
        \tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
        \tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;

        print fmt: "filename=%s pid=%d old_pid=%d", __get_str(filename), REC->pid, REC->old_pid
        """))

    static let functionFormat = try! EventFormat(parsing: ascii("""
        name: function
        ID: 1
        format:
        \(commonFields)
        \tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;
        \tfield:unsigned long parent_ip;\toffset:16;\tsize:8;\tsigned:0;
        \tfield:unsigned long args[];\toffset:24;\tsize:0;\tsigned:0;

        print fmt: " %ps <-- %ps", (void *)REC->ip, (void *)REC->parent_ip
        """))

    /// A comm field plus a pointer, a signed int and a non-char dynamic array.
    static let mixedFormat = try! EventFormat(parsing: ascii("""
        name: mixed_example
        ID: 700
        format:
        \(commonFields)
        \tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;
        \tfield:const void * where;\toffset:24;\tsize:8;\tsigned:0;
        \tfield:int error;\toffset:32;\tsize:4;\tsigned:1;
        \tfield:__data_loc u8[] blob;\toffset:36;\tsize:4;\tsigned:0;

        print fmt: "x"
        """))

    let catalog = FtraceEventCatalog(formats: [
        ("sched", execFormat), ("ftrace", functionFormat), ("example", mixedFormat),
    ])

    func common(type: UInt16, pid: Int32) -> [UInt8] {
        le16(type)                                // common_type
            + [0x01]                              // common_flags (TRACE_FLAG_IRQS_OFF)
            + [0x02]                              // common_preempt_count
            + le32(UInt32(bitPattern: pid))       // common_pid
    }

    func fields(_ view: FtraceEventView, includeCommon: Bool = false) -> [String] {
        var lines: [String] = []
        view.forEachField(includeCommon: includeCommon) { (field, value) throws(Never) in
            switch value {
            case .signed(let number): lines.append("\(field.name)=\(number)")
            case .unsigned(let number): lines.append("\(field.name)=u\(number)")
            case .pointer(let address): lines.append("\(field.name)=0x" + String(address, radix: 16))
            case .string(let text): lines.append("\(field.name)=\"\(String(decoding: text, as: UTF8.self))\"")
            case .bytes(let bytes): lines.append("\(field.name)=\(Array(bytes))")
            case .unreadable(let error): lines.append("\(field.name)=!\(error)")
            }
        }
        return lines
    }

    @Test func dataLocStringAndIntegersOfATracepoint() throws {
        let record = common(type: 365, pid: 4120)
            + le32(10 << 16 | 20)                 // filename: __data_loc, 10 bytes (NUL included) at offset 20
            + le32(4120)                          // pid
            + le32(4119)                          // old_pid
            + ascii("/bin/true") + [0]            // @20: the string and its NUL
        try record.withUnsafeBytes { bytes in
            let view = try catalog.view(bytes)
            #expect(view.name == "sched_process_exec")
            #expect(view.system == "sched")
            #expect(view.pid == 4120)
            #expect(view.common == TraceEventCommonFields(eventType: 365, flags: 1, preemptCount: 2, pid: 4120))
            #expect(view.functionCall == nil)
            #expect(view.comm == nil)
            #expect(fields(view) == ["filename=\"/bin/true\"", "pid=4120", "old_pid=4119"])
            #expect(fields(view, includeCommon: true) == [
                "common_type=u365", "common_flags=u1", "common_preempt_count=u2", "common_pid=4120",
                "filename=\"/bin/true\"", "pid=4120", "old_pid=4119",
            ])
        }
    }

    @Test func functionTracerRecordYieldsIpAndParentIp() throws {
        let record = common(type: 1, pid: 77)
            + le64(0xFFFF_FFFF_81D5_1DA4)          // ip: bind_store+0x4
            + le64(0xFFFF_FFFF_8150_0010)          // parent_ip
        try record.withUnsafeBytes { bytes in
            let view = try catalog.view(bytes)
            #expect(view.name == "function")
            #expect(view.functionCall == FunctionCall(ip: 0xFFFF_FFFF_81D5_1DA4, parentIP: 0xFFFF_FFFF_8150_0010, pid: 77))
            #expect(fields(view) == [
                "ip=u\(UInt64(0xFFFF_FFFF_81D5_1DA4))", "parent_ip=u\(UInt64(0xFFFF_FFFF_8150_0010))",
                "args=[]",  // unsigned long args[] (size 0): an empty array, shown as bytes
            ])
        }
        let symbols = KernelSymbolTable(parsingKallsyms: ascii("""
            ffffffff81500000 T kernfs_fop_write_iter
            ffffffff81d51da0 t bind_store
            ffffffffc0201000 t nvme_probe\t[nvme]

            """))
        #expect(symbols.describe(0xFFFF_FFFF_81D5_1DA4) == "bind_store+0x4")
        #expect(symbols.describe(0xFFFF_FFFF_81D5_1DA0) == "bind_store")
        #expect(symbols.describe(0xFFFF_FFFF_8150_0010) == "kernfs_fop_write_iter+0x10")
        #expect(symbols.describe(0xFFFF_FFFF_C020_1008) == "nvme_probe+0x8 [nvme]")
        #expect(symbols.describe(0x1000) == "0x1000")
    }

    @Test func commPointerSignedAndByteArrayFields() throws {
        let record = common(type: 700, pid: 5)
            + ascii("kworker/0:1") + [UInt8](repeating: 0, count: 5)  // comm[16], NUL padded
            + le64(0xFFFF_8880_0000_1000)          // where (a pointer)
            + le32(UInt32(bitPattern: -5))         // error = -EIO
            + le32(3 << 16 | 40)                   // blob: 3 bytes at 40
            + [0xDE, 0xAD, 0x00]                   // @40: binary data, not text
        try record.withUnsafeBytes { bytes in
            let view = try catalog.view(bytes)
            #expect(view.comm.map { String(decoding: $0, as: UTF8.self) } == "kworker/0:1")
            #expect(fields(view) == [
                "comm=\"kworker/0:1\"", "where=0xffff888000001000", "error=-5", "blob=[222, 173, 0]",
            ])
        }
    }

    @Test func badRecordsAreErrorsOrUnreadableFieldsNeverCrashes() throws {
        // Shorter than the 8 common bytes.
        try [UInt8](repeating: 0, count: 6).withUnsafeBytes { bytes in
            #expect(throws: FtraceViewError.shorterThanCommonFields(6)) { try catalog.view(bytes) }
        }
        // An id no loaded format has.
        try common(type: 999, pid: 1).withUnsafeBytes { bytes in
            #expect(throws: FtraceViewError.unknownEventType(999)) { try catalog.view(bytes) }
        }
        // A function record cut after ip.
        try (common(type: 1, pid: 1) + le64(1)).withUnsafeBytes { bytes in
            #expect(throws: FtraceViewError.badFunctionRecord(.outOfBounds(offset: 16, length: 8, recordSize: 16))) {
                try catalog.view(bytes)
            }
        }
        // A __data_loc pointing past the record: that field is unreadable, the others are shown.
        let record = common(type: 365, pid: 3) + le32(50 << 16 | 20) + le32(3) + le32(2)
        try record.withUnsafeBytes { bytes in
            let view = try catalog.view(bytes)
            #expect(fields(view) == ["filename=!outOfBounds(offset: 20, length: 50, recordSize: 20)", "pid=3", "old_pid=2"])
        }
    }
}
