import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

// Little-endian bytes for record fixtures (FunctionGraphRenderTests too).
func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

/// ftrace events as `live` and `replay` print them. Formats as in
/// /sys/kernel/tracing/events/*/*/format of Linux 6.18 (x86_64).
@Suite struct FtraceRenderTests {
    static let common = """
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

        """
    static let function = try! EventFormat(parsing: Array("""
        name: function
        ID: 1
        format:
        \(common)
        \tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;
        \tfield:unsigned long parent_ip;\toffset:16;\tsize:8;\tsigned:0;

        print fmt: " %ps <-- %ps", (void *)REC->ip, (void *)REC->parent_ip
        """.utf8))
    /// sched_wakeup's comm is the task woken, not the one running.
    static let wakeup = try! EventFormat(parsing: Array("""
        name: sched_wakeup
        ID: 320
        format:
        \(common)
        \tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;
        \tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;

        print fmt: "comm=%s pid=%d", REC->comm, REC->pid
        """.utf8))
    let catalog = FtraceEventCatalog(formats: [("ftrace", function), ("sched", wakeup)])

    static func header(type: UInt16, tid: Int32) -> [UInt8] {
        le16(type) + [0, 0] + le32(UInt32(bitPattern: tid)) // common_type, flags, preempt_count, common_pid
    }

    /// bind_store called from kernfs_fop_write_iter by thread 4121 of bash[4120].
    var bindStore: [UInt8] {
        Self.header(type: 1, tid: 4121)
            + le64(0xffff_ffff_81d5_1da4) // ip
            + le64(0xffff_ffff_8150_0010) // parent_ip
    }

    /// Running: kworker thread 77; woken: "rcu_preempt" pid 16.
    var wakeupRecord: [UInt8] {
        Self.header(type: 320, tid: 77) + Array("rcu_preempt".utf8) + [UInt8](repeating: 0, count: 5) + le32(16)
    }

    func symbol(_ address: UInt64) -> String {
        address == 0xffff_ffff_81d5_1da4 ? "bind_store+0x4" : "kernfs_fop_write_iter+0x130"
    }

    func render(_ bytes: [UInt8], task: TaskIdentity?, json: Bool) throws -> String {
        try Self.render(bytes, catalog: catalog, cpu: 1, task: task, describe: symbol, json: json)
    }

    /// One ftrace record as `live` prints it, in JSON or text (FunctionGraphRenderTests too).
    static func render(_ bytes: [UInt8], catalog: FtraceEventCatalog, cpu: UInt32, task: TaskIdentity?,
                       describe: (UInt64) -> String, json: Bool) throws -> String {
        var out = OutputBuffer()
        try bytes.withUnsafeBytes { payload in
            let view = try catalog.view(payload)
            if json {
                JSONRenderer(clock: clock).renderFtrace(view, monotonic: 1_000_000_000, cpu: cpu, task: task, describe: describe, into: &out)
            } else {
                TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock)
                    .renderFtrace(view, monotonic: 1_000_000_000, cpu: cpu, task: task, describe: describe, into: &out)
            }
        }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func functionEventNamesItsProcessAndThread() throws {
        let bash = TaskIdentity(tgid: 4120, comm: Array("bash".utf8))
        #expect(try render(bindStore, task: bash, json: true) == #"""
            {"time":"2026-11-23T14:07:31.123456789Z","type":"function","pid":4120,"tid":4121,"comm":"bash","cpu":1,"context":"task","function":"bind_store+0x4","caller":"kernfs_fop_write_iter+0x130","ip":"0xffffffff81d51da4","parent_ip":"0xffffffff81500010"}

            """#)
        // Time, who (comm[pid]), the blank namespace and latency columns, the call.
        #expect(try render(bindStore, task: bash, json: false)
                == "14:07:31.123456  bash[4120]" + String(repeating: " ", count: 40)
                + "bind_store+0x4 <- kernfs_fop_write_iter+0x130 cpu=1\n")
    }

    /// A thread that exited before it could be looked up: its id, no guesses.
    @Test func unknownThreadHasNullPidAndComm() throws {
        let line = try render(bindStore, task: nil, json: true)
        #expect(line.contains(#""type":"function","pid":null,"tid":4121,"comm":null,"cpu":1,"#))
        #expect(try render(bindStore, task: nil, json: false).contains("tid[4121]"))
    }

    /// The event's own comm field stays a field: the running thread is
    /// the kworker, the woken task is rcu_preempt.
    @Test func eventCommFieldIsNotTheRunningThread() throws {
        let kworker = TaskIdentity(tgid: 77, comm: Array("kworker/1:1".utf8))
        let line = try render(wakeupRecord, task: kworker, json: true)
        #expect(line.contains(#""pid":77,"tid":77,"comm":"kworker/1:1","cpu":1,"context":"task","event":"sched:sched_wakeup","fields":{"comm":"rcu_preempt","pid":16},"resolved_device":null}"#), "\(line)")
        let unknown = try render(wakeupRecord, task: nil, json: true)
        #expect(unknown.contains(#""pid":null,"tid":77,"comm":null,"#), "\(unknown)")
    }
}
