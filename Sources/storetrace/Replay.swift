import ArgumentParser
import Glibc
import StoretraceKernel
import StoretraceSession

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the events of a capture, as `live` showed them.",
        discussion: """
            The same renderer and filters as `live`: the same events print the same bytes. \
            Reads a capture written by this or an older storetrace; record types it does not \
            know are skipped and counted. A capture cut short (kill -9, a full disk, a copy \
            truncated in transit) replays every complete chunk and says where it was cut. \
            Memory stays flat for any capture size.

            Examples:
              storetrace replay node7.stcap --type umount --failed
              storetrace replay node7.stcap --since +30s --until 2026-11-23T14:10:00Z --json
              storetrace replay growing.stcap --follow
            """
    )

    @Argument(help: ArgumentHelp("The capture file.", valueName: "file"))
    var file: String

    @Option(name: .long, help: ArgumentHelp("Only events at or after this time: RFC 3339 (2026-11-23T14:07:31Z) or an offset from the capture's start (+30s).", valueName: "time"),
            transform: TimeBoundValue.parse)
    var since: TimeBoundValue?

    @Option(name: .long, help: ArgumentHelp("Only events at or before this time (same forms as --since).", valueName: "time"),
            transform: TimeBoundValue.parse)
    var until: TimeBoundValue?

    @Flag(name: .long, help: "Keep reading as the capture grows (it is still being recorded); Ctrl-C to stop.")
    var follow = false

    @Flag(name: .long, help: "Decode and filter every event but print none (to measure decoding).")
    var noOutput = false

    @Flag(name: .long, help: "Only mount operations: the mount family's calls put together into one mount_op line each, in mount(8)'s words (the same as --type mount_op; without it they show after their calls).")
    var ops = false

    @OptionGroup var filters: FilterOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        var config = ReplayConfiguration(path: file)
        config.filter = filters.filter
        if ops { config.filter.kernelTypes.insert(.mountOperation) }
        config.format = output.json ? .json : .text
        config.color = output.useColor(fd: STDOUT_FILENO)
        config.since = since?.bound
        config.until = until?.bound
        config.follow = follow
        config.nullSink = noOutput
        let summary: ReplaySummary
        do {
            summary = try ReplaySession(configuration: config).run()
        } catch {
            fail(error.description)
        }
        for corruption in summary.corruptions {
            fputs("storetrace: \(file): skipped damaged data at \(corruption)\n", stderr)
        }
        if summary.tail.hasPrefix("torn") || summary.tail.hasPrefix("not closed") {
            fputs("storetrace: \(file): \(summary.tail); every complete chunk before it was replayed\n", stderr)
        }
        if noOutput {
            fputs("storetrace: \(summary.counts.shown) events decoded (\(summary.counts.received) read), \(summary.counts.malformed) malformed\n", stderr)
        }
        if summary.counts.malformed > 0 {
            fputs("storetrace: \(summary.counts.malformed) malformed records skipped\n", stderr)
        }
    }
}
