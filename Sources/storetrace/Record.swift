import ArgumentParser
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRender
import StoretraceSession

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record every enabled source into a capture file, to replay later anywhere.",
        discussion: """
            The capture (docs/capture-format.md) holds the events as the kernel delivered \
            them, a snapshot of the node at start and at end (processes, mount tables of every \
            mount namespace, block devices with read_ahead_kb, PCI storage functions), and the \
            clock offsets. It is written in checksummed chunks, flushed at least once a second: \
            after kill -9, power loss or a full disk, every chunk written before is readable. \
            Stops on Ctrl-C, SIGTERM, --duration or --max-size. The filters of `live` apply.

            Examples:
              storetrace record                              # storetrace-HOST-20261123T140731.stcap
              storetrace record -o reattach.stcap --duration 10m --live
            """
    )

    @Option(name: [.short, .long], help: ArgumentHelp("Capture file (created with mode 0600; default: storetrace-HOST-TIME.stcap).", valueName: "file"))
    var output: String?

    @Flag(name: .long, help: "Replace the file if it exists.")
    var force = false

    @Option(name: .long, help: ArgumentHelp("Stop when the capture reaches this size, with \(ByteSizeText.units): 100M, 2G.", valueName: "size"),
            transform: ByteSizeValue.parse)
    var maxSize: ByteSizeValue?

    @Option(name: .long, help: ArgumentHelp("Write and sync the capture at least this often, from 10ms to 60s (default: 1s).", valueName: "duration"),
            transform: DurationValue.parse)
    var flushInterval = DurationValue(text: "1s", nanoseconds: 1_000_000_000)

    @Flag(name: .long, help: "Also show the events, as `live` does.")
    var live = false

    @OptionGroup var filters: FilterOptions
    @OptionGroup var display: OutputOptions
    @OptionGroup var trace: TraceOptions

    func validate() throws {
        guard (10_000_000...60_000_000_000).contains(flushInterval.nanoseconds) else {
            throw ValidationError("--flush-interval must be between 10ms and 60s (got \(flushInterval))")
        }
    }

    func run() throws {
        let path = output ?? Self.defaultName()
        var config = LiveConfiguration()
        config.filter = filters.filter
        config.format = display.json ? .json : .text
        config.color = display.useColor(fd: STDOUT_FILENO)
        config.outputFD = live ? STDOUT_FILENO : nil
        trace.apply(to: &config)
        notePerfBufferSize(config.tracer)
        var record = RecordOptions(path: path)
        record.overwrite = force
        record.maxSize = maxSize?.bytes
        record.flushIntervalMilliseconds = Int(flushInterval.nanoseconds / 1_000_000) // at most 60 000: validate()
        config.record = record
        config.statusLine = !live && isatty(STDERR_FILENO) == 1
        do {
            let summary = try LiveSession(configuration: config).run()
            if let storage = summary.storage { printSummary(storage, clock: summary.clock, json: config.format == .json) }
        } catch {
            fail(error.description)
        }
    }

    /// storetrace-HOST-20261123T140731.stcap
    static func defaultName() -> String {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        let stamp = TimeText.compactUTC(epochNanoseconds: Int64(time(nil)) * 1_000_000_000)
        return "storetrace-\(String(cString: host))-\(stamp).stcap"
    }
}
