import ArgumentParser
import Glibc
import StoretraceCapture
import StoretraceKernel
import StoretraceSession

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Show the events of a capture, as `live` showed them.",
        discussion: """
            The same renderer and filters as `live`: the same events print the same bytes. \
            Reads a capture written by this or an older storetrace; record types it does not \
            know are skipped and counted. A capture cut short (kill -9, a full disk, a copy \
            truncated in transit) replays every complete chunk and says where it was cut. \
            Memory stays flat for any capture size. Several files, or a directory of .stcap \
            files (a `record --rotate` ring), of one node are read as one capture, in the order \
            of each file's start. Captures of several nodes are merged into one timeline by \
            wall-clock time, each line with its host after the time (JSON: a `host` field): files \
            whose start snapshots name the same host and boot id are one node's, read in \
            sequence; another host name or another boot is another node. Each node keeps its \
            own threads, devices and analyzers. `storetrace info` on the same files says \
            whether the nodes' clocks can be compared.

            Examples:
              storetrace replay node7.stcap --type umount --failed
              storetrace replay node7.stcap --since +30s --until 2026-11-23T14:10:00Z --json
              storetrace replay growing.stcap --follow
              storetrace replay /var/lib/storetrace          # a record --rotate ring, as one capture
              storetrace replay node-a/*.stcap node-b/*.stcap  # two nodes, one timeline
            """
    )

    @Argument(help: ArgumentHelp("Capture files, or directories of them, of one node or several.", valueName: "file"))
    var files: [String]

    @OptionGroup var span: TimeSpanOptions

    @Flag(name: .long, help: "Keep reading as the capture grows (it is still being recorded); Ctrl-C to stop.")
    var follow = false

    @Flag(name: .long, help: "Decode and filter every event but print none (to measure decoding).")
    var noOutput = false

    @Flag(name: .long, help: "Only mount operations: the mount family's calls put together into one mount_op line each, in mount(8)'s words (the same as --type mount_op; without it they show after their calls).")
    var ops = false

    @Flag(name: .long, help: "Exit with status 3 if the capture is damaged: a region skipped, a record without its schema, or an end cut short (torn, or not closed by its writer).")
    var strict = false

    @OptionGroup var filters: FilterOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if files.isEmpty { throw ValidationError("give a capture file (or a directory of them)") }
    }

    func run() throws {
        let paths: [String]
        do { paths = try CaptureSet.paths(files) } catch { fail(error.description) }
        var config = ReplayConfiguration(paths: paths)
        config.filter = filters.filter
        if ops { config.filter.kernelTypes.insert(.mountOperation) }
        config.format = output.json ? .json : .text
        config.color = output.useColor(fd: STDOUT_FILENO)
        config.kubeletRoot = output.kubeletRoot?.path
        span.apply(to: &config)
        config.follow = follow
        config.nullSink = noOutput
        let summary: ReplaySummary
        do {
            summary = try ReplaySession(configuration: config).run()
        } catch {
            fail(error.description)
        }
        noteDamage(summary)
        if noOutput {
            note("\(summary.counts.shown) events decoded (\(summary.counts.received) read), \(summary.counts.malformed) malformed")
        } else if summary.counts.filteredOut > 0 {
            // Counted like live's summary: what the filters left out is said.
            note("\(summary.counts.shown) events shown (\(summary.counts.received) read), \(summary.counts.filteredOut) left out by the filters")
        }
        noteSkipped(summary)
        if strict {
            // A second read, checksums only: ReplaySummary does not carry the
            // session reader's CaptureIntegrity (yet).
            var damaged = false
            for (index, file) in paths.enumerated() {
                let integrity: CaptureIntegrity
                do { integrity = try CaptureReader.verify(path: file) } catch { fail("\(file): \(error)") }
                // The counts are the whole replay's: said with the last file.
                let last = index == paths.count - 1
                let malformed = last ? summary.counts.malformed : 0, schemaMissing = last ? summary.counts.schemaMissing : 0
                if !integrity.isIntact || malformed > 0 || schemaMissing > 0 {
                    let problems = integrity.problems + (malformed > 0 ? ["\(malformed) malformed records"] : [])
                        + (schemaMissing > 0 ? ["\(schemaMissing) ftrace events without a format"] : [])
                    note("\(file): damaged (\(problems.joined(separator: "; "))); exit status 3 (--strict)")
                    damaged = true
                }
            }
            if damaged { throw ExitCode(3) }
        }
    }
}

/// What was skipped in the files read: damaged regions, a cut end.
func noteDamage(_ summary: ReplaySummary) {
    for (file, tail, corruptions) in summary.files {
        for corruption in corruptions {
            note("\(file): skipped damaged data at \(corruption)")
        }
        if tail.hasPrefix("torn") || tail.hasPrefix("not closed") {
            note("\(file): \(tail); every complete chunk before it was replayed")
        }
    }
}

/// Records read but not shown for what they are (not for the filters).
func noteSkipped(_ summary: ReplaySummary) {
    if summary.counts.malformed > 0 {
        note("\(summary.counts.malformed) malformed records skipped")
    }
    if summary.counts.schemaMissing > 0 {
        note("\(summary.counts.schemaMissing) ftrace events skipped: their format is not in the capture (schema missing)")
    }
    if summary.eventsWithoutTask > 0 {
        note("\(summary.eventsWithoutTask) ftrace events without a known task")
    }
}
