import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceKernel
import StoretraceRender

/// Which kernel-side sources join the syscalls.
public struct SourceOptions: Sendable {
    public var ftrace = true
    public var ftraceEvents = TracefsInstanceOptions.defaultEvents
    public var functions = TracefsInstanceOptions.defaultFunctions
    public var uevents = true
    public var ueventSubsystems: [String]? = UeventSource.defaultSubsystems
    public var kmsg = true
    public var kmsgBacklog = false
    public init() {}
}

/// Where and how `record` writes.
public struct RecordOptions: Sendable {
    public var path: String
    public var maxSize: UInt64?
    /// Flush (write and fdatasync) at least this often.
    public var flushIntervalMilliseconds = 1000
    public var overwrite = false
    public init(path: String) { self.path = path }
}

/// `storetrace live` and `storetrace record`: trace, filter, render and/or
/// record until Ctrl-C, SIGTERM, `--duration`, `--max-size` or a closed
/// pipe; then detach everything and print a one-line summary.
public struct LiveConfiguration: Sendable {
    public var filter = EventFilter()
    public var format = OutputFormat.text
    public var color = false
    public var tracer = TracerOptions()
    public var sources = SourceOptions()
    /// Stop after this many nanoseconds; nil runs until stopped.
    public var duration: UInt64?
    /// Where events are rendered; nil renders nothing (record without --live).
    public var outputFD: Int32? = STDOUT_FILENO
    /// Where status, warnings and the summary go.
    public var statusFD: Int32 = STDERR_FILENO
    public var record: RecordOptions?
    /// Refresh a one-line status on statusFD once a second (record on a terminal).
    public var statusLine = false
    public init() {}
}

public struct LiveSummary: Sendable {
    public var counts: PipelineCounts
    public var losses: [LossCount]
    public var stopReason: String
    /// Recording: events that passed the filters but are not in the capture
    /// (the disk filled, or they came after --max-size); nil when not recording.
    public var unwritten: UInt64?
    /// Whether events were rendered (live, record --live) or only recorded.
    public var rendered = true

    public var lost: UInt64 { losses.filter(\.isLoss).reduce(0) { $0 + $1.count } }

    /// "storetrace: 1200 events shown (1300 traced), 0 lost, 0 malformed; stopped by SIGINT"
    /// "storetrace: 1200 events recorded (1300 traced), 0 lost, 0 malformed; stopped by SIGINT"
    public var line: String {
        var text = "storetrace: "
        if let unwritten {
            let recorded = counts.shown - min(unwritten, counts.shown)
            text += rendered ? "\(counts.shown) events shown, \(recorded) recorded" : "\(recorded) events recorded"
            if unwritten > 0 { text += ", \(unwritten) not written to the capture" }
        } else {
            text += "\(counts.shown) events shown"
        }
        text += " (\(counts.received) traced), \(lost) lost"
        let nonzero = losses.filter { $0.count > 0 }
        if !nonzero.isEmpty {
            text += " (" + nonzero.map { "\($0.count) \($0.name)" }.joined(separator: ", ") + ")"
        }
        text += ", \(counts.malformed) malformed"
        return text + "; stopped by \(stopReason)"
    }
}

extension LossCount {
    /// Counters that are information, not lost events.
    var isLoss: Bool {
        !["exits without entry", "unreadable strings", "uevents filtered"].contains(name) && !name.contains("not from kernel")
    }
}

extension LossCounters {
    var named: [LossCount] {
        [LossCount(name: "ring buffer full", count: bufferFull),
         LossCount(name: "perf buffer lost", count: perfLost),
         LossCount(name: "entry table full", count: pendingFull),
         LossCount(name: "exits without entry", count: exitUnmatched),
         LossCount(name: "unreadable strings", count: stringFaults)]
    }
}

public final class LiveSession {
    public let configuration: LiveConfiguration

    public init(configuration: LiveConfiguration) {
        self.configuration = configuration
    }

    public func run() throws(KernelError) -> LiveSummary {
        let config = configuration
        try Privileges.checkTracing() // before anything touches the node
        let status = OutputSink(fd: config.statusFD)
        let loop = try EventLoop()
        var stopReason = "end"
        try loop.handleTerminationSignals { signal in
            stopReason = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "SIGHUP"
            loop.stop()
        }
        signal(SIGPIPE, SIG_IGN)

        // The recorder measures the clock offset it stores; rendering uses the
        // same one so that `record --live` and `replay` print the same bytes.
        var recorder: CaptureRecorder?
        if let record = config.record {
            do {
                var options = CaptureWriterOptions()
                options.overwrite = record.overwrite
                options.maxFileSize = record.maxSize
                recorder = try CaptureRecorder(path: record.path, options: options)
            } catch {
                if case .fileExists = error { throw .other("\(error.description(path: record.path)); add --force to replace it") }
                throw .other("cannot create the capture: \(error.description(path: record.path))")
            }
        }
        let clock = recorder?.clock ?? KernelClock.measureOffset()
        let sink = config.outputFD.map(OutputSink.init(fd:))
        let processor = RecordProcessor(
            filter: config.filter, format: config.format,
            text: TextRenderer(color: config.color, utcOffsetSeconds: KernelClock.localUTCOffset(), clock: clock),
            json: JSONRenderer(clock: clock), sink: sink)
        processor.recorder = recorder
        if let recorder {
            let snapshot = Array(NodeSnapshot.take().jsonText(.compact).utf8)
            recorder.appendSnapshot(snapshot)
            // Enrich from the snapshot as stored, exactly as replay will.
            if let stored = try? NodeSnapshot(json: snapshot) {
                processor.json.enrichment = SnapshotEnrichment(NodeSnapshotIndex(stored))
            }
        }

        let tracefs = try TracefsMount()
        var sources: [RecordSource] = []
        var tracer: SyscallTracer?
        var closed = false
        func closeAll() {
            guard !closed else { return }
            closed = true
            tracer?.close()
            for source in sources { source.close() }
            tracefs.release()
        }
        defer { closeAll() }

        // Several sources: merge them in time order. One: pass straight through.
        var reorder: ReorderBuffer?
        func deliver(_ record: RawRecord) {
            if let reorder { reorder.insert(record) { processor.process($0) } } else { processor.process(record) }
        }

        // Kernel-side sources first: a refusal is reported once and the rest goes on.
        var tracerOptions = config.tracer
        tracerOptions.kinds = config.filter.tracedKinds
        if config.filter.pids.count == 1 { tracerOptions.targetPID = config.filter.pids[0] }
        tracerOptions.excludePID = UInt32(getpid())
        let wantsFtrace = config.sources.ftrace && (config.filter.wants(.function) || config.filter.wants(.tracepoint))
        if wantsFtrace {
            for removed in TracefsInstance.removeStale(tracefs: tracefs) {
                say(status, "storetrace: removed tracefs instance \(removed) left by a run that was killed")
            }
            var options = TracefsInstanceOptions()
            options.events = config.filter.wants(.tracepoint) ? config.sources.ftraceEvents : []
            options.functions = config.filter.wants(.function) ? config.sources.functions : []
            do {
                let instance = try TracefsInstance(tracefs: tracefs, options: options)
                for warning in instance.warnings { say(status, "storetrace: \(warning)") }
                if !instance.clockIsMonotonic {
                    say(status, "storetrace: ftrace clock is \(instance.clock), not mono: its events may be out of order with the others")
                }
                if instance.enabledEvents.isEmpty && !instance.functionTracerOn {
                    _ = instance.close()
                } else {
                    let ftrace = try FtraceSource(instance: instance)
                    for warning in ftrace.warnings { say(status, "storetrace: \(warning)") }
                    processor.ftraceCatalog = ftrace.catalog
                    processor.describeAddress = { ftrace.describe(address: $0) }
                    processor.tasks.resolve = TaskTable.fromProc
                    if let recorder {
                        processor.tasks.onResolved = { tid, identity in
                            recorder.appendTask(tid: tid, identity, timestamp: UInt64(KernelClock.now(CLOCK_MONOTONIC)))
                        }
                        let now = UInt64(KernelClock.now(CLOCK_MONOTONIC))
                        var events = instance.enabledEvents
                        if instance.functionTracerOn { events.append(TraceEventName(system: "ftrace", name: "function")) }
                        for event in events {
                            if let text = try? readFile(tracefs.path + "/" + event.directory + "/format") {
                                recorder.appendFormat(system: event.system, formatText: text, timestamp: now)
                            }
                        }
                    }
                    sources.append(ftrace)
                }
            } catch {
                say(status, "storetrace: not reading ftrace events: \(error)")
            }
        }
        if config.sources.uevents && config.filter.wants(.uevent) {
            do {
                sources.append(try UeventSource(subsystems: config.sources.ueventSubsystems))
            } catch {
                say(status, "storetrace: not reading uevents: \(error)")
            }
        }
        if config.sources.kmsg && config.filter.wants(.kmsg) {
            do {
                let offset = KmsgSource.measurePrintkClockOffset() ?? 0
                sources.append(try KmsgSource(backlog: config.sources.kmsgBacklog, clockOffset: offset))
            } catch {
                say(status, "storetrace: not reading the kernel log: \(error)")
            }
        }

        if !tracerOptions.kinds.isEmpty {
            let syscalls = try SyscallTracer(options: tracerOptions, tracefs: tracefs) { bytes in
                if reorder != nil, bytes.count >= SyscallLayout.headerSize {
                    let timestamp = bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
                    deliver(RawRecord(source: .syscall, timestamp: timestamp, bytes: bytes))
                } else {
                    processor.process(bytes)
                }
            }
            tracer = syscalls
            for (kind, reason) in syscalls.skipped {
                say(status, "storetrace: not tracing \(kind.callName): \(reason)")
            }
        }
        if sources.count + (tracer == nil ? 0 : 1) > 1 { reorder = ReorderBuffer() }
        if sources.isEmpty && tracer == nil {
            throw .missingFeature("any source for the requested --type")
        }

        var parts: [String] = []
        if let tracer {
            let mode = tracer.usesPerfBuffer ? "perf buffer" : "ring buffer \(config.tracer.bufferSize >> 10) KiB"
            parts.append("\(tracer.attached.count) syscalls (\(mode))")
        }
        parts += sources.map(\.kind.name)
        say(status, "storetrace: tracing " + parts.joined(separator: ", ") + (config.record.map { " into \($0.path)" } ?? "") + "; Ctrl-C to stop")

        func flushOutput() {
            sink?.flush()
            if let failure = sink?.failure {
                stopReason = failure == EPIPE ? "closed output" : "output error"
                loop.stop()
            }
            if let recorder {
                if let failure = recorder.failure {
                    if case .diskFull = failure { stopReason = "a full disk" } else { stopReason = "a capture write error" }
                    loop.stop()
                } else if recorder.limitReached {
                    stopReason = "--max-size"
                    loop.stop()
                }
            }
        }
        if let tracer {
            // Not every record wakes pollFD (wake-ups are batched to spare the
            // traced calls): after records came, drain again until none do.
            // Re-armed after every non-empty drain, the timer always fires after
            // the last record a forced wake-up left behind (SyscallTracer).
            var drain: EventLoop.OneShotTimer?
            func consume() {
                let count = tracer.consume()
                if reorder == nil { flushOutput() }
                if count > 0, let interval = tracer.drainIntervalMilliseconds { drain?.arm(milliseconds: interval) }
            }
            if tracer.drainIntervalMilliseconds != nil {
                drain = try loop.addOneShotTimer { consume() }
            }
            try loop.add(fd: tracer.pollFD) { consume() }
        }
        for source in sources {
            for fd in source.pollFDs {
                try loop.add(fd: fd) { source.drain { deliver($0) } }
            }
        }
        if let reorder {
            // Release merged records a window behind the clock.
            try loop.addTimer(milliseconds: 50) {
                let now = UInt64(KernelClock.now(CLOCK_MONOTONIC))
                reorder.flush(upTo: now > reorder.window ? now - reorder.window : 0) { processor.process($0) }
                flushOutput()
            }
        }

        func allLosses() -> [LossCount] {
            (tracer?.counters().named ?? []) + sources.flatMap(\.losses)
        }
        var reportedLost: UInt64 = 0
        let started = KernelClock.now(CLOCK_MONOTONIC)
        try loop.addTimer(milliseconds: 1000) {
            processor.text.utcOffsetSeconds = KernelClock.localUTCOffset()
            let losses = allLosses()
            let lost = losses.filter(\.isLoss).reduce(0) { $0 + $1.count }
            if lost > reportedLost && !config.statusLine {
                say(status, "storetrace: lost \(lost - reportedLost) events in the last second (\(lost) in all): "
                    + losses.filter { $0.isLoss && $0.count > 0 }.map { "\($0.count) \($0.name)" }.joined(separator: ", "))
            }
            reportedLost = lost
            let now = KernelClock.now(CLOCK_MONOTONIC)
            if config.statusLine, let recorder {
                let seconds = (now - started) / 1_000_000_000
                let bySource = SourceKind.allCases.map { "\($0.name) \(processor.counts.bySource[Int($0.rawValue)])" }
                status.withBuffer {
                    $0.append(string: "\r\u{1B}[Krecording \(seconds / 60):\(String(format2: seconds % 60))  \(processor.counts.shown) events ("
                              + bySource.joined(separator: ", ") + ")  \(lost) lost  \(recorder.writer.projectedSize >> 10) KiB")
                }
                status.flush()
            }
            flushOutput()
            if let duration = config.duration, UInt64(now - started) >= duration {
                stopReason = "--duration"
                loop.stop()
            }
        }
        if let recorder, let interval = config.record?.flushIntervalMilliseconds {
            // --flush-interval: what a crash or a full disk can cost at most.
            try loop.addTimer(milliseconds: interval) {
                recorder.flush()
                flushOutput()
            }
        }
        if let duration = config.duration, duration < 1_000_000_000 {
            try loop.addTimer(milliseconds: max(Int(duration / 1_000_000), 1)) {
                stopReason = "--duration"
                loop.stop()
            }
        }

        loop.run()
        if config.statusLine { say(status, "") }
        // Drain what arrived before the stop, then detach.
        tracer?.consume()
        for source in sources { source.drain { deliver($0) } }
        reorder?.flush(upTo: .max) { processor.process($0) }
        sink?.flush()
        let losses = allLosses()
        closeAll()
        if let recorder {
            recorder.appendSnapshot(Array(NodeSnapshot.take().jsonText(.compact).utf8))
            recorder.close(drops: losses, note: "stopped by \(stopReason)")
        }
        var summary = LiveSummary(counts: processor.counts, losses: losses, stopReason: stopReason)
        summary.unwritten = recorder?.unwritten
        summary.rendered = sink != nil
        say(status, summary.line)
        if let failure = sink?.failure, failure != EPIPE {
            throw .system(call: "write to output", errno: .init(rawValue: failure))
        }
        if let failure = recorder?.failure {
            // One line: what failed, where, and that what came before is readable.
            if case .diskFull = failure { throw .other("\(failure)") }
            throw .other("\(failure); every chunk written before is readable")
        }
        return summary
    }
}

extension String {
    /// Two digits, zero-padded.
    init(format2 value: Int64) {
        self = value < 10 ? "0\(value)" : "\(value)"
    }
}


func say(_ sink: OutputSink, _ line: String) {
    sink.withBuffer { $0.append(string: line + "\n") }
    sink.flush()
}
