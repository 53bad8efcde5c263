import CAllocCounter
import CStoretraceSys
import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import Testing

/// The environment variable that turns this test binary into the helper
/// process of the signal tests (see `holdInstanceUntilSignalled`).
private let helperMode = ProcessInfo.processInfo.environment["STORETRACE_TEST_HELPER"]
private let helperOutput = ProcessInfo.processInfo.environment["STORETRACE_TEST_HELPER_OUT"]

/// A record copied out of the source's page, for checking after the drain.
struct CopiedRecord {
    var source: SourceKind
    var timestamp: UInt64
    var cpu: UInt32
    var bytes: [UInt8]

    init(_ record: RawRecord) {
        source = record.source
        timestamp = record.timestamp
        cpu = record.cpu
        bytes = Array(record.bytes)
    }
}

/// Drains `source` until `done` says the wanted records are in, or 5 s pass.
func drainUntil(_ source: RecordSource, _ done: ([CopiedRecord]) -> Bool) -> [CopiedRecord] {
    var records: [CopiedRecord] = []
    let deadline = KernelClock.now(CLOCK_MONOTONIC) + 5_000_000_000
    repeat {
        source.drain { records.append(CopiedRecord($0)) }
        if done(records) { break }
        usleep(10_000)
    } while KernelClock.now(CLOCK_MONOTONIC) < deadline
    return records
}

/// A procfs file whole, with read(2): its size is reported as 0.
func readWhole(_ path: String) throws -> String {
    let fd = try check(open(path, O_RDONLY | O_CLOEXEC), "open \(path)")
    defer { Glibc.close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = read(fd, &chunk, chunk.count)
        if count <= 0 { break }
        data += chunk[0..<count]
    }
    return String(decoding: data, as: UTF8.self)
}

func readText(_ path: String) -> String? {
    try? String(contentsOfFile: path, encoding: .utf8)
}

/// Every field of an ftrace record as "value" text, by field name.
func fieldTexts(_ view: FtraceEventView) -> [String: String] {
    var fields: [String: String] = [:]
    view.forEachField { (field, value) throws(Never) in
        switch value {
        case .signed(let number): fields[field.name] = "\(number)"
        case .unsigned(let number): fields[field.name] = "\(number)"
        case .pointer(let address): fields[field.name] = "0x" + String(address, radix: 16)
        case .string(let text): fields[field.name] = String(decoding: text, as: UTF8.self)
        case .bytes(let bytes): fields[field.name] = "bytes(\(bytes.count))"
        case .unreadable(let error): fields[field.name] = "unreadable(\(error))"
        }
    }
    return fields
}

/// The path of this test binary, to run it again as a helper process.
func testBinaryPath() throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
}

extension KernelTests {
@Suite struct TracefsInstanceTests {
    @Test func instanceIsConfiguredThenRestoredAndRemoved() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        var options = TracefsInstanceOptions()
        options.events = ["sched:sched_process_exec", "nosuch:no_event", "../x:y", "sched:sched_process_exec"]
        options.functions = []
        options.bufferSizeKB = 256
        let instance = try TracefsInstance(tracefs: tracefs, options: options)

        #expect(instance.name.hasPrefix("storetrace-\(getpid())-"))
        #expect(instance.path == tracefs.path + "/instances/" + instance.name)
        #expect(access(instance.path, F_OK) == 0)
        #expect(instance.clock == "mono")
        #expect(instance.clockIsMonotonic)
        #expect(readText(instance.file("trace_clock"))?.contains("[mono]") == true)
        // The kernel rounds up to whole pages of event data (4080 of 4096 bytes).
        let bufferKB = try #require(readText(instance.file("buffer_size_kb")).flatMap { Int($0.dropLast()) })
        #expect(bufferKB >= 256 && bufferKB < 256 + 8)
        #expect(readText(instance.file("buffer_percent")) == "0\n")
        #expect(readText(instance.file("tracing_on")) == "0\n")
        #expect(readText(instance.file("current_tracer")) == "nop\n")
        #expect(readText(instance.file("events/sched/sched_process_exec/enable")) == "1\n")
        let exec = TraceEventName(system: "sched", name: "sched_process_exec")
        #expect(instance.enabledEvents == [exec])
        #expect(instance.tracedFunctions == [])
        #expect(instance.warnings == [
            SourceWarning(source: "event nosuch:no_event",
                          reason: "this kernel has no such tracepoint (no \(instance.path)/events/nosuch/no_event)"),
            SourceWarning(source: "event ../x:y", reason: "not a SYSTEM:NAME tracepoint name"),
        ])
        #expect(instance.changes == [
            .created, .tracingOff, .clock(from: "local", to: "mono"), .bufferSizeKB(256),
            .bufferPercent(0), .optionOn("record-tgid"), .eventEnabled(exec),
        ])
        #expect(readText(instance.file("options/record-tgid")) == "1\n")

        try instance.start()
        #expect(readText(instance.file("tracing_on")) == "1\n")
        #expect(instance.changes.last == .tracingOn)

        #expect(instance.close().isEmpty)
        #expect(access(instance.path, F_OK) == -1 && errno == ENOENT)
        #expect(instance.isClosed)
        #expect(instance.close().isEmpty)  // twice is harmless
    }

    @Test func globalTracingSettingsAreByteIdenticalAfterAFullSession() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let before = TracefsGlobalSettings.capture(tracefs: tracefs)
        #expect(before.contents.count == TracefsGlobalSettings.files.count)

        var options = TracefsInstanceOptions()  // the defaults, function tracer included
        options.events += ["sched:sched_process_exec", "syscalls:sys_enter_mkdirat"]
        let source = try FtraceSource(instance: TracefsInstance(tracefs: tracefs, options: options))
        let during = TracefsGlobalSettings.capture(tracefs: tracefs)
        #expect(during.instances == (before.instances + [source.instance.name]).sorted())
        let scratch = Scratch()
        mkdirat(AT_FDCWD, scratch.path + "/made", 0o700)
        let records = drainUntil(source) { !$0.isEmpty }
        #expect(!records.isEmpty)
        source.close()

        let after = TracefsGlobalSettings.capture(tracefs: tracefs)
        #expect(after == before, "changed: \(after.differences(from: before))")
        #expect(after.differences(from: before) == [])
        #expect(!after.instances.contains(source.instance.name))
    }

    @Test func tracepointRecordsAreReadFromRawPagesAndDecodedFieldByField() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        var options = TracefsInstanceOptions()
        options.events = ["sched:sched_process_exec", "syscalls:sys_enter_mkdirat"]
        options.functions = []
        let source = try FtraceSource(instance: TracefsInstance(tracefs: tracefs, options: options))
        defer { source.close() }
        // The page size read from events/header_page is the instance's sub-buffer size.
        let subbufferKB = try #require(readText(source.instance.file("buffer_subbuf_size_kb")).flatMap { Int($0.dropLast()) })
        #expect(source.pageFormat.pageSize == subbufferKB * 1024)
        #expect(source.pollFDs.count == TracefsFilesForTests.onlineCPUCount())
        #expect(Set(source.formats.values.map(\.name)) == ["sched_process_exec", "sys_enter_mkdirat"])
        #expect(source.symbols == nil)  // function tracer off: kallsyms never read

        let scratch = Scratch()
        let directory = scratch.path + "/made-by-test"
        let start = UInt64(KernelClock.now(CLOCK_MONOTONIC))
        var pathAddress: UInt = 0
        let made = directory.withCString { path in
            pathAddress = UInt(bitPattern: path)
            return mkdirat(AT_FDCWD, path, 0o750)
        }
        #expect(made == 0)
        let tid = st_gettid()
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let childPID = child.processIdentifier
        let end = UInt64(KernelClock.now(CLOCK_MONOTONIC))

        // The event loop can wait on the per-CPU files: one is readable now
        // (buffer_percent 0 wakes the reader on the first event).
        var pollSet = source.pollFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        #expect(poll(&pollSet, nfds_t(pollSet.count), 1000) >= 1)

        func isWanted(_ record: CopiedRecord) -> String? {
            record.bytes.withUnsafeBytes { bytes in
                guard let view = try? source.catalog.view(bytes) else { return nil }
                if view.name == "sys_enter_mkdirat", view.pid == tid { return "mkdirat" }
                if view.name == "sched_process_exec", view.pid == childPID { return "exec" }
                return nil
            }
        }
        let records = drainUntil(source) { Set($0.compactMap(isWanted)).count == 2 }
        let mkdirRecords = records.filter { isWanted($0) == "mkdirat" }
        let execRecords = records.filter { isWanted($0) == "exec" }
        #expect(mkdirRecords.count == 1)
        #expect(execRecords.count == 1)

        for record in records {
            #expect(record.source == .ftrace)
            #expect(record.cpu < UInt32(TracefsFilesForTests.onlineCPUCount()))
        }
        let mkdirRecord = try #require(mkdirRecords.first)
        // The trace clock is CLOCK_MONOTONIC: the stamps fall inside our own readings.
        #expect(mkdirRecord.timestamp >= start && mkdirRecord.timestamp <= end)
        try mkdirRecord.bytes.withUnsafeBytes { bytes in
            let view = try source.catalog.view(bytes)
            #expect(view.system == "syscalls")
            #expect(view.functionCall == nil)
            #expect(view.comm == nil)
            let fields = fieldTexts(view)
            #expect(fields == [
                "__syscall_nr": "258",  // x86_64 mkdirat
                "dfd": "\(UInt32(bitPattern: AT_FDCWD))",  // the int in the register, zero-extended
                "pathname": "0x" + String(pathAddress, radix: 16),
                "mode": "\(0o750)",
            ])
        }
        let execRecord = try #require(execRecords.first)
        #expect(execRecord.timestamp >= start && execRecord.timestamp <= end)
        #expect(execRecord.timestamp > mkdirRecord.timestamp)
        try execRecord.bytes.withUnsafeBytes { bytes in
            let view = try source.catalog.view(bytes)
            #expect(view.system == "sched")
            #expect(view.pid == childPID)
            #expect(fieldTexts(view) == [
                "filename": "/bin/true", "pid": "\(childPID)", "old_pid": "\(childPID)",
            ])
        }
        #expect(source.losses.allSatisfy { $0.count == 0 }, "\(source.losses)")
    }

    @Test func refusedFunctionTracerIsReportedOnceAndEventsStillWork() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        var options = TracefsInstanceOptions()
        options.events = ["syscalls:sys_enter_mkdirat"]
        options.functions = TracefsInstanceOptions.defaultFunctions + ["storetrace_no_such_function"]
        let source = try FtraceSource(instance: TracefsInstance(tracefs: tracefs, options: options))
        defer { source.close() }
        let instance = source.instance

        let listPath = tracefs.path + "/available_filter_functions"
        let listFD = open(listPath, O_RDONLY)
        let listErrno = errno
        if listFD >= 0 { Glibc.close(listFD) }
        let tracers = readText(tracefs.path + "/available_tracers") ?? ""
        if listFD < 0 && listErrno == EPERM {
            // This machine and CI: the function tracer is refused, and (here)
            // the graph tracer absent; one line says both, and what is left.
            let refused = "the kernel refused reading \(listPath): EPERM (Operation not permitted) (lockdown or a restricted kernel build disallows function tracing); not tracing bind_store, unbind_store, nvme_probe, nvme_remove, storetrace_no_such_function"
            if tracers.contains("function_graph") {
                #expect(instance.warnings.count == 1)
                #expect(instance.warnings.first?.reason.hasPrefix(refused) == true)
                #expect(instance.warnings.first?.reason.hasSuffix("; bind and unbind from uevents alone") == true)
            } else {
                #expect(instance.warnings == [SourceWarning(
                    source: "function tracer",
                    reason: refused + " (function_graph: not in available_tracers); bind and unbind from uevents alone")])
            }
            #expect(instance.functionTracer == nil)
            #expect(instance.functionTracerEvents == [])
            #expect(instance.tracedFunctions == [])
            #expect(!instance.functionTracerOn)
            #expect(source.symbols == nil)
            #expect(readText(instance.file("current_tracer")) == "nop\n")
        } else {
            // A kernel that allows it: the unknown name is the warning, the rest is traced.
            #expect(instance.warnings.contains(SourceWarning(
                source: "function storetrace_no_such_function",
                reason: "not in available_filter_functions (absent from this kernel, inlined, or not traceable); skipped")))
            #expect(instance.functionTracerOn)
            let tracer = try #require(instance.functionTracer)
            #expect(readText(instance.file("current_tracer")) == tracer.rawValue + "\n")
        }

        // The events still arrive.
        let scratch = Scratch()
        #expect(mkdirat(AT_FDCWD, scratch.path + "/d", 0o700) == 0)  // glibc's mkdir() is SYS_mkdir
        let tid = st_gettid()
        let records = drainUntil(source) { records in
            records.contains { $0.bytes.withUnsafeBytes { (try? source.catalog.view($0))?.pid == tid } }
        }
        let mine = records.filter { $0.bytes.withUnsafeBytes { (try? source.catalog.view($0))?.pid == tid } }
        #expect(mine.count == 1)
    }

    @Test func staleInstanceOfAKilledRunIsRemovedByTheNextRun() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let helper = try InstanceHelper()
        let name = try helper.waitUntilReady()
        let path = tracefs.path + "/instances/" + name
        #expect(access(path, F_OK) == 0)
        #expect(readText(path + "/tracing_on") == "1\n")

        #expect(kill(helper.process.processIdentifier, SIGKILL) == 0)
        helper.process.waitUntilExit()
        #expect(helper.process.terminationReason == .uncaughtSignal)
        #expect(access(path, F_OK) == 0)  // killed: nothing could clean up

        // Also one simulated with a pid that no longer exists, made by another process.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let simulated = "storetrace-\(gone.processIdentifier)-0"
        let maker = Process()
        maker.executableURL = URL(fileURLWithPath: "/bin/sh")
        maker.arguments = ["-c", "mkdir '\(tracefs.path)/instances/\(simulated)'"]
        try maker.run()
        maker.waitUntilExit()
        #expect(maker.terminationStatus == 0)

        // A live run's instance must survive.
        var options = TracefsInstanceOptions()
        options.events = []
        options.functions = []
        let live = try TracefsInstance(tracefs: tracefs, options: options)
        defer { live.close() }

        let removed = TracefsInstance.removeStale(tracefs: tracefs)
        #expect(removed.contains(name))
        #expect(removed.contains(simulated))
        #expect(!removed.contains(live.name))
        #expect(access(path, F_OK) == -1)
        #expect(access(tracefs.path + "/instances/" + simulated, F_OK) == -1)
        #expect(access(live.path, F_OK) == 0)
        #expect(!TracefsInstance.removeStale(tracefs: tracefs).contains(name))
    }

    @Test func sigtermMakesTheRunRestoreAndRemoveItsInstance() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let before = TracefsGlobalSettings.capture(tracefs: tracefs)
        let helper = try InstanceHelper()
        let name = try helper.waitUntilReady()
        let path = tracefs.path + "/instances/" + name
        #expect(access(path, F_OK) == 0)

        // To the thread that blocks it and reads it from its signalfd, as in
        // storetrace, where every thread inherits the mask from main.
        #expect(st_tgkill(helper.process.processIdentifier, helper.tid, SIGTERM) == 0)
        helper.waitForExit(seconds: 20)
        #expect(!helper.process.isRunning)
        #expect(helper.process.terminationReason == .exit)
        #expect(helper.process.terminationStatus == 0)
        #expect(access(path, F_OK) == -1 && errno == ENOENT)
        #expect(TracefsGlobalSettings.capture(tracefs: tracefs) == before)
    }

    /// Not a test on its own: the helper process of the two tests above,
    /// enabled only when they start this binary with STORETRACE_TEST_HELPER.
    @Test(.enabled(if: helperMode == "hold-instance", "helper process of the signal tests"))
    func holdInstanceUntilSignalled() throws {
        let loop = try EventLoop()
        final class Received { var signal: Int32 = 0 }
        let received = Received()
        try loop.handleTerminationSignals { signal in
            received.signal = signal
            loop.stop()
        }
        let tracefs = try TracefsMount()
        var options = TracefsInstanceOptions()
        options.events = ["sched:sched_process_exec"]
        options.functions = []
        let source = try FtraceSource(instance: TracefsInstance(tracefs: tracefs, options: options))
        for fd in source.pollFDs {
            try loop.add(fd: fd) { source.drain { _ in } }
        }
        try loop.addTimer(milliseconds: 30_000) { loop.stop() }  // never outlive a lost parent
        let ready = "\(source.instance.name) \(st_gettid())\n"
        #expect(FileManager.default.createFile(atPath: try #require(helperOutput), contents: Data(ready.utf8)))
        loop.run()
        source.close()
        tracefs.release()
        #expect(received.signal == SIGTERM)
    }

    @Test func kernelSymbolsRenderAddressesAsSymbolPlusOffset() throws {
        let symbols = try #require(FtraceSource.loadKernelSymbols())
        #expect(!symbols.addressesHidden)
        let kallsyms = try readWhole("/proc/kallsyms")
        let line = try #require(kallsyms.split(separator: "\n").first { $0.hasSuffix(" t bind_store") || $0.hasSuffix(" T bind_store") })
        let address = try #require(UInt64(line.prefix(16), radix: 16))
        #expect(symbols.describe(address) == "bind_store")
        #expect(symbols.describe(address + 0x1c) == "bind_store+0x1c")
    }

    @Test func doctorProbesReportEachKernelSourceAndChangeNothing() throws {
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let before = TracefsGlobalSettings.capture(tracefs: tracefs)
        let results = SourceProbes.run(tracefs: tracefs)
        #expect(TracefsGlobalSettings.capture(tracefs: tracefs) == before)

        let byName = Dictionary(results.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byName["tracefs instance"]?.state == .ok)
        #expect(byName["tracefs instance"]?.detail.hasPrefix("can create and remove instances/storetrace-\(getpid())-") == true)
        #expect(byName["trace clock mono"]?.state == .ok)
        for event in TracefsInstanceOptions.defaultEvents {
            let parts = event.split(separator: ":")
            let present = access("\(tracefs.path)/events/\(parts[0])/\(parts[1])", F_OK) == 0
            #expect(byName["event \(event)"]?.state == (present ? .ok : .missing))
        }
        let listPath = tracefs.path + "/available_filter_functions"
        let listFD = open(listPath, O_RDONLY)
        let listErrno = errno
        if listFD >= 0 { Glibc.close(listFD) }
        for function in TracefsInstanceOptions.defaultFunctions {
            let result = try #require(byName["function \(function)"])
            if listFD < 0 && listErrno == EPERM {
                #expect(result.state == .refused)
                #expect(result.detail == "the kernel refused reading \(listPath): EPERM (Operation not permitted); the function tracer cannot run here")
            } else {
                #expect(result.state == .ok || result.state == .missing)
            }
        }
    }
}
}

enum TracefsFilesForTests {
    static func onlineCPUCount() -> Int {
        let text = readText("/sys/devices/system/cpu/online") ?? "0"
        var count = 0
        for part in text.split(whereSeparator: { $0 == "," || $0 == "\n" }) {
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            count += bounds.count == 2 ? bounds[1] - bounds[0] + 1 : 1
        }
        return count
    }
}

/// This test binary, run again as `holdInstanceUntilSignalled`: a separate
/// process that creates an instance, reports its name and thread, and runs
/// an event loop until signalled.
final class InstanceHelper {
    let process = Process()
    let outputPath: String
    private(set) var tid: Int32 = 0

    init() throws {
        outputPath = NSTemporaryDirectory() + "storetrace-helper-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        process.executableURL = URL(fileURLWithPath: try testBinaryPath())
        process.arguments = ["--testing-library", "swift-testing", "--filter", "holdInstanceUntilSignalled"]
        var environment = ProcessInfo.processInfo.environment
        environment["STORETRACE_TEST_HELPER"] = "hold-instance"
        environment["STORETRACE_TEST_HELPER_OUT"] = outputPath
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        unlink(outputPath)
    }

    /// The instance name, once the helper has it set up (within 30 s).
    func waitUntilReady() throws -> String {
        for _ in 0..<3000 {
            if let text = readText(outputPath), text.hasSuffix("\n") {
                let parts = text.dropLast().split(separator: " ")
                tid = Int32(parts[1]) ?? 0
                return String(parts[0])
            }
            if !process.isRunning { break }
            usleep(10_000)
        }
        throw SyscallFailed(description: "helper process did not get ready (running: \(process.isRunning))")
    }

    func waitForExit(seconds: Int) {
        for _ in 0..<(seconds * 100) where process.isRunning { usleep(10_000) }
        if !process.isRunning { process.waitUntilExit() }
    }
}
