import CStoretraceSys
import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import Testing

extension KernelTests {
/// Every event lost is counted, and counted once.
@Suite struct LossCountTests {
    /// The smallest perf buffer (`--perf-buffer --buffer-size 4K`) and a
    /// copy_file_range storm that is not read while it runs: most outputs
    /// fail. The BPF program counts each failure once ("perf buffer lost");
    /// the kernel's lost-sample records report the same failures again and
    /// are kept apart, so shown + lost is exactly the number of calls.
    @Test func perfBufferStormCountsEachLossOnce() throws {
        let scratch = Scratch()
        let input = try check(open(scratch.path + "/in", O_RDWR | O_CREAT, 0o600), "open in")
        let output = try check(open(scratch.path + "/out", O_WRONLY | O_CREAT, 0o600), "open out")
        defer { close(input); close(output) }
        #expect(write(input, "x", 1) == 1)
        var options = TracerOptions()
        options.targetPID = UInt32(getpid())
        options.kinds = [.copyFileRange]
        options.forcePerfBuffer = true
        options.bufferSize = 4 << 10
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        var shown = 0
        let tracer = try SyscallTracer(options: options, tracefs: tracefs)
        let count = { (raw: RawRecord) in
            guard let record = try? SyscallRecord(validating: raw.bytes), record.kind == .copyFileRange,
                  record.intArg(0) == input else { return }
            shown += 1
        }
        defer { tracer.close() }
        #expect(tracer.usesPerfBuffer)
        // 4 KiB asked, 8 pages per CPU given: said, not done quietly.
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        #expect(tracer.bufferBytes == 8 * 4096 * cpus)
        #expect(tracer.bufferNotice == "perf buffer: --buffer-size 4 KiB is below its minimum of 8 pages per CPU; using \(32 * cpus) KiB (32 KiB on each of \(cpus) CPUs)")

        let calls = 20_000
        for _ in 0..<calls {
            var offIn: Int64 = 0
            _ = st_copy_file_range(input, &offIn, output, nil, 1, 0)
        }
        while tracer.poll(timeoutMilliseconds: 50, count) > 0 {}
        let losses = tracer.counters()
        #expect(losses.perfLost > 0, "the storm should overflow a 64 KiB buffer")
        #expect(losses.bufferFull == 0, "no ring buffer in perf-buffer mode")
        #expect(UInt64(shown) + losses.lost == UInt64(calls),
                "\(shown) shown + \(losses.lost) lost (\(losses)) != \(calls) calls")
        #expect(losses.perfLostReported <= losses.perfLost, "\(losses)")
    }

    /// The storm through the CLI: `live --perf-buffer --buffer-size 4K`
    /// on a process making 200,000 copy_file_range calls. The summary showed
    /// "25162 lost (12581 ring buffer full, 12581 perf buffer lost)" for 12,581
    /// losses: now events shown + lost is exactly the number of calls, the
    /// loss is named once, and the enlarged buffer is said once.
    @Test func perfBufferStormSummaryIsExact() throws {
        let scratch = Scratch()
        let input = scratch.path + "/in"
        #expect(FileManager.default.createFile(atPath: input, contents: Data("x".utf8)))
        let calls = 200_000
        // Waits for a line on stdin (storetrace is attached), copies one byte
        // from offset 0 of the input `calls` times, says "done" and stays
        // until stdin closes: a process that has exited when its last events
        // are decoded has no cgroup to read, and the summary would count
        // those events as "without a known cgroup".
        let storm = Process()
        storm.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        storm.arguments = ["-c", """
            import os, sys
            src = os.open(sys.argv[1], os.O_RDONLY)
            dst = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o600)
            sys.stdin.readline()
            for _ in range(int(sys.argv[3])): os.copy_file_range(src, dst, 1, 0)
            print("done", flush=True)
            sys.stdin.read()
            """, input, scratch.path + "/out", "\(calls)"]
        let go = Pipe()
        let done = Pipe()
        storm.standardInput = go
        storm.standardOutput = done
        try storm.run()
        let live = try RunningCLI(["live", "--json", "--perf-buffer", "--buffer-size", "4K", "--wakeup-interval", "40ms",
                                   "--type", "copy_file_range", "--pid", "\(storm.processIdentifier)"])
        #expect(live.waitUntilReady(), "\(live.stderrText)")
        try go.fileHandleForWriting.write(contentsOf: Data("go\n".utf8))
        let said = done.fileHandleForReading.readData(ofLength: 5)
        #expect(String(decoding: said, as: UTF8.self) == "done\n")
        usleep(500_000)
        let end = live.stop(SIGINT)
        #expect(end.status == 0, "\(end.stderr)")
        try go.fileHandleForWriting.close()
        storm.waitUntilExit()
        #expect(storm.terminationStatus == 0)

        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        let notice = "storetrace: perf buffer: --buffer-size 4 KiB is below its minimum of 8 pages per CPU; using \(32 * cpus) KiB (32 KiB on each of \(cpus) CPUs)"
        #expect(end.stderr.components(separatedBy: notice).count == 2, "said once: \(end.stderr)")
        let events = jsonLines(end.stdout).filter { $0["type"] as? String == "copy_file_range" }
        #expect(events.allSatisfy { $0["pid"] as? Int == Int(storm.processIdentifier) })
        // "storetrace: N events shown (N traced), L lost (L perf buffer lost), 0 malformed; stopped by SIGINT"
        let summary = try #require(end.stderr.split(separator: "\n").first { $0.contains(" events shown ") }, "\(end.stderr)")
        let numbers = summary.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(numbers.count == 5, "\(summary)")
        let (shown, traced, lost) = (numbers[0], numbers[1], numbers[2])
        #expect(shown == events.count && traced == shown, "\(summary)")
        #expect(lost > 0, "the storm should overflow \(32 * cpus) KiB: \(summary)")
        #expect(shown + lost == calls, "\(summary)")
        #expect(summary == "storetrace: \(shown) events shown (\(shown) traced), \(lost) lost (\(lost) perf buffer lost), 0 malformed; stopped by SIGINT")
    }

    /// The ring buffer holds exactly what was asked: no notice.
    @Test func ringBufferSizeIsAsAsked() throws {
        var options = TracerOptions()
        options.targetPID = UInt32(getpid())
        options.kinds = [.copyFileRange]
        options.bufferSize = 64 << 10
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let tracer = try SyscallTracer(options: options, tracefs: tracefs)
        defer { tracer.close() }
        #expect(!tracer.usesPerfBuffer)
        #expect(tracer.bufferBytes == 64 << 10)
        #expect(tracer.bufferNotice == nil)
    }
}
}

@Suite struct PerfBufferSizeTests {
    @Test func pagesPerCPUArePowersOfTwoAndAtLeastEight() {
        #expect(SyscallTracer.perfBufferPagesPerCPU(requestedBytes: 4 << 10, cpus: 2, pageSize: 4096) == 8)
        #expect(SyscallTracer.perfBufferPagesPerCPU(requestedBytes: 8 << 20, cpus: 2, pageSize: 4096) == 1024)
        #expect(SyscallTracer.perfBufferPagesPerCPU(requestedBytes: 8 << 20, cpus: 3, pageSize: 4096) == 512)
        #expect(SyscallTracer.perfBufferNotice(requestedBytes: 8 << 20, cpus: 2, pageSize: 4096) == nil)
        #expect(SyscallTracer.perfBufferNotice(requestedBytes: 8 << 20, cpus: 3, pageSize: 4096) == nil) // smaller, not larger
        #expect(SyscallTracer.perfBufferNotice(requestedBytes: 64 << 10, cpus: 4, pageSize: 4096)
                == "perf buffer: --buffer-size 64 KiB is below its minimum of 8 pages per CPU; using 128 KiB (32 KiB on each of 4 CPUs)")
    }
}
