import Glibc
import StoretraceAnalyze
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import StoretraceRender

// The steps of `LiveSession.run`, one type each, in the order it takes them.

/// The event loop and what stops it: a signal, `q` in `top`, the pipeline
/// (a closed pipe, --max-size), --duration. One object, so any closure of
/// the session can stop the loop and the session learns why.
final class LiveControl {
    let loop: EventLoop
    private(set) var stopReason = StopReason.end
    /// SIGWINCH, once the dashboard exists.
    var resized: (() -> Void)?

    /// `top` on a terminal also redraws on SIGWINCH, through the same signalfd.
    init(redrawsOnResize: Bool) throws(SessionError) {
        loop = try kernel { () throws(KernelError) in try EventLoop() }
        try kernel { () throws(KernelError) in
            try loop.handleTerminationSignals(also: redrawsOnResize ? [SIGWINCH] : []) { [unowned self] number in
                if number == SIGWINCH { resized?() } else { stop(.signal(number)) }
            }
        }
        signal(SIGPIPE, SIG_IGN)
    }

    func stop(_ reason: StopReason) {
        stopReason = reason
        loop.stop()
    }
}

/// What the session changed on the node: tracefs (mounted if it was not),
/// the syscall tracer and, once the driver owns them, every source.
/// `close()` undoes all of it, once, whatever ended the session.
final class LiveTracing {
    let tracefs: TracefsMount
    let syscalls: SyscallTracer?
    /// The tracer's options as opened (kinds, pid, storetrace itself left out).
    let options: TracerOptions
    /// What the kernel refused while the tracer was opened (said on the
    /// status output already; the dashboard lists them too).
    let refusals: [String]
    /// Set once the driver owns every source; it then closes them.
    var driver: SourceDriver?
    private var closed = false

    init(config: LiveConfiguration, status: OutputSink) throws(SessionError) {
        tracefs = try kernel { () throws(KernelError) in try TracefsMount() }
        StartupTiming.mark("tracefs mounted")
        var options = config.tracer
        options.kinds = config.filter.tracedKinds
        if config.filter.pids.count == 1 { options.targetPID = config.filter.pids[0] }
        options.excludePID = UInt32(getpid())
        self.options = options
        var refused: [String] = []
        do {
            syscalls = try LiveSources.openSyscallTracer(options, tracefs: tracefs) {
                say(status, "storetrace: " + $0)
                refused.append($0)
            }
        } catch {
            tracefs.release()
            throw .kernel(error)
        }
        refusals = refused
    }

    func close() {
        guard !closed else { return }
        closed = true
        if let driver { driver.close() } else { syscalls?.close() }
        tracefs.release()
    }
}

/// The consumers, in the order events reach them (the recorder, the
/// printer, the metrics file, the dashboard), and what they were set up
/// with: the clock, the block devices at the start, the kubelet root.
struct LiveConsumers {
    private(set) var list: [EventConsumer] = []
    let recorder: CaptureRecorder?
    private(set) var printer: EventPrinter?
    let metrics: MetricsExporter?
    private(set) var dashboard: LiveDashboard?
    /// The recorder's clock where there is one (replay will use it;
    /// rendering uses it too, so `record --live` and `replay` print the
    /// same bytes).
    let clock: ClockOffset
    private(set) var blockDevices: [NodeSnapshot.BlockDevice] = []
    let kubeletRoot: String

    init(config: LiveConfiguration, decoder: EventDecoder, recorder: CaptureRecorder?, control: LiveControl,
         refusals: [String]) throws(SessionError) {
        self.recorder = recorder
        // The pods of syscall events' processes: the cgroup2 tree indexed
        // once now, then once more per unknown cgroup id (at most each second).
        let cgroups = CgroupResolver()
        cgroups.refresh()
        decoder.pods.resolve(with: cgroups)
        StartupTiming.mark("cgroups indexed")
        if let recorder { decoder.pods.onResolved = { recorder.appendCgroupPath($0, timestamp: $1) } }
        clock = recorder?.clock ?? KernelClock.measureOffset()
        if let fd = config.outputFD, config.dashboard == nil {
            printer = EventPrinter(format: config.format,
                                   text: TextRenderer(color: config.color, utcOffsetSeconds: TextRenderer.localUTCOffset(), clock: clock),
                                   json: JSONRenderer(clock: clock), sink: OutputSink(fd: fd), decoder: decoder)
            printer?.kubeletRoot = config.kubeletRoot
        }
        StartupTiming.mark("clock offset and renderers")
        kubeletRoot = config.kubeletRoot ?? KubeletPath.defaultRoot
        // The block devices copies are enriched with; the queue setting
        // sampler reports what changes after them.
        if let recorder {
            let snapshot = Array(NodeSnapshot.take(kubeletRoot: kubeletRoot).jsonText(.compact).utf8)
            recorder.appendSnapshot(snapshot)
            // Enrich from the snapshot as stored, exactly as replay will.
            if let stored = try? NodeSnapshot(json: snapshot) {
                printer?.enrichment = SnapshotEnrichment(NodeSnapshotIndex(stored))
                blockDevices = stored.blockDevices
            }
            // What was refused so far (the syscall tracer's), after the snapshot.
            let now = KernelClock.monotonicNow()
            for refusal in refusals { recorder.appendNotice(refusal, timestamp: now) }
            list.append(recorder)
            try LiveSession.checkStartFits(recorder, config.record!)
        } else {
            blockDevices = NodeSnapshot.takeBlockDevices()
            printer?.enrichment = SnapshotEnrichment(devices: BlockDevicesInForce(blockDevices))
            printer?.enrichment?.kubeletVolumes = KubeletVolumeTable(NodeSnapshot.takeKubeletVolumes(root: kubeletRoot))
        }
        if let printer { list.append(printer) }
        metrics = config.metricsPath.map(MetricsExporter.init(path:))
        if let metrics { list.append(metrics) }
        StartupTiming.mark("node snapshot or block devices and kubelet volumes")
        if let options = config.dashboard {
            let view = DashboardView(clock: clock, utcOffsetSeconds: TextRenderer.localUTCOffset())
            view.text.kubeletRoot = config.kubeletRoot.map { Array($0.utf8) }
            let feed = DashboardFeed(model: DashboardModel(devices: BlockDevicesInForce(blockDevices)), view: view, decoder: decoder)
            feed.podOfProcess = { pid in
                cgroups.path(ofProcess: UInt32(bitPattern: pid)).flatMap { path in path.withUnsafeBytes { PodCgroup(path: $0) } }
            }
            feed.model.header.recording = config.record.map { $0.ring?.directory ?? $0.path }
            let dashboard = LiveDashboard(options: options, feed: feed, stop: { [unowned control] in control.stop($0) })
            control.resized = { [weak dashboard] in dashboard?.resized() }
            for refusal in refusals { dashboard.noteRefusal(refusal) }
            list.append(feed)
            self.dashboard = dashboard
        }
    }
}

/// The other sources opened, the pipeline with its analyzers, and the
/// driver that joins the sources to the loop; the timers; the summary.
final class LiveAssembly {
    let config: LiveConfiguration
    let consumers: LiveConsumers
    let decoder: EventDecoder
    let sources: [RecordSource]
    /// The sources `LiveSources` opened (the holders scan, a source of
    /// derived records, comes on top of them).
    let opened: LiveSources
    let pipeline: Pipeline
    let devices: DeviceWatch
    let summarizer: SummaryAnalyzer?
    let driver: SourceDriver
    private var metricsFailure: Int32?

    init(config: LiveConfiguration, decoder: EventDecoder, consumers: LiveConsumers, tracing: LiveTracing,
         status: OutputSink) throws(SessionError) {
        self.config = config
        self.decoder = decoder
        self.consumers = consumers
        let recorder = consumers.recorder, printer = consumers.printer, metrics = consumers.metrics
        let dashboard = consumers.dashboard
        opened = LiveSources(syscalls: tracing.syscalls, tracer: tracing.options, sources: config.sources, filter: config.filter,
                             tracefs: tracing.tracefs, decoder: decoder, recorder: recorder, blockDevices: consumers.blockDevices) {
            say(status, "storetrace: " + $0)
            dashboard?.noteRefusal($0)
            recorder?.appendNotice($0, timestamp: KernelClock.monotonicNow())
        }
        StartupTiming.mark("sources opened")
        var filter = config.filter
        filter.ueventSubsystems = config.sources.ueventSubsystems.map { $0.map { Array($0.utf8) } }
        // Failures with EBUSY get their holders scanned, recorded and shown.
        let explainer = config.sources.holders && opened.tracer != nil ? HolderExplainer(filter: filter) : nil
        sources = opened.sources + (explainer.map { [$0] } ?? [])
        pipeline = Pipeline(filter: filter, decoder: decoder, consumers: consumers.list, merging: sources.count > 1)
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
        devices = DeviceWatch(pipeline: pipeline, kubeletRoot: consumers.kubeletRoot)
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
        summarizer = config.summary ? SummaryAnalyzer(devices: BlockDevicesInForce(consumers.blockDevices), filter: filter) : nil
        summarizer?.mountHealth = health
        if let summarizer {
            if filter.hasContextFilters { summarizer.pipeline = pipeline }
            pipeline.add(summarizer)
        }
        let driver = SourceDriver(sources: sources, pipeline: pipeline)
        self.driver = driver
        tracing.driver = driver
        recorder?.lossesNow = { driver.losses }
        if let metrics {
            let pipeline = pipeline
            metrics.losses = { driver.losses }
            metrics.pipelineCounts = { pipeline.counts }
            if let health { metrics.unhealthyMounts = { health.unhealthy.count } }
            if let recorder {
                metrics.captureBytes = { recorder.bytesWritten }
                metrics.captureUnwritten = { recorder.unwritten }
            }
            // A path that cannot be written at the start (no such directory, a
            // read-only mount) is a mistake to stop on, not to warn about every 5 s.
            if !metrics.write() { throw .writeMetrics(metrics.failureLine) }
        }
        if opened.sources.isEmpty { throw .noSource("any source for the requested --type") }
        if let recorder { try LiveSession.checkStartFits(recorder, config.record!) } // the ftrace formats came in
    }

    /// "storetrace: tracing 9 syscalls (ring buffer 8192 KiB), uevent, kmsg into x.stcap; Ctrl-C to stop"
    var tracingLine: String {
        var parts: [String] = []
        if let tracer = opened.tracer {
            let mode = tracer.usesPerfBuffer ? "perf buffer" : "ring buffer \(config.tracer.bufferSize >> 10) KiB"
            parts.append("\(tracer.attached.count) syscalls (\(mode))")
        }
        parts += opened.sources.filter { $0.kind != .syscall }.map(\.kind.name)
        let into = config.record.map { record in
            record.ring.map { " into \($0.directory) (\($0.keep) files of \(SnapshotRenderer.humanSize($0.fileSize)))" } ?? " into \(record.path)"
        }
        return "storetrace: tracing " + parts.joined(separator: ", ") + (into ?? "") + "; Ctrl-C to stop"
    }

    func checkStop(_ control: LiveControl) {
        if let reason = pipeline.stopReason { control.stop(reason) }
    }

    /// The metrics file, rewritten; a failure said once until it changes.
    func writeMetrics(status: OutputSink) {
        guard let metrics = consumers.metrics, !metrics.write(), metrics.failure != metricsFailure else { return }
        metricsFailure = metrics.failure
        say(status, "storetrace: " + metrics.failureLine)
    }

    /// Each second: the local time's offset, the device table, losses (or
    /// the status line), the dashboard, the metrics file (every fifth),
    /// stop checks and --duration. Also --flush-interval, and a --duration
    /// shorter than a second.
    func addTimers(control: LiveControl, started: Int64, status: OutputSink) throws(SessionError) {
        let config = config, pipeline = pipeline, driver = driver, devices = devices
        let printer = consumers.printer, recorder = consumers.recorder, dashboard = consumers.dashboard
        var reportedLost: UInt64 = 0
        var ticks = 0
        try kernel { () throws(KernelError) in try control.loop.addTimer(milliseconds: 1000) { [unowned self] in
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
            if ticks % 5 == 0 { self.writeMetrics(status: status) }
            self.checkStop(control)
            if let duration = config.duration, UInt64(now - started) >= duration { control.stop(.duration) }
        } }
        if let recorder, let interval = config.record?.flushIntervalMilliseconds {
            // --flush-interval: what a crash or a full disk can cost at most.
            try kernel { () throws(KernelError) in try control.loop.addTimer(milliseconds: interval) { [unowned self] in
                recorder.flush()
                self.checkStop(control)
            } }
        }
        if let duration = config.duration, duration < 1_000_000_000 {
            try kernel { () throws(KernelError) in
                try control.loop.addTimer(milliseconds: max(Int(duration / 1_000_000), 1)) { control.stop(.duration) }
            }
        }
    }

    /// The one-line summary's facts, once the sources are drained.
    func summary(losses: [LossCount], stopReason: StopReason) -> LiveSummary {
        var summary = LiveSummary(counts: pipeline.counts, losses: losses, stopReason: stopReason)
        summary.unwritten = consumers.recorder?.unwritten
        summary.rendered = consumers.printer != nil || consumers.dashboard != nil
        summary.eventsWithoutTask = decoder.tasks.eventsWithoutTask
        summary.eventsWithoutCgroup = decoder.pods.unresolvedEvents
        summary.storage = summarizer?.summary
        summary.clock = consumers.clock
        if let sink = consumers.printer?.sink, sink.failure != nil {
            summary.outputUnwritten = sink.unitsUnwritten
            summary.derivedOutputUnwritten = sink.derivedUnwritten
            summary.outputFailure = sink.failure
            summary.outputCutBytes = sink.cutBytes
        }
        return summary
    }
}
