import ArgumentParser
import Glibc
import StoretraceAnalyze
import StoretraceDecode
import StoretraceRender
import StoretraceSession

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Summarize a capture: copies per device and read-ahead, calls and errors, the slowest calls, setting changes.",
        discussion: """
            Per block device (the device of the copy's input file), the copies (copy_file_range, \
            splice, sendfile) split by the read_ahead_kb in force when each ran (the snapshot at \
            the start, then every queue_setting change), side by side: calls, bytes, throughput \
            (bytes over the time of the calls that moved data), latency percentiles and a log2 \
            histogram. Then calls and failures by type and errno, the slowest calls, and the queue \
            settings that changed. The same filters as `replay` choose the calls. `live --summary` \
            and `record --summary` print the same at the end.

            Examples:
              storetrace summary copies.stcap
              storetrace summary copies.stcap --type copy_file_range --json
            """
    )

    @Argument(help: ArgumentHelp("The capture file.", valueName: "file"))
    var file: String

    @OptionGroup var span: TimeSpanOptions

    @Flag(name: .long, help: "Print the summary as one JSON object (docs/events.md).")
    var json = false

    @OptionGroup var filters: FilterOptions

    func run() throws {
        var config = ReplayConfiguration(path: file)
        config.filter = filters.filter
        span.apply(to: &config)
        config.nullSink = true
        config.summary = true
        let result: ReplaySummary
        do {
            result = try ReplaySession(configuration: config).run()
        } catch {
            fail(error.description)
        }
        for corruption in result.corruptions { note("\(file): skipped damaged data at \(corruption)") }
        if result.tail.hasPrefix("torn") || result.tail.hasPrefix("not closed") {
            note("\(file): \(result.tail); the summary covers every complete chunk before it")
        }
        if result.counts.malformed > 0 { note("\(result.counts.malformed) malformed records skipped") }
        guard let storage = result.storage else { fail("\(file): no summary") }
        printSummary(storage, clock: result.clock, json: json)
    }
}

/// The summary on stdout, as text or one JSON line.
func printSummary(_ summary: StorageSummary, clock: ClockOffset, json: Bool) {
    if json {
        var out = OutputBuffer(capacity: 4096)
        SummaryRenderer.renderJSON(summary, clock: clock, into: &out)
        out.withUnsafeBytes { bytes in _ = fwrite(bytes.baseAddress, 1, bytes.count, stdout) }
    } else {
        fputs(SummaryRenderer.renderText(summary, clock: clock, utcOffsetSeconds: TextRenderer.localUTCOffset()), stdout)
    }
    fflush(stdout)
}
