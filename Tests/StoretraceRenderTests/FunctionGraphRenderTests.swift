import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

/// The function_graph tracer's records, decoded and printed. The exit
/// format with `retval` is the one Linux 6.5+ writes with
/// CONFIG_FUNCTION_GRAPH_RETVAL (kernel/trace/trace_entries.h: func,
/// retval, depth, overrun packed, then calltime and rettime); the one
/// without it is this machine's (Linux 6.18 without that option), read off
/// /sys/kernel/tracing/events/ftrace/funcgraph_exit/format.
@Suite struct FunctionGraphRenderTests {
    static let common = FtraceRenderTests.common
    static let entry = try! EventFormat(parsing: Array("""
        name: funcgraph_entry
        ID: 11
        format:
        \(common)
        \tfield:unsigned long func;\toffset:8;\tsize:8;\tsigned:0;
        \tfield:unsigned int depth;\toffset:16;\tsize:4;\tsigned:0;

        print fmt: "--> %ps (%u)", (void *)REC->func, REC->depth
        """.utf8))
    static let exitWithReturnValue = try! EventFormat(parsing: Array("""
        name: funcgraph_exit
        ID: 10
        format:
        \(common)
        \tfield:unsigned long func;\toffset:8;\tsize:8;\tsigned:0;
        \tfield:unsigned long retval;\toffset:16;\tsize:8;\tsigned:0;
        \tfield:unsigned int depth;\toffset:24;\tsize:4;\tsigned:0;
        \tfield:unsigned int overrun;\toffset:28;\tsize:4;\tsigned:0;
        \tfield:unsigned long long calltime;\toffset:32;\tsize:8;\tsigned:0;
        \tfield:unsigned long long rettime;\toffset:40;\tsize:8;\tsigned:0;

        print fmt: "<-- %ps (%u) (start: %llx  end: %llx) over: %u retval: %lx", (void *)REC->func, REC->depth, REC->calltime, REC->rettime, REC->depth, REC->retval
        """.utf8))
    static let exitWithoutReturnValue = try! EventFormat(parsing: Array("""
        name: funcgraph_exit
        ID: 10
        format:
        \(common)
        \tfield:unsigned long func;\toffset:8;\tsize:8;\tsigned:0;
        \tfield:unsigned int depth;\toffset:16;\tsize:4;\tsigned:0;
        \tfield:unsigned int overrun;\toffset:20;\tsize:4;\tsigned:0;
        \tfield:unsigned long long calltime;\toffset:24;\tsize:8;\tsigned:0;
        \tfield:unsigned long long rettime;\toffset:32;\tsize:8;\tsigned:0;

        print fmt: "<-- %ps (%u) (start: %llx  end: %llx) over: %u", (void *)REC->func, REC->depth, REC->calltime, REC->rettime, REC->depth
        """.utf8))

    static let nvmeProbe: UInt64 = 0xffff_ffff_c01a_2000
    func symbol(_ address: UInt64) -> String { address == Self.nvmeProbe ? "nvme_probe" : "0x" + String(address, radix: 16) }

    /// kworker thread 212 enters nvme_probe at depth 0.
    var entryRecord: [UInt8] {
        FtraceRenderTests.header(type: 11, tid: 212)
            + le64(Self.nvmeProbe) // func
            + le32(0)              // depth
            + le32(0)              // padding to the record's 8-byte size
    }

    /// nvme_probe returns -ENODEV as an int: eax = 0xffffffed, the upper
    /// half of the register zero, 1.25 ms after the call.
    var failedExitRecord: [UInt8] {
        FtraceRenderTests.header(type: 10, tid: 212)
            + le64(Self.nvmeProbe)           // func
            + le64(0x0000_0000_ffff_ffed)    // retval: (int)-19 in a 64-bit register
            + le32(0)                        // depth
            + le32(0)                        // overrun
            + le64(5_000_000_000)            // calltime (ns, local trace clock)
            + le64(5_001_250_000)            // rettime
    }

    /// The same call without funcgraph-retval: the duration only.
    var exitWithoutValueRecord: [UInt8] {
        FtraceRenderTests.header(type: 10, tid: 212)
            + le64(Self.nvmeProbe)           // func
            + le32(0)                        // depth
            + le32(0)                        // overrun
            + le64(5_000_000_000)            // calltime
            + le64(5_000_004_200)            // rettime: 4.2 µs later
    }

    func render(_ bytes: [UInt8], exit: EventFormat, json: Bool) throws -> String {
        let catalog = FtraceEventCatalog(formats: [("ftrace", Self.entry), ("ftrace", exit)])
        let task = TaskIdentity(tgid: 212, comm: Array("kworker/0:2".utf8))
        return try FtraceRenderTests.render(bytes, catalog: catalog, cpu: 0, task: task, describe: symbol, json: json)
    }

    @Test func decodesEntryAndExitByTheirFormats() throws {
        let withValue = try #require(try GraphEventDecoder(format: Self.exitWithReturnValue))
        let call = try failedExitRecord.withUnsafeBytes { try withValue.decode($0) }
        #expect(call == GraphCall(phase: .exit, function: Self.nvmeProbe, depth: 0,
                                  returnValue: 0xffff_ffed, durationNanoseconds: 1_250_000))
        #expect(call.errno == 19)
        #expect(call.signedReturnValue == -19)

        let withoutValue = try #require(try GraphEventDecoder(format: Self.exitWithoutReturnValue))
        let bare = try exitWithoutValueRecord.withUnsafeBytes { try withoutValue.decode($0) }
        #expect(bare == GraphCall(phase: .exit, function: Self.nvmeProbe, depth: 0, returnValue: nil, durationNanoseconds: 4_200))
        #expect(bare.errno == nil && bare.signedReturnValue == nil)

        let entry = try #require(try GraphEventDecoder(format: Self.entry))
        #expect(try entryRecord.withUnsafeBytes { try entry.decode($0) } == GraphCall(phase: .entry, function: Self.nvmeProbe, depth: 0))
        // Not a graph event: no decoder; a graph event without func: an error.
        #expect(try GraphEventDecoder(format: FtraceRenderTests.function) == nil)
    }

    /// An errno is read from the low 32 bits (an int in a 64-bit register)
    /// or the whole register (ssize_t, sign-extended); anything else is a value.
    @Test func returnValuesAsTheFunctionMeantThem() {
        func call(_ value: UInt64) -> GraphCall { GraphCall(phase: .exit, function: 1, depth: 0, returnValue: value, durationNanoseconds: 1) }
        #expect(call(0xffff_ffff_ffff_ffed).errno == 19)   // (ssize_t)-ENODEV from bind_store
        #expect(call(0x0000_0000_ffff_f001).errno == 4095) // (int)-4095, the last errno
        #expect(call(0x0000_0000_ffff_f000).errno == nil)  // (int)-4096 is no errno
        #expect(call(0x0000_0000_ffff_f000).signedReturnValue == 0xffff_f000)
        #expect(call(13).signedReturnValue == 13)          // bind_store wrote 13 bytes
        #expect(call(0x1234_5678_ffff_ffed).errno == nil)  // garbage upper half with a non-errno pattern
        #expect(call(0).errno == nil && call(0).signedReturnValue == 0)
    }

    @Test func exitShowsReturnValueErrnoAndDuration() throws {
        #expect(try render(failedExitRecord, exit: Self.exitWithReturnValue, json: true) == #"""
            {"time":"2026-11-23T14:07:31.123456789Z","type":"function","pid":212,"tid":212,"comm":"kworker/0:2","cpu":0,"context":"task","function":"nvme_probe","ip":"0xffffffffc01a2000","phase":"return","depth":0,"retval":-19,"errno":"ENODEV","duration_ns":1250000}

            """#)
        // The duration sits in the latency column, as a syscall's does.
        #expect(try render(failedExitRecord, exit: Self.exitWithReturnValue, json: false)
                == "14:07:31.123456  kworker/0:2[212]" + String(repeating: " ", count: 26) + "1.25ms  nvme_probe = -19 ENODEV cpu=0\n")
        #expect(try render(exitWithoutValueRecord, exit: Self.exitWithoutReturnValue, json: true).hasSuffix(
            #""phase":"return","depth":0,"retval":null,"errno":null,"duration_ns":4200}"# + "\n"))
        #expect(try render(exitWithoutValueRecord, exit: Self.exitWithoutReturnValue, json: false)
                .hasSuffix("4.20µs  nvme_probe returned cpu=0\n"))
    }

    @Test func entryShowsTheCall() throws {
        #expect(try render(entryRecord, exit: Self.exitWithReturnValue, json: true).hasSuffix(
            #""cpu":0,"context":"task","function":"nvme_probe","ip":"0xffffffffc01a2000","phase":"entry","depth":0}"# + "\n"))
        #expect(try render(entryRecord, exit: Self.exitWithReturnValue, json: false)
                == "14:07:31.123456  kworker/0:2[212]" + String(repeating: " ", count: 34) + "→ nvme_probe cpu=0\n")
    }
}
