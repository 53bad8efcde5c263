import ArgumentParser
import Glibc
import StoretraceKernel
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

    @Option(name: .long, help: ArgumentHelp("Stop when the capture reaches this size: 100M, 2G.", valueName: "size"))
    var maxSize: String?

    @Option(name: .long, help: ArgumentHelp("Write and sync the capture at least this often (default 1s).", valueName: "duration"))
    var flushInterval: String = "1s"

    @Flag(name: .long, help: "Also show the events, as `live` does.")
    var live = false

    @OptionGroup var filters: FilterOptions
    @OptionGroup var display: OutputOptions
    @OptionGroup var trace: TraceOptions

    func validate() throws {
        if let maxSize, ByteSize.parse(maxSize) == nil {
            throw ValidationError("cannot read --max-size '\(maxSize)'; write e.g. 100M or 2G")
        }
        guard let interval = Duration.parseNanoseconds(flushInterval), interval >= 10_000_000, interval <= 60_000_000_000 else {
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
        record.maxSize = maxSize.flatMap(ByteSize.parse).map(UInt64.init)
        record.flushIntervalMilliseconds = Int((Duration.parseNanoseconds(flushInterval) ?? 1_000_000_000) / 1_000_000)
        config.record = record
        config.statusLine = !live && isatty(STDERR_FILENO) == 1
        do {
            _ = try LiveSession(configuration: config).run()
        } catch {
            fail(error.description)
        }
    }

    /// storetrace-HOST-20261123T140731.stcap
    static func defaultName() -> String {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let stamp = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
        return "storetrace-\(String(cString: host))-\(stamp).stcap"
    }
}
