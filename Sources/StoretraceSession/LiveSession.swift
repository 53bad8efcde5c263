import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRender

/// `storetrace live`: trace, filter, render to stdout until Ctrl-C, SIGTERM,
/// `--duration` or a closed pipe; then detach and print a one-line summary.
public struct LiveConfiguration: Sendable {
    public var filter = EventFilter()
    public var format = OutputFormat.text
    public var color = false
    public var tracer = TracerOptions()
    /// Stop after this many nanoseconds; nil runs until stopped.
    public var duration: UInt64?
    public var outputFD: Int32 = STDOUT_FILENO
    /// Where status, drop reports and the summary go.
    public var statusFD: Int32 = STDERR_FILENO

    public init() {}
}

public struct LiveSummary: Sendable {
    public var counts: PipelineCounts
    public var losses: LossCounters
    public var skipped: [(kind: SyscallKind, reason: String)]
    public var stopReason: String

    /// "storetrace: 1200 events shown (1300 traced), 0 lost, 0 malformed"
    public var line: String {
        var text = "storetrace: \(counts.shown) events shown (\(counts.received) traced), \(losses.lost) lost"
        if losses.lost > 0 {
            var parts: [String] = []
            if losses.bufferFull > 0 { parts.append("\(losses.bufferFull) ring buffer full") }
            if losses.perfLost > 0 { parts.append("\(losses.perfLost) perf buffer lost") }
            if losses.pendingFull > 0 { parts.append("\(losses.pendingFull) entry table full") }
            text += " (" + parts.joined(separator: ", ") + ")"
        }
        text += ", \(counts.malformed) malformed"
        if losses.stringFaults > 0 { text += ", \(losses.stringFaults) unreadable strings" }
        return text + "; stopped by \(stopReason)"
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

        let clock = KernelClock.measureOffset()
        let sink = OutputSink(fd: config.outputFD)
        let processor = RecordProcessor(
            filter: config.filter, format: config.format,
            text: TextRenderer(color: config.color, utcOffsetSeconds: KernelClock.localUTCOffset(), clock: clock),
            json: JSONRenderer(clock: clock), sink: sink)

        var tracerOptions = config.tracer
        tracerOptions.kinds = config.filter.tracedKinds
        if config.filter.pids.count == 1 { tracerOptions.targetPID = config.filter.pids[0] }
        tracerOptions.excludePID = UInt32(getpid())

        let tracefs = try TracefsMount()
        let tracer: SyscallTracer
        do {
            tracer = try SyscallTracer(options: tracerOptions, tracefs: tracefs) { processor.process($0) }
        } catch {
            tracefs.release()
            throw error
        }
        tracefs.release() // attached: tracefs no longer needed, leave the node as found
        defer { tracer.close() }

        for (kind, reason) in tracer.skipped {
            say(status, "storetrace: not tracing \(kind.callName): \(reason)")
        }
        let mode = tracer.usesPerfBuffer ? "perf buffer" : "ring buffer \(config.tracer.bufferSize >> 10) KiB"
        say(status, "storetrace: tracing \(tracer.attached.count) syscalls (\(mode)); Ctrl-C to stop")

        try loop.add(fd: tracer.pollFD) {
            tracer.consume()
            sink.flush()
            if sink.failure != nil {
                stopReason = sink.failure == EPIPE ? "closed output" : "output error"
                loop.stop()
            }
        }
        var reported = LossCounters()
        let started = KernelClock.now(CLOCK_MONOTONIC)
        try loop.addTimer(milliseconds: 1000) {
            processor.text.utcOffsetSeconds = KernelClock.localUTCOffset()
            let now = tracer.counters()
            if now.lost > reported.lost {
                say(status, "storetrace: lost \(now.lost - reported.lost) events in the last second (\(now.lost) in all); try a larger --buffer-size")
            }
            reported = now
            if let duration = config.duration, UInt64(KernelClock.now(CLOCK_MONOTONIC) - started) >= duration {
                stopReason = "--duration"
                loop.stop()
            }
        }
        if let duration = config.duration, duration < 1_000_000_000 {
            try loop.addTimer(milliseconds: max(Int(duration / 1_000_000), 1)) {
                stopReason = "--duration"
                loop.stop()
            }
        }

        loop.run()
        // Drain what arrived before the stop, then detach.
        tracer.consume()
        sink.flush()
        let losses = tracer.counters()
        tracer.close()
        let summary = LiveSummary(counts: processor.counts, losses: losses, skipped: tracer.skipped, stopReason: stopReason)
        say(status, summary.line)
        if let failure = sink.failure, failure != EPIPE {
            throw .system(call: "write to output", errno: .init(rawValue: failure))
        }
        return summary
    }
}

func say(_ sink: OutputSink, _ line: String) {
    sink.withBuffer { $0.append(string: line + "\n") }
    sink.flush()
}
