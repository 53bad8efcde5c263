import Glibc
import StoretraceAnalyze
import StoretraceCapture
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import StoretraceRender

/// Where and how `record` writes.
public struct RecordOptions: Sendable {
    public var path: String
    public var maxSize: UInt64?
    /// Flush (write and fdatasync) at least this often.
    public var flushIntervalMilliseconds = 1000
    public var overwrite = false
    /// `--rotate SIZE --keep N`: a ring of files in the directory `path`.
    public var ring: CaptureRing?
    /// `--compress`: zstd by default (format 2.0); `.none` writes 1.0.
    public var compression = CaptureCompression.default
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
    /// Build a `StorageSummary` (`--summary`), returned in `LiveSummary.storage`.
    public var summary = false
    /// `--metrics-file`: Prometheus text format, rewritten every 5 s and at exit.
    public var metricsPath: String?
    /// `--kubelet-root`: where kubelet keeps volumes; nil finds kubelet
    /// paths by their shape and reads vol_data.json under /var/lib/kubelet.
    public var kubeletRoot: String?
    /// `top`: a dashboard instead of lines (`outputFD` is then ignored).
    public var dashboard: DashboardOptions?
    public init() {}
}

public struct LiveSummary: Sendable {
    public var counts: PipelineCounts
    public var losses: [LossCount]
    public var stopReason: StopReason
    /// Recording: events that passed the filters but are not in the capture
    /// (the disk filled, or they came after --max-size); nil when not recording.
    public var unwritten: UInt64?
    /// Whether events were rendered (live, record --live) or only recorded.
    public var rendered = true
    /// Events (and derived ones) that passed the filters but never reached
    /// the output (a full disk), why, and the bytes of a line cut short
    /// where they could not be taken back (`OutputSink`).
    public var outputUnwritten: UInt64 = 0
    public var derivedOutputUnwritten: UInt64 = 0
    public var outputFailure: Int32?
    public var outputCutBytes = 0
    /// ftrace events whose thread could not be named (`TaskTable`).
    public var eventsWithoutTask: UInt64 = 0
    /// Syscall events whose process's cgroup could not be found (`PodTable`).
    public var eventsWithoutCgroup: UInt64 = 0
    /// With `summary`: what the events say, and the clock to show it with.
    public var storage: StorageSummary?
    public var clock = ClockOffset(realtimeMinusMonotonic: 0)

    public init(counts: PipelineCounts, losses: [LossCount], stopReason: StopReason) {
        self.counts = counts
        self.losses = losses
        self.stopReason = stopReason
    }

    public var lost: UInt64 { losses.lostEvents }

    /// "storetrace: 1200 events shown (1300 traced), 0 lost, 0 malformed; stopped by SIGINT"
    /// "storetrace: 1200 events recorded (1300 traced), 0 lost, 0 malformed; stopped by SIGINT"
    public var line: String {
        var text = "storetrace: "
        let printed = counts.shown - min(outputUnwritten - min(derivedOutputUnwritten, outputUnwritten), counts.shown)
        if let unwritten {
            let recorded = counts.shown - min(unwritten, counts.shown)
            text += rendered ? "\(printed) events shown, \(recorded) recorded" : "\(recorded) events recorded"
            if unwritten > 0 { text += ", \(unwritten) not written to the capture" }
        } else {
            text += "\(printed) events shown"
        }
        let derived = counts.derivedShown - min(derivedOutputUnwritten, counts.derivedShown)
        let operations = derived - min(counts.mountHealthShown, derived)
        if operations > 0 { text += " and \(operations) mount operation" + (operations == 1 ? "" : "s") }
        if counts.mountHealthShown > 0 {
            text += (operations > 0 ? ", " : " and ") + "\(counts.mountHealthShown) mount_health event" + (counts.mountHealthShown == 1 ? "" : "s")
        }
        if outputUnwritten > 0 || outputCutBytes > 0 {
            let why = outputFailure.map { ErrnoNames.name($0).map { "\($0)" } ?? "errno \($0)" } ?? "output error"
            text += ", \(outputUnwritten) not written to the output (\(why))"
            if outputCutBytes > 0 { text += ", its last line cut after \(outputCutBytes) bytes" }
        }
        text += " (\(counts.received) traced), \(lost) lost"
        let nonzero = losses.describeNonZero()
        if !nonzero.isEmpty { text += " (" + nonzero + ")" }
        text += ", \(counts.malformed) malformed"
        if counts.schemaMissing > 0 { text += ", \(counts.schemaMissing) ftrace events without a format (schema missing)" }
        if eventsWithoutTask > 0 { text += ", \(eventsWithoutTask) ftrace events without a known task" }
        if eventsWithoutCgroup > 0 { text += ", \(eventsWithoutCgroup) syscall events without a known cgroup (pod unknown)" }
        if counts.ueventsOtherSubsystems > 0 {
            text += ", \(counts.ueventsOtherSubsystems) uevents of other subsystems left out (--subsystem all shows them)"
        }
        return text + "; stopped by \(stopReason)"
    }
}

/// The session: opens what `configuration` asks for, in the order that
/// traces soonest and fails before touching the node where it can, runs the
/// event loop until something stops it, then undoes everything and returns
/// the summary. Each step is one type in LiveAssembly.swift.
public final class LiveSession {
    public let configuration: LiveConfiguration

    public init(configuration: LiveConfiguration) {
        self.configuration = configuration
    }

    public func run() throws(SessionError) -> LiveSummary {
        let config = configuration
        try kernel { () throws(KernelError) in try Privileges.checkTracing() } // before anything touches the node
        StartupTiming.mark("privileges checked")
        let status = OutputSink(fd: config.statusFD)
        let control = try LiveControl(redrawsOnResize: config.dashboard?.interactive == true)
        StartupTiming.mark("event loop and signals")
        let decoder = EventDecoder()
        // The capture first: a path that cannot be written stops the session
        // before anything is attached.
        var recorder: CaptureRecorder?
        if let record = config.record { recorder = try Self.openCapture(record, decoder: decoder) }
        // The syscall tracer next, before the rest of the set-up: from here
        // on every call is traced, its record waiting in the ring buffer
        // until the loop runs. The snapshot, the device tables and the other
        // sources come after; none of them is needed before an event is
        // decoded.
        let tracing = try LiveTracing(config: config, status: status)
        defer { tracing.close() } // whatever ends the session, from here on
        let consumers = try LiveConsumers(config: config, decoder: decoder, recorder: recorder, control: control,
                                          refusals: tracing.refusals)
        let assembly = try LiveAssembly(config: config, decoder: decoder, consumers: consumers, tracing: tracing,
                                         status: status)
        say(status, assembly.tracingLine)
        try kernel { () throws(KernelError) in
            try assembly.driver.attach(to: control.loop, afterBatch: {
                assembly.devices.refreshIfDirty()
                assembly.checkStop(control)
            })
        }
        StartupTiming.mark("sources joined to the event loop")
        let started = KernelClock.now(CLOCK_MONOTONIC)
        try assembly.addTimers(control: control, started: started, status: status)
        let dashboard = consumers.dashboard
        dashboard?.showRates(of: assembly.sources.map(\.kind))
        try kernel { () throws(KernelError) in try dashboard?.start(loop: control.loop, at: UInt64(started)) }
        // Whatever ends the session, the terminal is restored before anything is printed.
        defer { dashboard?.restoreTerminal() }
        control.loop.run()
        dashboard?.restoreTerminal()
        if config.statusLine { say(status, "") }
        // Drain what arrived before the stop, then detach.
        assembly.driver.drainAll()
        let losses = assembly.driver.losses
        tracing.close()
        dashboard?.finish(at: KernelClock.monotonicNow(), counts: assembly.pipeline.counts, losses: losses)
        if let recorder {
            recorder.appendSnapshot(Array(NodeSnapshot.take(kubeletRoot: consumers.kubeletRoot).jsonText(.compact).utf8))
            recorder.close(drops: losses, note: "stopped by \(control.stopReason)")
        }
        let summary = assembly.summary(losses: losses, stopReason: control.stopReason)
        consumers.metrics?.running = false
        assembly.writeMetrics(status: status)
        say(status, summary.line)
        if let failure = consumers.printer?.sink.failure ?? dashboard?.outputFailure, failure != EPIPE { throw .output(errno: failure) }
        if let failure = recorder?.failure { throw .writeCapture(failure) }
        return summary
    }

    private static func openCapture(_ record: RecordOptions, decoder: EventDecoder) throws(SessionError) -> CaptureRecorder {
        var options = CaptureWriterOptions()
        options.overwrite = record.overwrite
        options.maxFileSize = record.maxSize
        options.compression = record.compression
        do {
            return try CaptureRecorder(path: record.path, options: options, decoder: decoder, ring: record.ring)
        } catch {
            throw .createCapture(error, path: record.path)
        }
    }

    /// The start of the capture must fit in --max-size, or not one event would.
    static func checkStartFits(_ recorder: CaptureRecorder, _ record: RecordOptions) throws(SessionError) {
        guard let limit = record.maxSize ?? record.ring?.fileSize, recorder.writer.projectedSize > limit else { return }
        throw .maxSizeBelowStart(path: record.path, limit: limit, start: recorder.writer.projectedSize,
                                 option: record.maxSize == nil ? "--rotate" : "--max-size")
    }
}

extension String {
    /// Two digits, zero-padded.
    init(format2 value: Int64) {
        self = value < 10 ? "0\(value)" : "\(value)"
    }
}

/// A kernel-layer call inside a session: its error becomes the session's.
@inline(__always)
func kernel<T>(_ body: () throws(KernelError) -> T) throws(SessionError) -> T {
    do { return try body() } catch { throw .kernel(error) }
}

func say(_ sink: OutputSink, _ line: String) {
    sink.withBuffer { $0.append(string: line + "\n") }
    sink.flush()
}
