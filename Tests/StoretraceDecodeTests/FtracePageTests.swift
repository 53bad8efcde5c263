import Testing
import StoretraceDecode

// Copied from /sys/kernel/tracing/events/ftrace/function/format on Linux 6.18
// x86_64 (6.18 added the trailing args[] for function argument tracing).
let functionFormatText = """
name: function
ID: 1
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:unsigned long ip;	offset:8;	size:8;	signed:0;
	field:unsigned long parent_ip;	offset:16;	size:8;	signed:0;
	field:unsigned long args[];	offset:24;	size:0;	signed:0;

print fmt: " %ps <-- %ps", (void *)REC->ip, (void *)REC->parent_ip
"""

/// A 24-byte ftrace/function record.
func functionRecord(pid: UInt32, ip: UInt64, parentIP: UInt64) -> [UInt8] {
    le16(1)              // common_type = 1 (function)
    + [0x00, 0x00]       // common_flags, common_preempt_count
    + le32(pid)          // common_pid
    + le64(ip)           // ip
    + le64(parentIP)     // parent_ip
}

/// What forEachEvent delivered, copied out so it outlives the page.
struct SeenEvent: Equatable {
    var timestamp: UInt64
    var payload: [UInt8]
}

func decodePage(_ bytes: [UInt8], format: PageHeaderFormat) -> ([SeenEvent], FtracePageSummary) {
    var seen: [SeenEvent] = []
    let summary = bytes.withUnsafeBytes { buffer in
        FtracePage.forEachEvent(in: buffer, format: format) { timestamp, payload in
            seen.append(SeenEvent(timestamp: timestamp, payload: Array(payload)))
        }
    }
    return (seen, summary)
}

@Suite struct FtracePageTests {
    // x86_64: u64 timestamp @0, 8-byte commit @8, 4080 data bytes @16.
    let x86 = try! PageHeaderFormat(
        timestampOffset: 0, commitOffset: 8, commitSize: 8, dataOffset: 16, dataSize: 4080)

    let recordA = functionRecord(pid: 100, ip: 0xFFFF_FFFF_8123_4567, parentIP: 0xFFFF_FFFF_8100_1010)
    let recordB = functionRecord(pid: 200, ip: 0xFFFF_FFFF_8123_5004, parentIP: 0xFFFF_FFFF_8123_4580)
    let recordC = functionRecord(pid: 300, ip: 0xFFFF_FFFF_C0A0_0010, parentIP: 0xFFFF_FFFF_8100_1010)

    /// One page using every type_len the ring buffer writes.
    @Test func decodesEveryEventType() {
        let bytes = page(size: 4096, writing: [
            (0, le64(1_000_000)),          // page time_stamp = 1,000,000
            (8, le64(128)),                // commit = 128 bytes of data (to 144), no flags
            // data @16
            (16, le32(0x0000_00BE)),       // type_len=30 (TIME_EXTEND), time_delta=5
            (20, le32(1)),                 //   array[0]=1 → delta = 1 << 27 | 5 = 134,217,733
            (24, le32(0x0000_0006)),       // type_len=6 (data, 24 bytes), time_delta=0
            (28, recordA),                 //   → t = 1,000,000 + 134,217,733 = 135,217,733
            (52, le32(0x0000_003D)),       // type_len=29 (PADDING), time_delta=1: a discarded event
            (56, le32(12)),                //   array[0]=12 → spans 4 + 12 bytes; not delivered, no time
            (60, [0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA]),  // discarded payload
            (68, le32(0x0000_00E0)),       // type_len=0 (data, length in array[0]), time_delta=7
            (72, le32(28)),                //   array[0]=28 = 24 payload + 4 for itself
            (76, recordB),                 //   → t = 135,217,733 + 7 = 135,217,740
            (100, le32(0x40BE_401F)),      // type_len=31 (TIME_STAMP), time_delta=0x205F200 (33,944,064)
            (104, le32(37)),               //   array[0]=37 → 37 << 27 | 33,944,064 = 5,000,000,000
            (108, le32(0x0000_0066)),      // type_len=6 (data), time_delta=3
            (112, recordC),                //   → t = 5,000,000,003
            (136, le32(0x0000_001D)),      // type_len=29, time_delta=0: null padding, page ends
            (140, le32(0x0000_0005)),      // garbage inside commit that must not be read
        ])
        let (seen, summary) = decodePage(bytes, format: x86)

        #expect(seen == [
            SeenEvent(timestamp: 135_217_733, payload: recordA),
            SeenEvent(timestamp: 135_217_740, payload: recordB),
            SeenEvent(timestamp: 5_000_000_003, payload: recordC),
        ])
        #expect(summary.pageTimestamp == 1_000_000)
        #expect(summary.dataLength == 128)
        #expect(summary.dataEventCount == 3)
        #expect(summary.discardedEventCount == 1)
        #expect(summary.timeExtendCount == 1)
        #expect(summary.absoluteTimeStampCount == 1)
        #expect(summary.hasMissedEvents == false)
        #expect(summary.missedEventCount == nil)
        #expect(summary.problem == nil)
    }

    @Test func nullPaddingEndsThePage() {
        let bytes = page(size: 4096, writing: [
            (0, le64(500)),                // time_stamp
            (8, le64(40)),                 // commit = 40
            (16, le32(0x0000_0146)),       // type_len=6, time_delta=10
            (20, recordA),                 //   → t = 510
            (44, le32(0x0000_001D)),       // null padding (type_len=29, time_delta=0)
            (48, le32(0x0000_0005)),       // type_len=5 claiming 20 bytes: would overrun if read
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        #expect(seen == [SeenEvent(timestamp: 510, payload: recordA)])
        #expect(summary.problem == nil)
    }

    @Test func smallDataEventsUseTypeLenAsLength() {
        let bytes = page(size: 4096, writing: [
            (0, le64(0)),
            (8, le64(20)),                 // commit = 20
            (16, le32(0x0000_0021)),       // type_len=1 (4-byte payload), time_delta=1
            (20, [0xDE, 0xAD, 0xBE, 0xEF]),
            (24, le32(0x0000_0042)),       // type_len=2 (8-byte payload), time_delta=2
            (28, le64(0x1122_3344_5566_7788)),
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        #expect(seen == [
            SeenEvent(timestamp: 1, payload: [0xDE, 0xAD, 0xBE, 0xEF]),
            SeenEvent(timestamp: 3, payload: le64(0x1122_3344_5566_7788)),
        ])
        #expect(summary.problem == nil)
    }

    @Test func missedEventsWithoutCount() {
        let bytes = page(size: 4096, writing: [
            (0, le64(42)),
            (8, le64(0x8000_001C)),        // commit: RB_MISSED_EVENTS (bit 31) | length 28
            (16, le32(0x0000_0006)),       // type_len=6, time_delta=0
            (20, recordA),
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        #expect(seen.count == 1)
        #expect(summary.dataLength == 28)
        #expect(summary.hasMissedEvents)
        #expect(summary.missedEventCount == nil)
        #expect(summary.problem == nil)
    }

    @Test func missedEventsWithStoredCount() {
        let bytes = page(size: 4096, writing: [
            (0, le64(42)),
            (8, le64(0xC000_001C)),        // commit: MISSED_EVENTS | MISSED_STORED (bit 30) | length 28
            (16, le32(0x0000_0006)),       // type_len=6, time_delta=0
            (20, recordA),
            (44, le64(1234)),              // unsigned long missed count at data[28]
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        #expect(seen == [SeenEvent(timestamp: 42, payload: recordA)])
        #expect(summary.hasMissedEvents)
        #expect(summary.missedEventCount == 1234)
        #expect(summary.problem == nil)
    }

    @Test func storedCountThatCannotFitIsReported() {
        // Length 4076 leaves 4 bytes, too few for the 8-byte count.
        let bytes = page(size: 4096, writing: [
            (0, le64(0)),
            (8, le64(0xC000_0FEC)),        // MISSED_EVENTS | MISSED_STORED | length 4076
            (16, le32(0x0000_001D)),       // null padding: no events
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        #expect(seen.isEmpty)
        #expect(summary.missedEventCount == nil)
        #expect(summary.problem == .missedCountOutsidePage)
    }

    @Test func truncatedPageDeliversWholeEventsThenReports() {
        // The header claims 56 bytes (two 28-byte events) but the read stopped
        // 16 bytes into the second one.
        let full = page(size: 4096, writing: [
            (0, le64(1_000)),
            (8, le64(56)),
            (16, le32(0x0000_0026)),       // type_len=6, time_delta=1
            (20, recordA),
            (44, le32(0x0000_0046)),       // type_len=6, time_delta=2
            (48, recordB),
        ])
        let (seen, summary) = decodePage(Array(full.prefix(16 + 44)), format: x86)
        #expect(seen == [SeenEvent(timestamp: 1_001, payload: recordA)])
        #expect(summary.problem == .truncatedPage(dataLength: 56, availableLength: 44))
    }

    @Test func eventOverrunningTheDataIsReported() {
        let bytes = page(size: 4096, writing: [
            (0, le64(0)),
            (8, le64(20)),                 // commit = 20
            (16, le32(0x0000_0021)),       // type_len=1, time_delta=1: 8 bytes, fine
            (20, [1, 2, 3, 4]),
            (24, le32(0x0000_001C)),       // type_len=28: 116 bytes, but only 12 remain
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        #expect(seen.count == 1)
        #expect(summary.problem == .eventOverrunsData(pageOffset: 24))
    }

    @Test func typeLenZeroShorterThanItselfIsInvalid() {
        let bytes = page(size: 4096, writing: [
            (0, le64(0)),
            (8, le64(16)),
            (16, le32(0x0000_0000)),       // type_len=0, time_delta=0
            (20, le32(2)),                 //   array[0]=2 < 4: cannot even hold itself
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        #expect(seen.isEmpty)
        #expect(summary.problem == .invalidEventLength(pageOffset: 16))
    }

    @Test func corruptHeadersAreReportedNotTrusted() {
        let (none, short) = decodePage([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], format: x86)
        #expect(none.isEmpty)
        #expect(short.problem == .shorterThanHeader(byteCount: 10, headerSize: 16))

        let bytes = page(size: 4096, writing: [
            (8, le64(5000)),               // commit = 5000 > 4080 data bytes
            (16, le32(0x0000_0021)),
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        #expect(seen.isEmpty)
        #expect(summary.problem == .commitBeyondPage(dataLength: 5000, dataSize: 4080))
    }

    @Test func pageSizeComesFromHeaderFormat() throws {
        // An 8 KiB sub-buffer (buffer_subbuf_size_kb=8): data size 8176.
        let big = try PageHeaderFormat(
            timestampOffset: 0, commitOffset: 8, commitSize: 8, dataOffset: 16, dataSize: 8176)
        #expect(big.pageSize == 8192)
        var chunks: [(offset: Int, bytes: [UInt8])] = [(0, le64(0)), (8, le64(5000))]
        // 5000 bytes = 125 events of type_len=9 (40 bytes each), time_delta=1 each.
        for index in 0..<125 {
            chunks.append((16 + index * 40, le32(0x0000_0029)))  // type_len=9, time_delta=1
        }
        let (seen, summary) = decodePage(page(size: 8192, writing: chunks), format: big)
        #expect(seen.count == 125)
        #expect(seen.last?.timestamp == 125)
        #expect(summary.problem == nil)
    }

    @Test func absoluteTimeStampKeepsTopBitsLikeTheKernel() {
        // rb_fix_abs_ts: the stored stamp has 59 bits; the top 5 come from
        // the previous time, plus 1 << 59 if the low part wrapped around.
        let bytes = page(size: 4096, writing: [
            (0, le64(0x0FFF_FFFF_FFFF_FF00)), // time_stamp with bit 59 set, low bits near the top
            (8, le64(16)),
            (16, le32(0x0000_021F)),          // type_len=31, time_delta=0x10
            (20, le32(0)),                    //   array[0]=0 → 59-bit stamp 0x10 (wrapped)
            (24, le32(0x0000_0021)),          // type_len=1, time_delta=1
        ])
        let (seen, summary) = decodePage(bytes, format: x86)
        // 0x0800_0000_0000_0010 < previous, so + 1 << 59; then + 1 for the event.
        #expect(seen.map(\.timestamp) == [0x1000_0000_0000_0011])
        #expect(summary.problem == nil)
    }

    @Test func iteratorMatchesClosureAPI() {
        let bytes = page(size: 4096, writing: [
            (0, le64(7)),
            (8, le64(28)),
            (16, le32(0x0000_0026)),          // type_len=6, time_delta=1
            (20, recordA),
        ])
        bytes.withUnsafeBytes { buffer in
            var page = FtracePage(bytes: buffer, format: x86)
            let event = page.nextEvent()
            #expect(event?.timestamp == 8)
            #expect(event.map { Array($0.payload) } == recordA)
            #expect(page.nextEvent() == nil)
            #expect(page.summary.dataEventCount == 1)
        }
    }
}

@Suite struct FunctionEventTests {
    @Test func commonFieldsAndFunctionCall() throws {
        let format = try EventFormat(parsing: ascii(functionFormatText))
        let decoder = try FunctionEventDecoder(format: format)
        #expect(decoder == .x86_64)

        let record = functionRecord(pid: 4321, ip: 0xFFFF_FFFF_8123_4567, parentIP: 0xFFFF_FFFF_8100_1010)
        try record.withUnsafeBytes { (payload) throws in
            let common = try TraceEventCommonFields(decoding: payload)
            #expect(common == TraceEventCommonFields(eventType: 1, flags: 0, preemptCount: 0, pid: 4321))
            #expect(try decoder.decode(payload)
                == FunctionCall(ip: 0xFFFF_FFFF_8123_4567, parentIP: 0xFFFF_FFFF_8100_1010, pid: 4321))
        }
    }

    @Test func rejectsOtherEventsAndShortRecords() throws {
        var other = functionRecord(pid: 1, ip: 2, parentIP: 3)
        other.replaceSubrange(0..<2, with: le16(2106))  // common_type of block_rq_error
        _ = try other.withUnsafeBytes { (payload) throws in
            #expect(throws: TraceRecordError.unexpectedEventType(2106)) {
                try FunctionEventDecoder.x86_64.decode(payload)
            }
        }
        let short = Array(functionRecord(pid: 1, ip: 2, parentIP: 3).prefix(20))
        try short.withUnsafeBytes { (payload) throws in
            #expect(throws: TraceRecordError.outOfBounds(offset: 16, length: 8, recordSize: 20)) {
                try FunctionEventDecoder.x86_64.decode(payload)
            }
            #expect(throws: TraceRecordError.outOfBounds(offset: 0, length: 8, recordSize: 4)) {
                try TraceEventCommonFields(decoding: UnsafeRawBufferPointer(rebasing: payload[0..<4]))
            }
        }
    }

    @Test func functionFormatWithoutIPIsRejected() {
        let text = "name: function\nID: 1\nformat:\n\tfield:unsigned long parent_ip;\toffset:16;\tsize:8;\tsigned:0;\n"
        #expect(throws: TraceFormatError.missingField("ip")) {
            try FunctionEventDecoder(format: EventFormat(parsing: ascii(text)))
        }
    }
}

// Excerpt in the shape of /proc/kallsyms, deliberately out of address order,
// with a data symbol, aliases, module symbols and one malformed line.
let kallsymsText = """
ffffffff81235000 T vfs_write
ffffffff81000000 T _stext
ffffffff81000000 T _text
ffffffff81001000 t do_one_initcall
ffffffff81234500 T vfs_read
ffffffff81234600 D some_data
ffffffffc0201000 t ftrace_trampoline\t[__builtin__ftrace]
ffffffffc0a00000 t e1000_probe\t[e1000]
ffffffffc0a00400 t e1000_remove\t[e1000]
not a symbol line

"""

@Suite struct KernelSymbolTableTests {
    let table = KernelSymbolTable(parsingKallsyms: ascii(kallsymsText))

    @Test func buildsSortedTextSymbolTable() {
        #expect(table.count == 8)  // 9 valid lines minus the data symbol
        #expect(table.malformedLineCount == 1)
        #expect(table.addressesHidden == false)
    }

    @Test func looksUpNameAndOffset() {
        let read = table.lookup(0xFFFF_FFFF_8123_4567)
        #expect(read?.name == "vfs_read")
        #expect(read?.offset == 0x67)
        #expect(read?.symbolAddress == 0xFFFF_FFFF_8123_4500)
        #expect(read?.module == nil)
        // Past the data symbol: data symbols are not kept, so still vfs_read.
        #expect(table.lookup(0xFFFF_FFFF_8123_4608)?.name == "vfs_read")
        #expect(table.lookup(0xFFFF_FFFF_8123_4608)?.offset == 0x108)
        // Exact start of a symbol, and the first alias wins.
        #expect(table.lookup(0xFFFF_FFFF_8123_5000) == KernelSymbolTable.Match(
            name: "vfs_write", module: nil, symbolAddress: 0xFFFF_FFFF_8123_5000, offset: 0))
        #expect(table.lookup(0xFFFF_FFFF_8100_0010)?.name == "_stext")
        // Module symbols carry their module name.
        let probe = table.lookup(0xFFFF_FFFF_C0A0_0010)
        #expect(probe?.name == "e1000_probe")
        #expect(probe?.module == "e1000")
        #expect(probe?.offset == 0x10)
        #expect(table.lookup(0xFFFF_FFFF_C0A0_0400)?.name == "e1000_remove")
        // Below the first symbol there is nothing.
        #expect(table.lookup(0xFFFF_FFFF_8000_0000) == nil)
        #expect(table.lookup(0) == nil)
    }

    @Test func allSymbolsIncludesData() {
        let all = KernelSymbolTable(parsingKallsyms: ascii(kallsymsText), textSymbolsOnly: false)
        #expect(all.count == 9)
        #expect(all.lookup(0xFFFF_FFFF_8123_4608)?.name == "some_data")
    }

    @Test func hiddenAddressesAreDetected() {
        // What a non-root reader sees with kptr_restrict=1.
        let hidden = KernelSymbolTable(parsingKallsyms: ascii("""
        0000000000000000 T _stext
        0000000000000000 T vfs_read
        """))
        #expect(hidden.count == 0)
        #expect(hidden.addressesHidden)
        #expect(hidden.lookup(0xFFFF_FFFF_8123_4567) == nil)
    }

    @Test func symbolizesFunctionEventsFromAPage() throws {
        let x86 = try PageHeaderFormat(parsing: ascii(headerPageX86_64))
        let bytes = page(size: 4096, writing: [
            (0, le64(10)),
            (8, le64(56)),
            (16, le32(0x0000_0026)),   // type_len=6, time_delta=1
            (20, functionRecord(pid: 9, ip: 0xFFFF_FFFF_8123_4567, parentIP: 0xFFFF_FFFF_8100_1010)),
            (44, le32(0x0000_0046)),   // type_len=6, time_delta=2
            (48, functionRecord(pid: 9, ip: 0xFFFF_FFFF_C0A0_0010, parentIP: 0xFFFF_FFFF_8123_5004)),
        ])
        var lines: [String] = []
        var failures = 0
        let summary = bytes.withUnsafeBytes { buffer in
            FtracePage.forEachEvent(in: buffer, format: x86) { timestamp, payload in
                guard let call = try? FunctionEventDecoder.x86_64.decode(payload),
                      let callee = table.lookup(call.ip), let caller = table.lookup(call.parentIP)
                else { failures += 1; return }
                lines.append("\(timestamp) \(call.pid) \(callee.name)+0x\(String(callee.offset, radix: 16)) <- \(caller.name)+0x\(String(caller.offset, radix: 16))")
            }
        }
        #expect(failures == 0)
        #expect(summary.problem == nil)
        #expect(lines == [
            "11 9 vfs_read+0x67 <- do_one_initcall+0x10",
            "13 9 e1000_probe+0x10 <- vfs_write+0x4",
        ])
    }
}
