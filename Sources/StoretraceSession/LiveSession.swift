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
        let loop = try kernel { () throws(KernelError) in try EventLoop() }
        var stopReason = StopReason.end
        func stop(_ reason: StopReason) {
            stopReason = reason
            loop.stop()
        }
        // `top` on a terminal also redraws on SIGWINCH, through the same signalfd.
        var dashboard: LiveDashboard?
        let resizes = config.dashboard?.interactive == true ? [SIGWINCH] : []
        try kernel { () throws(KernelError) in try loop.handleTerminationSignals(also: resizes) { number in
            if number == SIGWINCH { dashboard?.resized() } else { stop(.signal(number)) }
        } }
        signal(SIGPIPE, SIG_IGN)
        StartupTiming.mark("event loop and signals")

        // The capture first: a path that cannot be written stops the session
        // before anything is attached.
        let decoder = EventDecoder()
        var consumers: [EventConsumer] = []
        var recorder: CaptureRecorder?
        if let record = config.record {
            var options = CaptureWriterOptions()
            options.overwrite = record.overwrite
            options.maxFileSize = record.maxSize
            options.compression = record.compression
            do {
                recorder = try CaptureRecorder(path: record.path, options: options, decoder: decoder, ring: record.ring)
            } catch {
                throw .createCapture(error, path: record.path)
            }
        }

        // The syscall tracer next, before the rest of the set-up: from here
        // on every call is traced, its record waiting in the ring buffer
        // until the loop runs. The snapshot, the device tables and the other
        // sources come after; none of them is needed before an event is
        // decoded.
        let tracefs = try kernel { () throws(KernelError) in try TracefsMount() }
        StartupTiming.mark("tracefs mounted")
        var tracerOptions = config.tracer
        tracerOptions.kinds = config.filter.tracedKinds
        if config.filter.pids.count == 1 { tracerOptions.targetPID = config.filter.pids[0] }
        tracerOptions.excludePID = UInt32(getpid())
        let syscalls: SyscallTracer?
        var refusals: [String] = []
        do {
            syscalls = try LiveSources.openSyscallTracer(tracerOptions, tracefs: tracefs) {
                say(status, "storetrace: " + $0)
                refusals.append($0) // shown by the dashboard, made after
            }
        } catch {
            tracefs.release()
            throw .kernel(error)
        }
        // Until the driver owns the sources (and closeAll below undoes them).
        var detachOnError = true
        defer {
            if detachOnError {
                syscalls?.close()
                tracefs.release()
            }
        }

        // The consumers. The recorder's clock is the one replay will use;
        // rendering uses it too, so `record --live` and `replay` print the same bytes.
        // The pods of syscall events' processes: the cgroup2 tree indexed
        // once now, then once more per unknown cgroup id (at most each second).
        let cgroups = CgroupResolver()
        cgroups.refresh()
        decoder.pods.resolve(with: cgroups)
        StartupTiming.mark("cgroups indexed")
        if let recorder { decoder.pods.onResolved = { recorder.appendCgroupPath($0, timestamp: $1) } }
        let clock = recorder?.clock ?? KernelClock.measureOffset()
        var printer: EventPrinter?
        if let fd = config.outputFD, config.dashboard == nil {
            printer = EventPrinter(format: config.format,
                                   text: TextRenderer(color: config.color, utcOffsetSeconds: TextRenderer.localUTCOffset(), clock: clock),
                                   json: JSONRenderer(clock: clock), sink: OutputSink(fd: fd), decoder: decoder)
            printer?.kubeletRoot = config.kubeletRoot
        }
        StartupTiming.mark("clock offset and renderers")
        let kubeletRoot = config.kubeletRoot ?? KubeletPath.defaultRoot
        // The block devices copies are enriched with; the queue setting
        // sampler reports what changes after them.
        var blockDevices: [NodeSnapshot.BlockDevice] = []
        if let recorder {
            let snapshot = Array(NodeSnapshot.take(kubeletRoot: kubeletRoot).jsonText(.compact).utf8)
            recorder.appendSnapshot(snapshot)
            // Enrich from the snapshot as stored, exactly as replay will.
            if let stored = try? NodeSnapshot(json: snapshot) {
                printer?.enrichment = SnapshotEnrichment(NodeSnapshotIndex(stored))
                blockDevices = stored.blockDevices
            }
            consumers.append(recorder)
            try checkStartFits(recorder, config.record!)
        }
        if let printer { consumers.append(printer) }
        let metrics = config.metricsPath.map(MetricsExporter.init(path:))
        if let metrics { consumers.append(metrics) }
        if recorder == nil {
            blockDevices = NodeSnapshot.takeBlockDevices()
            printer?.enrichment = SnapshotEnrichment(devices: BlockDevicesInForce(blockDevices))
            printer?.enrichment?.kubeletVolumes = KubeletVolumeTable(NodeSnapshot.takeKubeletVolumes(root: kubeletRoot))
        }
        StartupTiming.mark("node snapshot or block devices and kubelet volumes")
        if let options = config.dashboard {
            let view = DashboardView(clock: clock, utcOffsetSeconds: TextRenderer.localUTCOffset())
            view.text.kubeletRoot = config.kubeletRoot.map { Array($0.utf8) }
            let feed = DashboardFeed(model: DashboardModel(devices: BlockDevicesInForce(blockDevices)), view: view, decoder: decoder)
            feed.podOfProcess = { pid in
                cgroups.path(ofProcess: UInt32(bitPattern: pid)).flatMap { path in path.withUnsafeBytes { PodCgroup(path: $0) } }
            }
            feed.model.header.recording = config.record.map { $0.ring?.directory ?? $0.path }
            dashboard = LiveDashboard(options: options, feed: feed, stop: stop)
            consumers.append(feed)
            for refusal in refusals { dashboard?.noteRefusal(refusal) }
        }

        // The other sources.
        let opened = LiveSources(syscalls: syscalls, tracer: tracerOptions, sources: config.sources, filter: config.filter,
                                 tracefs: tracefs, decoder: decoder, recorder: recorder, blockDevices: blockDevices) {
            say(status, "storetrace: " + $0)
            dashboard?.noteRefusal($0)
        }
        StartupTiming.mark("sources opened")
        var filter = config.filter
        filter.ueventSubsystems = config.sources.ueventSubsystems.map { $0.map { Array($0.utf8) } }
        // Failures with EBUSY get their holders scanned, recorded and shown.
        let explainer = config.sources.holders && opened.tracer != nil ? HolderExplainer(filter: filter) : nil
        let sources = opened.sources + (explainer.map { [$0] } ?? [])
        let pipeline = Pipeline(filter: filter, decoder: decoder, consumers: consumers,
                                merging: sources.count > 1)
        if let explainer {
            if filter.hasContextFilters { explainer.pipeline = pipeline }
            pipeline.add(explainer)
        }
        if let feed = dashboard?.feed { pipeline.add(feed) }
        // Operations are derived wherever events are shown; a capture holds
        // the calls, and replay derives them again.
        if printer != nil && filter.wants(.mountOperation) { pipeline.add(MountOperationAnalyzer(pipeline: pipeline)) }
        // The device table events are resolved against: the first before
        // any event (and into the capture), then kept fresh by the timer.
        let devices = DeviceWatch(pipeline: pipeline, kubeletRoot: kubeletRoot)
        pipeline.add(devices)
        // mount_health events where they are shown; the summary's unhealthy mounts in any case.
        let showsHealth = (printer != nil || dashboard != nil) && filter.wants(.mountHealth)
        let health = showsHealth || config.summary || metrics != nil ? MountHealthAnalyzer(pipeline: pipeline, deliver: showsHealth) : nil
        if let health { pipeline.add(health) }
        devices.refresh()
        StartupTiming.mark("device table")
        // Copies show the read-ahead in force; a uevent points the sampler at a new disk.
        if printer != nil || opened.queueSettings != nil {
            pipeline.add(QueueSettingFollower(printer: printer, sampler: opened.queueSettings))
        }
        let summarizer = config.summary ? SummaryAnalyzer(devices: BlockDevicesInForce(blockDevices), filter: filter) : nil
        summarizer?.mountHealth = health
        if let summarizer {
            if filter.hasContextFilters { summarizer.pipeline = pipeline }
            pipeline.add(summarizer)
        }
        let driver = SourceDriver(sources: sources, pipeline: pipeline)
        recorder?.lossesNow = { driver.losses }
        metrics?.losses = { driver.losses }
        metrics?.pipelineCounts = { pipeline.counts }
        if let health { metrics?.unhealthyMounts = { health.unhealthy.count } }
        if let recorder {
            metrics?.captureBytes = { recorder.bytesWritten }
            metrics?.captureUnwritten = { recorder.unwritten }
        }
        var metricsFailure: Int32?
        func writeMetrics() {
            guard let metrics, !metrics.write(), metrics.failure != metricsFailure else { return }
            metricsFailure = metrics.failure
            say(status, "storetrace: " + metrics.failureLine)
        }
        var ticks = 0
        var closed = false
        func closeAll() {
            guard !closed else { return }
            closed = true
            driver.close()
            tracefs.release()
        }
        detachOnError = false
        defer { closeAll() }
        // A path that cannot be written at the start (no such directory, a
        // read-only mount) is a mistake to stop on, not to warn about every 5 s.
        if let metrics, !metrics.write() {
            throw .writeMetrics(metrics.failureLine)
        }
        if opened.sources.isEmpty { throw .noSource("any source for the requested --type") }
        if let recorder { try checkStartFits(recorder, config.record!) } // the ftrace formats came in

        var parts: [String] = []
        if let tracer = opened.tracer {
            let mode = tracer.usesPerfBuffer ? "perf buffer" : "ring buffer \(config.tracer.bufferSize >> 10) KiB"
            parts.append("\(tracer.attached.count) syscalls (\(mode))")
        }
        parts += opened.sources.filter { $0.kind != .syscall }.map(\.kind.name)
        say(status, "storetrace: tracing " + parts.joined(separator: ", ") + (config.record.map { record in
            record.ring.map { " into \($0.directory) (\($0.keep) files of \(SnapshotRenderer.humanSize($0.fileSize)))" } ?? " into \(record.path)" } ?? "") + "; Ctrl-C to stop")

        // Timers: stop checks, losses and the status line each second,
        // --flush-interval, a --duration shorter than a second.
        func checkStop() {
            if let reason = pipeline.stopReason { stop(reason) }
        }
        func afterBatch() {
            devices.refreshIfDirty()
            checkStop()
        }
        try kernel { () throws(KernelError) in try driver.attach(to: loop, afterBatch: afterBatch) }
        StartupTiming.mark("sources joined to the event loop")
        var reportedLost: UInt64 = 0
        let started = KernelClock.now(CLOCK_MONOTONIC)
        try kernel { () throws(KernelError) in try loop.addTimer(milliseconds: 1000) {
            printer?.text.utcOffsetSeconds = TextRenderer.localUTCOffset()
            devices.refresh()
            let losses = driver.losses
            let lost = losses.lostEvents
            if lost > reportedLost && !config.statusLine && config.dashboard?.interactive != true {
                say(status, "storetrace: lost \(lost - reportedLost) events in the last second (\(lost) in all): "
                    + losses.describeNonZero(information: false))
            }
            reportedLost = lost
            let now = KernelClock.now(CLOCK_MONOTONIC)
            if config.statusLine, let recorder {
                let seconds = (now - started) / 1_000_000_000
                let bySource = SourceKind.allCases.map { "\($0.name) \(pipeline.counts.bySource[$0.index])" }
                status.withBuffer {
                    $0.append(string: "\r\u{1B}[Krecording \(seconds / 60):\(String(format2: seconds % 60))  \(pipeline.counts.shown) events ("
                              + bySource.joined(separator: ", ") + ")  \(lost) lost  \(recorder.bytesWritten >> 10) KiB")
                }
                status.flush()
            }
            pipeline.batchEnded()
            dashboard?.tick(at: UInt64(now), counts: pipeline.counts, losses: losses)
            ticks += 1
            if ticks % 5 == 0 { writeMetrics() }
            checkStop()
            if let duration = config.duration, UInt64(now - started) >= duration { stop(.duration) }
        } }
        if let recorder, let interval = config.record?.flushIntervalMilliseconds {
            // --flush-interval: what a crash or a full disk can cost at most.
            try kernel { () throws(KernelError) in try loop.addTimer(milliseconds: interval) {
                recorder.flush()
                checkStop()
            } }
        }
        if let duration = config.duration, duration < 1_000_000_000 {
            try kernel { () throws(KernelError) in try loop.addTimer(milliseconds: max(Int(duration / 1_000_000), 1)) { stop(.duration) } }
        }

        dashboard?.showRates(of: sources.map(\.kind))
        try kernel { () throws(KernelError) in try dashboard?.start(loop: loop, at: UInt64(started)) }
        // Whatever ends the session, the terminal is restored before anything is printed.
        defer { dashboard?.restoreTerminal() }
        loop.run()
        dashboard?.restoreTerminal()
        if config.statusLine { say(status, "") }
        // Drain what arrived before the stop, then detach.
        driver.drainAll()
        let losses = driver.losses
        closeAll()
        dashboard?.finish(at: KernelClock.monotonicNow(), counts: pipeline.counts, losses: losses)
        if let recorder {
            recorder.appendSnapshot(Array(NodeSnapshot.take(kubeletRoot: kubeletRoot).jsonText(.compact).utf8))
            recorder.close(drops: losses, note: "stopped by \(stopReason)")
        }
        var summary = LiveSummary(counts: pipeline.counts, losses: losses, stopReason: stopReason)
        summary.unwritten = recorder?.unwritten
        summary.rendered = printer != nil || dashboard != nil
        summary.eventsWithoutTask = decoder.tasks.eventsWithoutTask
        summary.eventsWithoutCgroup = decoder.pods.unresolvedEvents
        summary.storage = summarizer?.summary
        summary.clock = clock
        if let sink = printer?.sink, sink.failure != nil {
            summary.outputUnwritten = sink.unitsUnwritten
            summary.derivedOutputUnwritten = sink.derivedUnwritten
            summary.outputFailure = sink.failure
            summary.outputCutBytes = sink.cutBytes
        }
        metrics?.running = false
        writeMetrics()
        say(status, summary.line)
        if let failure = printer?.sink.failure ?? dashboard?.outputFailure, failure != EPIPE { throw .output(errno: failure) }
        if let failure = recorder?.failure { throw .writeCapture(failure) }
        return summary
    }

    /// The start of the capture must fit in --max-size, or not one event would.
    private func checkStartFits(_ recorder: CaptureRecorder, _ record: RecordOptions) throws(SessionError) {
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
