import StoretraceDecode
import StoretraceFixtures
import StoretraceRecords
import StoretraceSession
import Testing

/// Keeps what reaches a consumer: the source and stamp of each event, and
/// for syscalls their kind.
final class Collected: EventConsumer {
    var events: [(source: SourceKind, timestamp: UInt64, detail: String)] = []
    var batches = 0
    var reason: StopReason?

    func consume(_ event: Event, raw: RawRecord) {
        let detail: String
        switch event {
        case .syscall(let record): detail = record.kind.name.description
        case .uevent(let message): detail = String(decoding: message.subsystem, as: UTF8.self)
        case .kmsg(let record): detail = String(decoding: record.message, as: UTF8.self)
        case .ftrace(let view, _): detail = "ftrace \(view.pid)"
        case .mountOperation(let operation): detail = "mount_op \(operation.pid)"
        case .mountHealth(let health): detail = "mount_health \(health.mount.mountPoint)"
        case .holders(let report, _): detail = "holders \(report.target.given)"
        case .queueSetting(let change): detail = "queue_setting \(change.setting.nameText)"
        case .claim(let record): detail = "claim \(record.major):\(record.minor)"
        }
        events.append((raw.source, raw.timestamp, detail))
    }

    func batchEnded() { batches += 1 }
    var stopReason: StopReason? { reason }
}

func syscall(_ kind: SyscallKind, at timestamp: UInt64, ret: Int64 = 0, latency: UInt64 = 1000,
             pid: UInt32 = 4120, comm: String = "mount") -> [UInt8] {
    var builder = RecordBuilder(kind, at: timestamp, pid: pid,
                                strings: kind == .umount ? ["/mnt/x"] : kind == .mount ? ["/dev/vdb", "/mnt/x", "ext4", nil] : [], ret: ret)
    builder.latency = latency
    builder.comm = comm
    return builder.bytes
}

/// "add@/devices/virtual/block/loop0\0ACTION=add\0DEVPATH=...\0SUBSYSTEM=block\0SEQNUM=7\0"
func uevent(subsystem: String, sequence: Int) -> [UInt8] {
    let fields = ["add@/devices/virtual/\(subsystem)/x0", "ACTION=add", "DEVPATH=/devices/virtual/\(subsystem)/x0",
                  "SUBSYSTEM=\(subsystem)", "SEQNUM=\(sequence)"]
    return fields.flatMap { Array($0.utf8) + [0] }
}

/// "6,1024,5000000,-;hello\n": priority 6 (info), sequence, µs since boot, flag, message.
func kmsg(_ message: String, sequence: Int = 1024) -> [UInt8] {
    Array("6,\(sequence),5000000,-;\(message)\n".utf8)
}

extension Pipeline {
    func submit(_ source: SourceKind, _ bytes: [UInt8], at timestamp: UInt64) {
        bytes.withUnsafeBytes { submit(RawRecord(source: source, timestamp: timestamp, bytes: $0)) }
    }
}

@Suite struct PipelineTests {
    @Test func severalSourcesLeaveInTimeOrder() {
        let collected = Collected()
        let pipeline = Pipeline(filter: EventFilter(), consumers: [collected], merging: true)
        // Each source is in order on its own; they arrive interleaved by
        // when their buffers were read.
        pipeline.submit(.syscall, syscall(.mount, at: 300), at: 300)
        pipeline.submit(.syscall, syscall(.umount, at: 500), at: 500)
        pipeline.submit(.uevent, uevent(subsystem: "block", sequence: 1), at: 100)
        pipeline.submit(.kmsg, kmsg("EXT4-fs (loop0): mounted"), at: 400)
        pipeline.submit(.uevent, uevent(subsystem: "block", sequence: 2), at: 450)
        #expect(collected.events.isEmpty, "held back for the merge window")
        pipeline.release(upTo: 420)
        #expect(collected.events.map(\.timestamp) == [100, 300, 400])
        pipeline.finish()
        #expect(collected.events.map(\.timestamp) == [100, 300, 400, 450, 500])
        #expect(collected.events.map(\.detail) == ["block", "mount", "EXT4-fs (loop0): mounted", "block", "umount"])
        #expect(collected.batches == 2)
        #expect(pipeline.counts.bySource == [2, 0, 2, 1, 0, 0, 0, 0])
    }

    @Test func oneSourcePassesStraightThrough() {
        let collected = Collected()
        let pipeline = Pipeline(filter: EventFilter(), consumers: [collected], merging: false)
        pipeline.submit(.syscall, syscall(.umount, at: 9), at: 9)
        #expect(collected.events.map(\.timestamp) == [9])
        #expect(pipeline.mergeWindow == nil)
    }

    @Test func malformedAndFilteredRecordsAreCountedOnce() {
        let collected = Collected()
        var filter = EventFilter()
        filter.failedOnly = true
        let pipeline = Pipeline(filter: filter, consumers: [collected], merging: false)
        pipeline.submit(.syscall, syscall(.umount, at: 1, ret: -16), at: 1)    // EBUSY: passes
        pipeline.submit(.syscall, syscall(.umount, at: 2, ret: 0), at: 2)      // succeeded: filtered
        pipeline.submit(.syscall, Array(syscall(.umount, at: 3).prefix(100)), at: 3) // cut: malformed
        pipeline.submit(.ftrace, [1, 2, 3, 4, 5, 6, 7, 8], at: 4)              // no formats: schema missing
        pipeline.reject("ftrace record shorter than its capture header")
        #expect(collected.events.map(\.timestamp) == [1])
        #expect(pipeline.counts.received == 5)
        #expect(pipeline.counts.shown == 1)
        #expect(pipeline.counts.malformed == 2)
        #expect(pipeline.counts.schemaMissing == 1)
        #expect(pipeline.counts.filteredOut == 1)
        #expect(pipeline.lastMalformed == "ftrace record shorter than its capture header")
    }

    @Test func theFirstConsumerThatAsksToStopIsHeard() {
        let first = Collected(), second = Collected()
        let pipeline = Pipeline(filter: EventFilter(), consumers: [first, second], merging: false)
        #expect(pipeline.stopReason == nil)
        second.reason = .diskFull
        #expect(pipeline.stopReason == .diskFull)
        first.reason = .closedOutput
        #expect(pipeline.stopReason == .closedOutput)
    }
}

/// Notes which events it observed, under a name, in one log shared by several.
final class Observer: EventAnalyzer {
    let name: String
    let observes: EventRoutes
    let log: Log
    final class Log { var lines: [String] = [] }

    init(_ name: String, observes: EventRoutes, log: Log) {
        self.name = name
        self.observes = observes
        self.log = log
    }

    func observe(_ event: Event, raw: RawRecord) { log.lines.append("\(name) \(raw.timestamp)") }
    func finish(at timestamp: UInt64) {}
}

@Suite struct AnalyzerRouteTests {
    /// Each analyzer sees the routes it observes, all of them by default, in
    /// the order the analyzers were added, filtered out or not.
    @Test func analyzersSeeWhatTheyObserveInOrder() {
        let log = Observer.Log()
        var filter = EventFilter()
        filter.kinds = [.umount]
        let pipeline = Pipeline(filter: filter, consumers: [], merging: false)
        pipeline.add(Observer("mounts", observes: .mountFamilyCalls, log: log))
        pipeline.add(Observer("copies", observes: .syscall(.copyFileRange), log: log))
        pipeline.add(Observer("kernel", observes: [.uevent, .kmsg], log: log))
        final class Everything: EventAnalyzer {
            let log: Observer.Log
            init(log: Observer.Log) { self.log = log }
            func observe(_ event: Event, raw: RawRecord) { log.lines.append("all \(raw.timestamp)") }
            func finish(at timestamp: UInt64) {}
        }
        pipeline.add(Everything(log: log))
        pipeline.submit(.syscall, syscall(.umount, at: 1), at: 1)
        pipeline.submit(.syscall, syscall(.copyFileRange, at: 2), at: 2) // filtered out, still observed
        pipeline.submit(.uevent, uevent(subsystem: "block", sequence: 1), at: 3)
        pipeline.submit(.kmsg, kmsg("EXT4-fs (loop0): mounted"), at: 4)
        pipeline.submit(.syscall, syscall(.rmdir, at: 5), at: 5)
        #expect(log.lines == ["mounts 1", "all 1", "copies 2", "all 2", "kernel 3", "all 3", "kernel 4", "all 4", "all 5"])
    }

    /// Syscall kinds take the routes below the kernel-side types' (16 on).
    @Test func everySyscallKindHasItsOwnRoute() {
        #expect(SyscallKind.allCases.allSatisfy { $0.rawValue < 16 })
        #expect(EventRoutes.syscalls.rawValue.nonzeroBitCount == SyscallKind.allCases.count)
        #expect(EventRoutes.syscalls.isDisjoint(with: [.uevent, .kmsg, .ftrace, .holders, .claim, .queueSetting,
                                                       .mountOperation, .mountHealth]))
    }
}

@Suite struct EventFilterTests {
    func passes(_ filter: EventFilter, _ bytes: [UInt8], _ source: SourceKind = .syscall) -> Bool {
        let collected = Collected()
        let pipeline = Pipeline(filter: filter, consumers: [collected], merging: false)
        pipeline.submit(source, bytes, at: 1)
        return !collected.events.isEmpty
    }

    @Test func syscallFilters() {
        var filter = EventFilter()
        filter.kinds = [.umount]
        #expect(passes(filter, syscall(.umount, at: 1)))
        #expect(!passes(filter, syscall(.mount, at: 1)))
        #expect(filter.tracedKinds == [.umount])
        #expect(!filter.wants(.uevent), "--type umount leaves the kernel-side sources out")

        filter = EventFilter()
        filter.minLatencyNanoseconds = 10_000
        #expect(passes(filter, syscall(.mount, at: 1, latency: 10_000)))
        #expect(!passes(filter, syscall(.mount, at: 1, latency: 9_999)))
        #expect(!filter.wants(.kmsg), "--min-latency is about syscalls")

        filter = EventFilter()
        filter.pids = [77]
        filter.comms = [Array("umount".utf8)]
        #expect(passes(filter, syscall(.umount, at: 1, pid: 77, comm: "umount")))
        #expect(!passes(filter, syscall(.umount, at: 1, pid: 78, comm: "umount")))
        #expect(!passes(filter, syscall(.umount, at: 1, pid: 77, comm: "umount.nfs")))
        #expect(!passes(filter, uevent(subsystem: "block", sequence: 1), .uevent), "uevents have no process")
    }

    @Test func ueventSubsystems() {
        var filter = EventFilter()
        filter.ueventSubsystems = [Array("block".utf8), Array("pci".utf8)]
        #expect(passes(filter, uevent(subsystem: "block", sequence: 1), .uevent))
        #expect(passes(filter, uevent(subsystem: "pci", sequence: 1), .uevent))
        #expect(!passes(filter, uevent(subsystem: "bdi", sequence: 1), .uevent))
        #expect(!passes(filter, uevent(subsystem: "bloc", sequence: 1), .uevent))
        filter.ueventSubsystems = nil
        #expect(passes(filter, uevent(subsystem: "bdi", sequence: 1), .uevent))
    }

    @Test func typesOfTheKernelSideSources() {
        var filter = EventFilter()
        filter.kernelTypes = [.kmsg]
        #expect(passes(filter, kmsg("hello"), .kmsg))
        #expect(!passes(filter, uevent(subsystem: "block", sequence: 1), .uevent))
        #expect(!passes(filter, syscall(.mount, at: 1)))
        #expect(filter.tracedKinds.isEmpty)
    }
}

@Suite struct TimeBoundTests {
    let clock = ClockOffset(realtimeMinusMonotonic: 1_796_151_080_955_796_785)

    @Test func offsetsCountFromTheCaptureStart() {
        let bound = TimeBound.offset(nanoseconds: 30_000_000_000)
        #expect(bound.monotonic(start: 1_000, clock: clock) == 30_000_001_000)
    }

    @Test func wallTimesGoThroughTheCaptureClock() throws {
        let epoch = try #require(RFC3339.parse("2026-12-01T18:58:02.917191467Z"))
        // The first event of Fixtures/attach.stcap, as its replay prints it,
        // back on CLOCK_MONOTONIC through the capture's clock sample.
        #expect(TimeBound.wall(epochNanoseconds: epoch).monotonic(start: 0, clock: clock) == 401_961_394_682)
        #expect(TimeBound.wall(epochNanoseconds: 0).monotonic(start: 0, clock: clock) == 0,
                "before the boot: clamped, never wrapped")
    }
}

@Suite struct SummaryLineTests {
    @Test func liveAndRecordSummaries() {
        var counts = PipelineCounts()
        counts.received = 1300
        counts.shown = 1200
        counts.malformed = 2
        let losses = [LossCount(name: "ring buffer full", count: 5, kind: .events),
                      LossCount(name: "ftrace overrun pages", count: 1, kind: .occurrences),
                      LossCount(name: "exits without entry", count: 0, kind: .information)]
        var summary = LiveSummary(counts: counts, losses: losses, stopReason: .signal(2))
        #expect(summary.line == "storetrace: 1200 events shown (1300 traced), 5 lost (5 ring buffer full, 1 ftrace overrun pages), 2 malformed; stopped by SIGINT")
        summary.unwritten = 100
        summary.rendered = false
        summary.stopReason = .diskFull
        #expect(summary.line == "storetrace: 1100 events recorded, 100 not written to the capture (1300 traced), 5 lost (5 ring buffer full, 1 ftrace overrun pages), 2 malformed; stopped by a full disk")
        summary.rendered = true
        summary.unwritten = 0
        summary.stopReason = .duration
        #expect(summary.line == "storetrace: 1200 events shown, 1200 recorded (1300 traced), 5 lost (5 ring buffer full, 1 ftrace overrun pages), 2 malformed; stopped by --duration")
    }

    /// ftrace events whose thread could not be named are said, since
    /// --comm and --pid cannot keep them (issue 13 item 4).
    @Test func eventsWithoutATaskAreCounted() {
        var counts = PipelineCounts()
        counts.received = 40
        counts.shown = 40
        var summary = LiveSummary(counts: counts, losses: [], stopReason: .duration)
        #expect(!summary.line.contains("without a known task"))
        summary.eventsWithoutTask = 3
        #expect(summary.line == "storetrace: 40 events shown (40 traced), 0 lost, 0 malformed, 3 ftrace events without a known task; stopped by --duration")
    }

    @Test func stopReasonsReadAsTheSummarySaysThem() {
        #expect(StopReason.signal(15).description == "SIGTERM")
        #expect(StopReason.signal(1).description == "SIGHUP")
        #expect(StopReason.maxSize.description == "--max-size")
        #expect(StopReason.closedOutput.description == "closed output")
        #expect(StopReason.captureWriteError.description == "a capture write error")
    }
}

@Suite struct TaskTableTests {
    @Test func resolvesOnceAndRemembersTheUnknown() {
        var asked: [Int32] = []
        let table = TaskTable { tid in
            asked.append(tid)
            return tid == 10 ? TaskIdentity(tgid: 9, comm: Array("worker".utf8)) : nil
        }
        var resolved: [Int32] = []
        table.onResolved = { tid, _ in resolved.append(tid) }
        #expect(table.identity(of: 10)?.tgid == 9)
        #expect(table.identity(of: 10)?.comm == Array("worker".utf8))
        #expect(table.identity(of: 11) == nil)
        #expect(table.identity(of: 11) == nil)
        #expect(table.identity(of: 0) == nil, "the idle task: never asked")
        #expect(asked == [10, 11])
        #expect(resolved == [10])
        // Each event of a thread that could not be named is counted (the
        // summary says how many --comm and --pid could not keep); the idle
        // task's are not.
        #expect(table.eventsWithoutTask == 2)
        table.insert(tid: 11, TaskIdentity(tgid: 11, comm: Array("sh".utf8)))
        #expect(table.identity(of: 11)?.tgid == 11)
        #expect(table.eventsWithoutTask == 2)
    }
}
