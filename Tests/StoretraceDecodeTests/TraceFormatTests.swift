import Testing
import StoretraceDecode

// Copied from /sys/kernel/tracing/events/header_page on Linux 6.18 x86_64.
let headerPageX86_64 = """
	field: u64 timestamp;	offset:0;	size:8;	signed:0;
	field: local_t commit;	offset:8;	size:8;	signed:1;
	field: int overwrite;	offset:8;	size:1;	signed:1;
	field: char data;	offset:16;	size:4080;	signed:0;

"""

// Copied from /sys/kernel/tracing/events/block/block_rq_error/format on Linux 6.18.
let blockRqErrorFormat = """
name: block_rq_error
ID: 2106
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:dev_t dev;	offset:8;	size:4;	signed:0;
	field:sector_t sector;	offset:16;	size:8;	signed:0;
	field:unsigned int nr_sector;	offset:24;	size:4;	signed:0;
	field:int error;	offset:28;	size:4;	signed:1;
	field:unsigned short ioprio;	offset:32;	size:2;	signed:0;
	field:char rwbs[10];	offset:34;	size:10;	signed:0;
	field:__data_loc char[] cmd;	offset:44;	size:4;	signed:0;

print fmt: "%d,%d %s (%s) %llu + %u %s,%u,%u [%d]", ((unsigned int) ((REC->dev) >> 20)), REC->rwbs, __get_str(cmd)

"""

// Modelled on samples/trace_events (foo_rel_loc): two __rel_loc fields, plus
// the other field kinds the classifier distinguishes.
let relLocFormat = """
name: foo_rel_loc
ID: 1500
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:u16 foo;	offset:8;	size:2;	signed:0;
	field:s8 delta;	offset:10;	size:1;	signed:1;
	field:__rel_loc char[] hello;	offset:12;	size:4;	signed:0;
	field:__rel_loc unsigned long[] bitmask;	offset:16;	size:4;	signed:0;
	field:const char * fmt;	offset:24;	size:8;	signed:0;
	field:u8 addr[4];	offset:32;	size:4;	signed:0;
	field:unsigned long args[];	offset:40;	size:0;	signed:0;

print fmt: "foo=%u hello=%s", REC->foo, __get_rel_str(hello)
"""

@Suite struct PageHeaderFormatTests {
    @Test func parsesX86_64HeaderPage() throws {
        let format = try PageHeaderFormat(parsing: ascii(headerPageX86_64))
        #expect(format.timestampOffset == 0)
        #expect(format.commitOffset == 8)
        #expect(format.commitSize == 8)
        #expect(format.dataOffset == 16)
        #expect(format.dataSize == 4080)
        #expect(format.pageSize == 4096)
    }

    @Test func parses32BitHeaderPage() throws {
        // 32-bit kernels: local_t is 4 bytes, so data starts at 12.
        let text = """
        \tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;
        \tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;
        \tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;
        \tfield: char data;\toffset:12;\tsize:4084;\tsigned:1;
        """
        let format = try PageHeaderFormat(parsing: ascii(text))
        #expect(format.commitSize == 4)
        #expect(format.dataOffset == 12)
        #expect(format.pageSize == 4096)
    }

    @Test func rejectsHeaderPageWithoutData() {
        let text = """
        \tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;
        \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;
        """
        #expect(throws: TraceFormatError.missingField("data")) {
            try PageHeaderFormat(parsing: ascii(text))
        }
    }

    @Test func rejectsDataOverlappingCommit() {
        let text = """
        \tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;
        \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;
        \tfield: char data;\toffset:12;\tsize:4084;\tsigned:1;
        """
        #expect(throws: TraceFormatError.unexpectedFieldLayout("data")) {
            try PageHeaderFormat(parsing: ascii(text))
        }
    }

    @Test func rejectsNonNumericOffset() {
        let text = "\tfield: u64 timestamp;\toffset:zero;\tsize:8;\tsigned:0;\n"
        #expect(throws: TraceFormatError.malformedField(line: 1)) {
            try PageHeaderFormat(parsing: ascii(text))
        }
    }
}

@Suite struct EventFormatTests {
    @Test func parsesBlockRqError() throws {
        let format = try EventFormat(parsing: ascii(blockRqErrorFormat))
        #expect(format.name == "block_rq_error")
        #expect(format.id == 2106)
        #expect(format.fields.count == 11)
        #expect(format.fields.filter(\.isCommon).map(\.name)
            == ["common_type", "common_flags", "common_preempt_count", "common_pid"])
        #expect(format.printFormat.hasPrefix("\"%d,%d %s (%s)"))

        let pid = try #require(format.field(named: "common_pid"))
        #expect(pid.type == "int")
        #expect(pid.layout == FieldLayout(offset: 4, size: 4, isSigned: true, kind: .integer))

        let rwbs = try #require(format.field(named: "rwbs"))
        #expect(rwbs.type == "char")
        #expect(rwbs.layout == FieldLayout(offset: 34, size: 10, isSigned: false, kind: .charArray(count: 10)))

        let cmd = try #require(format.field(named: "cmd"))
        #expect(cmd.type == "__data_loc char[]")
        #expect(cmd.layout == FieldLayout(offset: 44, size: 4, isSigned: false, kind: .dataLoc))
        #expect(cmd.isCommon == false)

        #expect(format.fieldIndex(named: "sector") == 5)
        #expect(format.layout(of: "error") == FieldLayout(offset: 28, size: 4, isSigned: true, kind: .integer))
        #expect(format.field(named: "missing") == nil)
    }

    @Test func classifiesRelLocPointerAndArrays() throws {
        let format = try EventFormat(parsing: ascii(relLocFormat))
        #expect(format.layout(of: "hello")?.kind == .relLoc)
        #expect(format.field(named: "bitmask")?.type == "__rel_loc unsigned long[]")
        #expect(format.layout(of: "bitmask")?.kind == .relLoc)
        #expect(format.field(named: "fmt")?.type == "const char *")
        #expect(format.layout(of: "fmt")?.kind == .pointer)
        #expect(format.layout(of: "addr")?.kind == .array(elementCount: 4))
        #expect(format.field(named: "addr")?.type == "u8")
        #expect(format.layout(of: "args") == FieldLayout(offset: 40, size: 0, isSigned: false, kind: .array(elementCount: nil)))
        #expect(format.layout(of: "delta") == FieldLayout(offset: 10, size: 1, isSigned: true, kind: .integer))
    }

    @Test func reportsMissingIDAndBadFieldLines() {
        #expect(throws: TraceFormatError.missingID) {
            try EventFormat(parsing: ascii("name: x\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n"))
        }
        #expect(throws: TraceFormatError.missingName) {
            try EventFormat(parsing: ascii("ID: 5\n"))
        }
        #expect(throws: TraceFormatError.invalidID(line: 2)) {
            try EventFormat(parsing: ascii("name: x\nID: 70000\n"))
        }
        // Line 4 has no size.
        #expect(throws: TraceFormatError.malformedField(line: 4)) {
            try EventFormat(parsing: ascii("name: x\nID: 5\nformat:\n\tfield:int a;\toffset:0;\n"))
        }
        // A field with a type but no name.
        #expect(throws: TraceFormatError.malformedField(line: 1)) {
            try EventFormat(parsing: ascii("\tfield:int *;\toffset:0;\tsize:8;\tsigned:0;\n"))
        }
    }
}

@Suite struct FieldReaderTests {
    /// A block_rq_error record, laid out per blockRqErrorFormat.
    static let blockRecord: [UInt8] =
        le16(2106)                   // @0  common_type = 2106 (the event's ID)
        + [0x01]                     // @2  common_flags = TRACE_FLAG_IRQS_OFF
        + [0x02]                     // @3  common_preempt_count = 2
        + le32(4242)                 // @4  common_pid = 4242
        + le32(0x0080_0000)          // @8  dev = MKDEV(8, 0): major << 20 | minor
        + [0, 0, 0, 0]               // @12 padding before the u64
        + le64(123_456)              // @16 sector
        + le32(8)                    // @24 nr_sector
        + le32(0xFFFF_FFFB)          // @28 error = -5 (-EIO)
        + le16(0x4000)               // @32 ioprio = class 2 (best effort) << 13
        + ascii("WS") + [0, 0, 0, 0, 0, 0, 0, 0]  // @34 rwbs[10] = "WS", NUL padded
        + le32(0x0005_0030)          // @44 cmd: __data_loc, length 5 << 16 | offset 48
        + ascii("sync") + [0]        // @48 "sync\0"
        + [0, 0, 0]                  // @53 ring-buffer alignment padding to 56

    @Test func readsIntegersWithSignExtension() throws {
        let format = try EventFormat(parsing: ascii(blockRqErrorFormat))
        let dev = try #require(format.layout(of: "dev"))
        let sector = try #require(format.layout(of: "sector"))
        let error = try #require(format.layout(of: "error"))
        let ioprio = try #require(format.layout(of: "ioprio"))
        try Self.blockRecord.withUnsafeBytes { (record) throws in
            #expect(try dev.unsignedInteger(in: record) == 0x80_0000)
            #expect(try sector.integer(in: record) == 123_456)
            #expect(try error.integer(in: record) == -5)
            #expect(try error.unsignedInteger(in: record) == 0xFFFF_FFFF_FFFF_FFFB)
            #expect(try ioprio.integer(in: record) == 0x4000)
        }
    }

    @Test func readsCharArrayAndDataLocStrings() throws {
        let format = try EventFormat(parsing: ascii(blockRqErrorFormat))
        let rwbs = try #require(format.field(named: "rwbs"))
        let cmd = try #require(format.field(named: "cmd"))
        try Self.blockRecord.withUnsafeBytes { (record) throws in
            #expect(text(try rwbs.string(in: record)) == "WS")
            #expect(try rwbs.bytes(in: record).count == 10)
            #expect(text(try cmd.string(in: record)) == "sync")
            // bytes(in:) is the whole dynamic area, terminating NUL included.
            #expect(Array(try cmd.bytes(in: record)) == ascii("sync") + [0])
        }
    }

    @Test func readsRelLocRelativeToFieldEnd() throws {
        let format = try EventFormat(parsing: ascii(relLocFormat))
        let foo = try #require(format.layout(of: "foo"))
        let delta = try #require(format.layout(of: "delta"))
        let hello = try #require(format.layout(of: "hello"))
        let bitmask = try #require(format.layout(of: "bitmask"))
        let fmt = try #require(format.layout(of: "fmt"))
        let addr = try #require(format.layout(of: "addr"))
        let record: [UInt8] =
            le16(1500) + [0, 0] + le32(1)    // @0  common fields: type 1500, pid 1
            + le16(7)                         // @8  foo = 7
            + [0xFE]                          // @10 delta = -2
            + [0]                             // @11 padding
            + le32(0x0006_0018)               // @12 hello: length 6 << 16 | 24 → data at 12 + 4 + 24 = 40
            + le32(0x0008_001A)               // @16 bitmask: length 8 << 16 | 26 → data at 16 + 4 + 26 = 46
            + [0, 0, 0, 0]                    // @20 padding before the pointer
            + le64(0xFFFF_FFFF_8200_0000)     // @24 fmt = a kernel address
            + [10, 0, 0, 1]                   // @32 addr[4]
            + [0, 0, 0, 0]                    // @36 padding; fixed part ends at 40
            + ascii("world") + [0]            // @40 hello's data "world\0"
            + le64(0x0000_0000_0000_000F)     // @46 bitmask's data: CPUs 0-3
        try record.withUnsafeBytes { (record) throws in
            #expect(try foo.unsignedInteger(in: record) == 7)
            #expect(try delta.integer(in: record) == -2)
            #expect(try delta.unsignedInteger(in: record) == UInt64.max - 1)
            #expect(try fmt.unsignedInteger(in: record) == 0xFFFF_FFFF_8200_0000)
            #expect(Array(try addr.bytes(in: record)) == [10, 0, 0, 1])
            #expect(text(try hello.string(in: record)) == "world")
            #expect(Array(try bitmask.bytes(in: record)) == le64(0xF))
            // Read as __data_loc, the same word would point at offset 24 instead.
            let asDataLoc = FieldLayout(offset: 12, size: 4, isSigned: false, kind: .dataLoc)
            #expect(try asDataLoc.bytes(in: record).baseAddress == record.baseAddress.map { $0 + 24 })
        }
    }

    @Test func rejectsOutOfBoundsAndWrongKinds() throws {
        let format = try EventFormat(parsing: ascii(blockRqErrorFormat))
        let cmd = try #require(format.layout(of: "cmd"))
        let sector = try #require(format.layout(of: "sector"))
        let rwbs = try #require(format.layout(of: "rwbs"))

        // A record cut off at 20 bytes: sector (@16, 8 bytes) is not all there.
        _ = try Array(Self.blockRecord.prefix(20)).withUnsafeBytes { (record) throws in
            #expect(throws: TraceRecordError.outOfBounds(offset: 16, length: 8, recordSize: 20)) {
                try sector.integer(in: record)
            }
        }
        // A __data_loc word pointing past the record: offset 60, length 5.
        var corrupt = Self.blockRecord
        corrupt.replaceSubrange(44..<48, with: le32(0x0005_003C))
        try corrupt.withUnsafeBytes { (record) throws in
            #expect(throws: TraceRecordError.outOfBounds(offset: 60, length: 5, recordSize: 56)) {
                try cmd.string(in: record)
            }
            #expect(throws: TraceRecordError.notAString) { try sector.string(in: record) }
            #expect(throws: TraceRecordError.notAnInteger) { try rwbs.integer(in: record) }
        }
        // A char array with no NUL stops at the end of the field, not beyond.
        let unterminated = ascii("ABCDEFGHIJ") + ascii("XYZ")
        try unterminated.withUnsafeBytes { (record) throws in
            let field = FieldLayout(offset: 0, size: 10, isSigned: false, kind: .charArray(count: 10))
            #expect(text(try field.string(in: record)) == "ABCDEFGHIJ")
        }
    }
}
