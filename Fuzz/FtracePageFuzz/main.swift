// libFuzzer target for the ftrace ring-buffer page parser (FtracePage) and the
// event views on its records (FtraceEventCatalog/FtraceEventView), with fixed
// formats: the x86_64 header_page and block_rq_error (ID 2106) of
// Tests/StoretraceDecodeTests/TraceFormatTests.swift, and ftrace:function (ID 1).
// Built and run by scripts/fuzz (target ftrace-page). The input is one page.
import StoretraceDecode

private let pageFormat = try! PageHeaderFormat(parsing: Array("""
	field: u64 timestamp;	offset:0;	size:8;	signed:0;
	field: local_t commit;	offset:8;	size:8;	signed:1;
	field: int overwrite;	offset:8;	size:1;	signed:1;
	field: char data;	offset:16;	size:4080;	signed:0;

""".utf8))

private let common = """
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

"""

private let catalog = FtraceEventCatalog(formats: [
    ("block", try! EventFormat(parsing: Array("""
    name: block_rq_error
    ID: 2106
    format:
    \(common)	field:dev_t dev;	offset:8;	size:4;	signed:0;
    	field:sector_t sector;	offset:16;	size:8;	signed:0;
    	field:unsigned int nr_sector;	offset:24;	size:4;	signed:0;
    	field:int error;	offset:28;	size:4;	signed:1;
    	field:unsigned short ioprio;	offset:32;	size:2;	signed:0;
    	field:char rwbs[10];	offset:34;	size:10;	signed:0;
    	field:__data_loc char[] cmd;	offset:44;	size:4;	signed:0;

    print fmt: "%d,%d %s (%s)", REC->rwbs, __get_str(cmd)

    """.utf8))),
    ("ftrace", try! EventFormat(parsing: Array("""
    name: function
    ID: 1
    format:
    \(common)	field:unsigned long ip;	offset:8;	size:8;	signed:0;
    	field:unsigned long parent_ip;	offset:16;	size:8;	signed:0;

    print fmt: " %ps <-- %ps", (void *)REC->ip, (void *)REC->parent_ip

    """.utf8))),
])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var events = 0
    let summary = FtracePage.forEachEvent(in: input, format: pageFormat) { (_, payload) throws(Never) in
        events += 1
        precondition(payload.count <= size, "an event larger than its page")
        guard let view = try? catalog.view(payload) else { return }
        _ = view.comm
        view.forEachField(includeCommon: true) { (_, value) throws(Never) in _ = value }
    }
    // Every event takes at least its 4-byte header.
    precondition(events <= size / 4, "more events than fit in the page")
    _ = summary
    return 0
}
