import CLibbpf
import Foundation
import Glibc
import Testing
@testable import StoretraceKernel

/// The built `storetrace` binary, run as a user would.
struct CLI {
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0])
        .deletingLastPathComponent().appendingPathComponent("storetrace").path


    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Killed by `run`'s time limit: it would have hung.
        var timedOut = false
        var seconds = 0.0
    }

    /// Runs the binary (optionally through a wrapper like setpriv) to completion,
    /// or until `timeout` seconds have passed: then it is killed (SIGKILL) and
    /// the result says it timed out, so a test of "does not hang" fails, not hangs.
    static func run(_ arguments: [String], via wrapper: [String] = [], timeout: Double? = nil) throws -> Result {
        let process = Process()
        let command = wrapper + [executable] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let started = Date()
        try process.run()
        let killer = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer) }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self),
                      timedOut: process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL,
                      seconds: Date().timeIntervalSince(started))
    }
}

/// Names of the BPF programs loaded in the kernel right now.
func loadedBPFProgramNames() -> [String] {
    var names: [String] = []
    var id: UInt32 = 0
    while bpf_prog_get_next_id(id, &id) == 0 {
        let fd = bpf_prog_get_fd_by_id(id)
        guard fd >= 0 else { continue }
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        if bpf_obj_get_info_by_fd(fd, &info, &length) == 0 {
            names.append(withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        close(fd)
    }
    return names
}

@Suite struct CLIArgumentTests {
    @Test func compressionValuesAreChecked() throws {
        for (value, message) in [("gzip", "'gzip' is not a compression: none, zstd or zstd:LEVEL (1 to 19)"),
                                 ("zstd:22", "zstd level '22' is not a number from 1 to 19")] {
            let result = try CLI.run(["record", "--compress", value])
            #expect(result.status == 64, "\(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func unknownTypeIsOneClearLine() throws {
        let result = try CLI.run(["live", "--type", "mkdir"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown --type 'mkdir'; choose from: mount, umount"))
    }

    @Test func badSizesAndDurations() throws {
        #expect(try CLI.run(["live", "--buffer-size", "3M"]).stderr.contains("must be a power of two"))
        #expect(try CLI.run(["live", "--duration", "soon"]).stderr.contains("The value 'soon' is invalid for '--duration <duration>': not a number"))
        #expect(try CLI.run(["live", "--min-latency", "fast"]).stderr.contains("The value 'fast' is invalid for '--min-latency <duration>': not a number"))
        let slow = try CLI.run(["live", "--wakeup-interval", "1s"])
        #expect(slow.status != 0)
        #expect(slow.stderr.contains("--wakeup-interval must be 0 (wake for every event) or from 1ms to 40ms (got 1s)"))
        #expect(try CLI.run(["record", "--flush-interval", "5ms"]).stderr.contains("--flush-interval must be between 10ms and 60s"))
    }

    /// The first line of stderr, the error; ArgumentParser's usage lines follow it.
    static func errorLine(_ arguments: [String]) throws -> (status: Int32, line: String) {
        let result = try CLI.run(arguments)
        return (result.status, String(result.stderr.split(separator: "\n").first ?? ""))
    }

    /// A bare number is not a duration: the error says which units exist.
    @Test func aDurationNeedsAUnit() throws {
        let result = try Self.errorLine(["live", "--min-latency", "10"])
        #expect(result.status == 64)
        #expect(result.line == "Error: The value '10' is invalid for '--min-latency <duration>': a unit is required: ns, us (or µs), ms, s, m, h")
        #expect(try Self.errorLine(["record", "--max-size", "100"]).line
                == "Error: The value '100' is invalid for '--max-size <size>': a unit is required: K, M, G (or KiB, MiB, GiB)")
        #expect(try Self.errorLine(["live", "--buffer-size", "8T"]).line
                == "Error: The value '8T' is invalid for '--buffer-size <size>': unknown unit 'T'; use bytes, K, M, G (or KiB, MiB, GiB)")
    }

    /// Values too large for 64 bits trapped the process (SIGILL) before: now
    /// each is one error line and exit status 64, before anything is traced.
    @Test func hugeValuesAreErrorsNotTraps() throws {
        let cases: [([String], String)] = [
            (["live", "--duration", "99999999999999999999s"], "'--duration <duration>': too large (at most 5124095h)"),
            (["live", "--min-latency", "99999999999999999999h"], "'--min-latency <duration>': too large (at most 5124095h)"),
            (["live", "--wakeup-interval", "18446744073709551616ns"], "'--wakeup-interval <duration>': too large (at most 5124095h)"),
            (["record", "--flush-interval", "99999999999999999999ms"], "'--flush-interval <duration>': too large (at most 5124095h)"),
            (["live", "--buffer-size", "99999999999999999999G"], "'--buffer-size <size>': too large (at most 17179869183G)"),
            (["record", "--max-size", "17179869184G"], "'--max-size <size>': too large (at most 17179869183G)"),
            (["replay", "x.stcap", "--since", "+99999999999999999999s"],
             "'--since <time>': an offset from the capture's start: too large (at most 5124095h)"),
            (["replay", "x.stcap", "--until", "9999-12-31T23:59:59Z"],
             "'--until <time>': write an RFC 3339 time from 1970 to 2262 (2026-11-23T14:07:31Z) or an offset (+30s)"),
            (["replay", "x.stcap", "--until", "+99999999999999999999s"],
             "'--until <time>': an offset from the capture's start: too large (at most 5124095h)"),
            (["summary", "x.stcap", "--since", "+99999999999999999999s"],
             "'--since <time>': an offset from the capture's start: too large (at most 5124095h)"),
            (["record", "--duration", "99999999999999999999s"], "'--duration <duration>': too large (at most 5124095h)"),
            (["record", "--keep", "2", "--rotate", "17179869184G"], "'--rotate <size>': too large (at most 17179869183G)"),
            (["holders", "/tmp", "--time-budget", "99999999999999999999s"], "'--time-budget <duration>': too large (at most 5124095h)"),
        ]
        for (arguments, reason) in cases {
            let result = try Self.errorLine(arguments)
            #expect(result.status == 64, "\(arguments)")
            #expect(result.line == "Error: The value '\(arguments.last!)' is invalid for \(reason)", "\(arguments)")
        }
        // In range but not a ring-buffer size: the library type's own check.
        let big = try Self.errorLine(["live", "--buffer-size", "16G"])
        #expect(big.status == 64)
        #expect(big.line == "Error: --buffer-size must be a power of two between \(sysconf(Int32(_SC_PAGESIZE)) >> 10)K and 1G (got 16G)")
    }

    @Test func helpTeaches() throws {
        let result = try CLI.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("CAP_BPF and CAP_PERFMON"))
        #expect(result.stdout.contains("storetrace live --failed"))
        let live = try CLI.run(["live", "--help"])
        for option in ["--pid", "--comm", "--type", "--failed", "--min-latency", "--json", "--duration", "--buffer-size", "--perf-buffer"] {
            #expect(live.stdout.contains(option), "\(option)")
        }
    }

    /// `top`'s own options: one line each, before anything is traced.
    @Test func topRefusesWhatItCannotShow() throws {
        let json = try Self.errorLine(["top", "--json"])
        #expect(json.status == 64 && json.line == "Error: `top` draws a screen; `live --json` prints the events as JSON lines")
        let size = try Self.errorLine(["top", "--snapshot-size", "30x5"])
        #expect(size.status == 64 && size.line == "Error: The value '30x5' is invalid for '--snapshot-size <size>': write COLUMNSxROWS, from 40x10 to 1000x1000, e.g. 200x50")
        #expect(try Self.errorLine(["top", "--force"]).line == "Error: --force replaces the --record file; give --record FILE")
        let help = try CLI.run(["top", "--help"])
        for text in ["q quit, p pause, f filter by text, s sort", "--record <file>", "--snapshot-size <size>", "--pid", "--no-holders"] {
            #expect(help.stdout.contains(text), "\(text)")
        }
    }

    @Test func verifierFailureIsSummarized() {
        let log = [
            "libbpf: prog 'st_exit_mount': BPF program load failed: Permission denied",
            "libbpf: prog 'st_exit_mount': -- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\n1: (85) call bpf_probe_read_user_str#114\nR1 type=scalar expected=fp\nprocessed 2 insns\n-- END PROG LOAD LOG --",
            "libbpf: failed to load object 'storetrace'",
        ]
        let failure = LibbpfLog.verifierFailure(in: log.flatMap { $0.split(separator: "\n").map(String.init) }, keep: 2)
        #expect(failure.program == "st_exit_mount")
        #expect(failure.log == ["R1 type=scalar expected=fp", "processed 2 insns"])
        let error = KernelError.load(program: failure.program, errno: .permissionDenied, log: failure.log)
        #expect(error.description == "loading BPF program st_exit_mount failed: Permission denied; verifier: R1 type=scalar expected=fp | processed 2 insns")
    }

    @Test func privilegeCheckNamesWhatIsMissing() {
        #expect(throws: KernelError.missingPrivileges(missing: ["CAP_BPF", "CAP_PERFMON"])) {
            try Privileges.checkTracing(effective: 0)
        }
        #expect(throws: KernelError.missingPrivileges(missing: ["CAP_PERFMON"])) {
            try Privileges.checkTracing(effective: 1 << 39)
        }
        #expect(throws: Never.self) { try Privileges.checkTracing(effective: 1 << 39 | 1 << 38) }
        #expect(throws: Never.self) { try Privileges.checkTracing(effective: 1 << 21) }
    }
}

extension KernelTests {
@Suite struct CLIKernelTests {
    @Test func withoutPrivilegesSaysWhichCapability() throws {
        let result = try CLI.run(["live"], via: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                 "--inh-caps=-all", "--bounding-set=-all"])
        #expect(result.status == 1)
        #expect(result.stderr == "storetrace: needs root, or CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); missing: CAP_BPF, CAP_PERFMON\n")
    }

    @Test func doctorReportsEveryCheck() throws {
        let wasMounted = TracefsMount.existing() != nil
        let result = try CLI.run(["doctor"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for check in ["privileges", "kernel", "BTF", "BPF ring buffer", "BPF task storage", "tracefs", "syscall mount", "syscall umount2",
                      "syscall copy_file_range", "function tracer", "function_graph tracer", "driver binding",
                      "netlink uevents", "/dev/kmsg"] {
            let line = result.stdout.split(separator: "\n").first { $0.hasPrefix(check + " ") }
            #expect(line != nil, "no \(check) line")
            let state = line?.dropFirst(check.count).split(separator: " ").first
            #expect(["ok", "missing", "refused"].contains(state.map(String.init) ?? ""), "\(line ?? "")")
        }
        let function = result.stdout.split(separator: "\n").first { $0.hasPrefix("function tracer") } ?? ""
        if function.contains("refused") { #expect(function.contains("EPERM") || function.contains("Operation not permitted")) }
        // Which tracer driver binding uses follows from the two probes.
        let graph = result.stdout.split(separator: "\n").first { $0.hasPrefix("function_graph tracer ") } ?? ""
        let binding = result.stdout.split(separator: "\n").first { $0.hasPrefix("driver binding ") } ?? ""
        if graph.dropFirst("function_graph tracer".count).split(separator: " ").first == "ok" {
            #expect(binding.contains("function_graph: bind_store"))
        } else if function.dropFirst("function tracer".count).split(separator: " ").first == "ok" {
            #expect(binding.contains("function tracer: calls only"))
        } else {
            #expect(binding.hasSuffix("uevents bind/unbind only: neither function_graph nor the function tracer runs here"))
        }
        if !((try? String(contentsOfFile: "/sys/kernel/tracing/available_tracers", encoding: .utf8)) ?? "").contains("function_graph") {
            #expect(graph.hasSuffix("kernel built without CONFIG_FUNCTION_GRAPH_TRACER (not in available_tracers)"), "\(graph)")
        }
        // The copy calls' file reads: what the tracer itself decides here.
        let plain = result.stdout.split(separator: "\n").first { $0.hasPrefix("BPF plain file loads ") } ?? ""
        var options = TracerOptions()
        options.kinds = [.copyFileRange]
        options.targetPID = UInt32(getpid())
        let tracefs = try TracefsMount()
        let tracer = try SyscallTracer(options: options, tracefs: tracefs)
        let usesPlain = tracer.usesPlainFileLoads
        tracer.close()
        tracefs.release()
        if usesPlain {
            #expect(plain.hasSuffix(" ok      bpf_rdonly_cast (Linux 6.2+): copy calls' open files read with plain loads"), "\(plain)")
        } else {
            #expect(plain.contains(" missing helper calls instead (slower, same events): ") || plain.contains(" missing kernel before 5.11"),
                    "\(plain)")
        }
        #expect((TracefsMount.existing() != nil) == wasMounted, "doctor left tracefs changed")
        let instances = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/tracing/instances")) ?? []
        #expect(!instances.contains { $0.hasPrefix("storetrace-doctor") })
    }

    /// Start `live --json`, make a bind mount from another process, stop
    /// with SIGTERM: the event is printed, the summary counts it, and
    /// nothing stays attached or mounted.
    @Test func liveJSONThenSIGTERMDetachesCleanly() throws {
        let scratch = Scratch()
        let source = scratch.dir("cli-source"), target = scratch.dir("cli-target")
        let wasMounted = TracefsMount.existing() != nil
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["live", "--json", "--type", "mount", "--type", "umount", "--comm", "mount"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Wait for the ready line on stderr.
        var status = Data()
        let deadline = Date().addingTimeInterval(20)
        while !String(decoding: status, as: UTF8.self).contains("Ctrl-C to stop"), Date() < deadline {
            status.append(err.fileHandleForReading.availableData)
        }
        // --type limits it to the two syscalls, and to no other source but
        // the block-device claims that explain a failed mount (where this
        // kernel refuses them, one line says so).
        let ready: [String] = String(decoding: status, as: UTF8.self).split(separator: "\n").map { String($0) }
        let claimsRefused: Bool = ready.count == 2 && ready[0].hasPrefix("storetrace: not tracing block-device claims (")
        let tracing: String = claimsRefused ? "2 syscalls (ring buffer 8192 KiB)" : "2 syscalls (ring buffer 8192 KiB), claim"
        #expect(ready.count == (claimsRefused ? 2 : 1), "\(ready)")
        #expect(ready.last ?? "" == "storetrace: tracing \(tracing); Ctrl-C to stop", "\(ready)")
        #expect(loadedBPFProgramNames().contains("st_exit_mount"))

        let mountCommand = Process()
        mountCommand.executableURL = URL(fileURLWithPath: "/bin/mount")
        mountCommand.arguments = ["--bind", source, target]
        try mountCommand.run()
        mountCommand.waitUntilExit()
        #expect(umount2(target, 0) == 0) // by this process (comm is not "mount"): filtered out
        usleep(300_000)
        process.terminate() // SIGTERM
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        status.append(err.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        let stderr = String(decoding: status, as: UTF8.self)

        #expect(process.terminationStatus == 0, "\(stderr)")
        let events = stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(events.count == stdout.split(separator: "\n").count, "every line is JSON")
        let mount = try #require(events.first { $0["target"] as? String == target })
        #expect(mount["type"] as? String == "mount")
        #expect(mount["comm"] as? String == "mount")
        #expect(mount["source"] as? String == source)
        #expect(mount["flags"] as? [String] == ["MS_BIND"])
        #expect(mount["errno"] is NSNull)
        #expect(!events.contains { $0["type"] as? String == "umount" && $0["target"] as? String == target })
        #expect(stderr.contains("stopped by SIGTERM"), "\(stderr)")
        #expect(stderr.contains(" 0 lost"))
        // Nothing left behind.
        // Programs are freed after an RCU grace period: allow it to pass.
        var leftover = true
        for _ in 0..<40 where leftover {
            leftover = loadedBPFProgramNames().contains { $0.hasPrefix("st_exit_") || $0.hasPrefix("st_enter_") }
            if leftover { usleep(50_000) }
        }
        #expect(!leftover, "BPF programs still loaded after exit")
        #expect((TracefsMount.existing() != nil) == wasMounted)
    }

    /// Wake-ups are batched: a burst of calls wakes storetrace once, and the
    /// drain timer must still show every call of the burst while it runs,
    /// not only when it stops.
    @Test func burstIsShownWhileRunningNotOnlyAtStop() throws {
        let scratch = Scratch()
        let notMounted = scratch.dir("plain")
        let cli = try RunningCLI(["live", "--json", "--type", "umount", "--pid", "\(getpid())", "--wakeup-interval", "40ms"])
        #expect(cli.waitUntilReady())
        // EINVAL each, spread over ~20 ms: within one wake-up interval, so only
        // the first call wakes storetrace, and it is back asleep for the rest.
        for _ in 0..<200 {
            _ = umount2(notMounted, 0)
            usleep(100)
        }
        let lines = cli.readLines(count: 200, seconds: 3)
        #expect(lines.count == 200, "only \(lines.count) of 200 shown while running")
        #expect(lines.allSatisfy { $0.contains("\"errno\":\"EINVAL\"") })
        let result = cli.stop()
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func durationStopsAndPerfBufferWorks() throws {
        let result = try CLI.run(["live", "--duration", "300ms", "--perf-buffer"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("(perf buffer)"))
        #expect(result.stderr.contains("stopped by --duration"))
    }
}
}
