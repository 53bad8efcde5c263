import ArgumentParser
import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceKernel
import StoretraceRender
import StoretraceSession

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record every enabled source into a capture file, to replay later anywhere.",
        discussion: """
            The capture (docs/capture-format.md) holds the events as the kernel delivered \
            them, a snapshot of the node at start and at end (processes, mount tables of every \
            mount namespace, block devices with read_ahead_kb, PCI storage functions), and the \
            clock offsets. It is written in checksummed chunks, flushed at least once a second: \
            after kill -9, power loss or a full disk, every chunk written before is readable. \
            Stops on Ctrl-C, SIGTERM, --duration or --max-size. The filters of `live` apply.

            Each chunk is compressed with zstd on its own (capture format 2.0): a copy storm \
            takes about 7 bytes an event instead of 216, and a damaged chunk still costs only \
            itself. `--compress none` writes format 1.0, which storetrace versions from before \
            compression read too; `--compress zstd:LEVEL` trades CPU for size (1 to 19, default \
            \(CaptureCompression.defaultZstdLevel)). `info` shows what the chunks were compressed to.

            Flight recorder: with --rotate SIZE --keep N, -o names a directory (created, mode \
            0700, if missing; default: the current one) and the capture is a ring of files \
            storetrace-HOST-YYYYMMDDTHHMMSSZ-NNNNNNNNN.stcap whose names sort in time order. \
            A file that reaches SIZE is closed and the next one started; each is a complete \
            capture that replays on its own, and the oldest of the host's files beyond N are \
            removed, so the directory holds the last N x SIZE. `replay DIR` and `info DIR` \
            read them as one.

            Examples:
              storetrace record                              # storetrace-HOST-20261123T140731.stcap
              storetrace record -o reattach.stcap --duration 10m --live
              storetrace record -o /var/lib/storetrace --rotate 64M --keep 16
              storetrace record -o for-an-old-storetrace.stcap --compress none
            """
    )

    @Option(name: [.short, .long], help: ArgumentHelp("Capture file (created with mode 0600; default: storetrace-HOST-TIME.stcap).", valueName: "file"))
    var output: String?

    @Flag(name: .long, help: "Replace the file if it exists.")
    var force = false

    @Option(name: .long, help: ArgumentHelp("Stop when the capture reaches this size, with \(ByteSizeText.units): 100M, 2G.", valueName: "size"),
            transform: ByteSizeValue.parse)
    var maxSize: ByteSizeValue?

    @Option(name: .long, help: ArgumentHelp("Flight recorder: close each file at this size, with \(ByteSizeText.units), and start the next (needs --keep; -o is a directory).", valueName: "size"),
            transform: ByteSizeValue.parse)
    var rotate: ByteSizeValue?

    @Option(name: .long, help: ArgumentHelp("With --rotate: how many files to keep, the one being written included (1 to 100000); older ones are removed.", valueName: "n"))
    var keep: Int?

    @Option(name: .long, help: ArgumentHelp("How chunks are stored: zstd (level \(CaptureCompression.defaultZstdLevel)), zstd:LEVEL (1 to 19), or none (format 1.0, for storetrace versions without compression). --max-size and --rotate count the bytes on disk.", valueName: "codec"),
            transform: CompressionValue.parse)
    var compress = CompressionValue(text: "zstd", compression: .default)

    @Option(name: .long, help: ArgumentHelp("Write and sync the capture at least this often, from 10ms to 60s (default: 1s).", valueName: "duration"),
            transform: DurationValue.parse)
    var flushInterval = DurationValue(text: "1s", nanoseconds: 1_000_000_000)

    @Flag(name: .long, help: "Also show the events, as `live` does.")
    var live = false

    @OptionGroup var filters: FilterOptions
    @OptionGroup var display: OutputOptions
    @OptionGroup var trace: TraceOptions

    func validate() throws {
        if (rotate == nil) != (keep == nil) { throw ValidationError("--rotate and --keep go together") }
        if let keep, !(1...100_000).contains(keep) { throw ValidationError("--keep must be between 1 and 100000 (got \(keep))") }
        if rotate != nil && maxSize != nil { throw ValidationError("--max-size stops recording; with --rotate the ring never stops: give one of them") }
        if rotate != nil && force { throw ValidationError("--force replaces one file; a ring's files are never replaced") }
        guard (10_000_000...60_000_000_000).contains(flushInterval.nanoseconds) else {
            throw ValidationError("--flush-interval must be between 10ms and 60s (got \(flushInterval))")
        }
    }

    func run() throws {
        let path = output ?? (rotate == nil ? Self.defaultName() : ".")
        var config = LiveConfiguration()
        config.filter = filters.filter
        config.format = display.json ? .json : .text
        config.color = display.useColor(fd: STDOUT_FILENO)
        config.kubeletRoot = display.kubeletRoot?.path
        config.outputFD = live ? STDOUT_FILENO : nil
        trace.apply(to: &config)
        notePerfBufferSize(config.tracer)
        var record = RecordOptions(path: path)
        record.overwrite = force
        record.maxSize = maxSize?.bytes
        record.compression = compress.compression
        if let rotate, let keep {
            record.ring = CaptureRing(directory: Self.ringDirectory(path), fileSize: rotate.bytes, keep: keep, host: Self.hostName())
        }
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
        let stamp = TimeText.compactUTC(epochNanoseconds: Int64(time(nil)) * 1_000_000_000)
        return "storetrace-\(hostName())-\(stamp).stcap"
    }

    static func hostName() -> String {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        // A name in a file name: no slash.
        return String(String(cString: host).map { $0 == "/" ? "_" : $0 })
    }

    /// The ring's directory, created (0700) if missing; one line and exit 1 if it cannot be.
    static func ringDirectory(_ path: String) -> String {
        var st = stat()
        if stat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) != S_IFDIR { fail("\(path): --rotate writes a directory of files, and this is not a directory") }
            return path
        }
        if mkdir(path, 0o700) != 0 {
            fail("\(path): cannot create the ring's directory: \(String(cString: strerror(errno)))")
        }
        return path
    }
}
