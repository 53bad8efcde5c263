import ArgumentParser
import Glibc
import StoretraceExport
import StoretraceSession

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a capture as a timeline for Perfetto (ui.perfetto.dev) or chrome://tracing.",
        discussion: """
            Perfetto's own format (protobuf) by default, or the Trace Event JSON format with \
            --format chrome-json. Each process is a track with a track per thread; each call is a \
            slice as long as its latency, named as its text line starts, long paths cut to their first two \
            and last components (umount2 …/globalmount \
            = -1 EBUSY: a failure ends with its errno and has the category `failed`), with every \
            field of its JSON line (docs/events.md) as an annotation: arguments, errno, pod, volume, \
            devices. Uevents, function calls, tracepoints and queue setting changes are instants \
            on a "device events" track, kernel log lines on a "kernel log" track; holders and \
            mount_health events on a "findings" track, each joined by a flow to what it explains \
            (the failed call, the log line or uevent). Counter tracks follow read_ahead_kb (and the \
            other numeric queue settings) per disk and the copy throughput per device. The \
            filters of `replay` apply. Written as it is read (memory stays flat for any capture), \
            to FILE's directory under a temporary name, renamed to FILE when complete: a failed \
            export leaves nothing behind.

            Open the file at https://ui.perfetto.dev (Open trace file; it is read in the browser, \
            not uploaded), or a chrome-json file in chrome://tracing (Load).

            Examples:
              storetrace export incident.stcap -o incident.pftrace
              storetrace export incident.stcap -o incident.json --format chrome-json
              storetrace export /var/lib/storetrace --since +5m --until +7m -o teardown.pftrace
              storetrace export incident.stcap --type umount -o umounts.pftrace  # with their holders
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case perfetto
        case chromeJSON = "chrome-json"
    }

    @Argument(help: ArgumentHelp("Capture files, or a directory of them (a record --rotate ring), of one node.", valueName: "file"))
    var files: [String]

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The file to write (e.g. incident.pftrace).", valueName: "file"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("perfetto (Perfetto's protobuf trace, the default) or chrome-json (the Trace Event JSON format).", valueName: "format"))
    var format: Format = .perfetto

    @OptionGroup var span: TimeSpanOptions
    @OptionGroup var filters: FilterOptions

    func validate() throws {
        if files.isEmpty { throw ValidationError("give a capture file (or a directory of them)") }
        if output.isEmpty { throw ValidationError("-o needs a file name") }
    }

    func run() throws {
        let paths: [String]
        do { paths = try CaptureSet.paths(files) } catch { fail(error.description) }
        let file: AtomicFile
        do { file = try AtomicFile(path: output) } catch { fail("cannot write \(output): \(error)") }
        var config = ReplayConfiguration(paths: paths)
        config.filter = filters.filter
        config.format = .json // the annotations are each event's JSON fields
        span.apply(to: &config)
        let sink = OutputSink(fd: file.fd)
        let writer: TimelineWriter = format == .perfetto ? PerfettoTraceWriter(sink: sink) : ChromeJSONTraceWriter(sink: sink)
        let exporter = TimelineExporter(writer: writer)
        let summary: ReplaySummary
        do {
            summary = try ReplaySession(configuration: config, consumer: exporter).run()
        } catch {
            file.discard()
            fail(error.description)
        }
        exporter.finish()
        if let failure = sink.failure {
            file.discard()
            fail("cannot write \(output): \(AtomicFileError(errno: failure))")
        }
        do { try file.commit() } catch { fail("cannot write \(output): \(error)") }
        noteDamage(summary)
        let counts = exporter.counts
        var line = "exported \(summary.counts.shown) events (\(summary.counts.received) read"
        if summary.counts.filteredOut > 0 { line += ", \(summary.counts.filteredOut) left out by the filters" }
        line += ") to \(output): \(counts.slices) slices, \(counts.instants) instants, \(counts.counterValues) counter values, "
            + "\(counts.flows) flows on \(counts.tracks) tracks"
        note(line)
        noteSkipped(summary)
    }
}
