import ArgumentParser
import Glibc
import StoretraceKernel
import StoretraceSession

struct Live: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show storage syscalls as they happen (the default command).",
        discussion: """
            One line per call: local time, command[pid], mount namespace, latency, the call \
            as strace writes it, and its result. With --json, one JSON object per line \
            (docs/events.md). Ctrl-C or SIGTERM detaches and prints a summary with the \
            number of events lost, if any, on stderr.
            """
    )

    @OptionGroup var filters: FilterOptions

    @Flag(name: .long, help: "Print JSON lines instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Color: auto (a terminal without NO_COLOR), always or never.", valueName: "when"))
    var color: ColorChoice = .auto

    @Option(name: .long, help: ArgumentHelp("Stop after this long: 30s, 5m.", valueName: "duration"))
    var duration: String?

    @Option(name: .long, help: ArgumentHelp("Kernel buffer size: a power of two, e.g. 8M, 64M.", valueName: "size"))
    var bufferSize: String = "8M"

    @Flag(name: .long, help: "Use the perf buffer even where the BPF ring buffer exists (it is the fallback for kernels before 5.8).")
    var perfBuffer = false

    enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, always, never
    }

    func validate() throws {
        if let duration, Duration.parseNanoseconds(duration) == nil {
            throw ValidationError("cannot read --duration '\(duration)'; write e.g. 30s or 5m")
        }
        guard let bytes = ByteSize.parse(bufferSize) else {
            throw ValidationError("cannot read --buffer-size '\(bufferSize)'; write e.g. 8M or 64M")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard bytes >= page, bytes & (bytes - 1) == 0, bytes <= 1 << 30 else {
            throw ValidationError("--buffer-size must be a power of two between \(page >> 10)K and 1G (got \(bufferSize))")
        }
    }

    func run() throws {
        var config = LiveConfiguration()
        config.filter = filters.filter
        config.format = json ? .json : .text
        switch color {
        case .always: config.color = true
        case .never: config.color = false
        case .auto: config.color = !json && isatty(STDOUT_FILENO) == 1 && getenv("NO_COLOR") == nil
        }
        config.duration = duration.flatMap(Duration.parseNanoseconds)
        config.tracer.bufferSize = ByteSize.parse(bufferSize) ?? (8 << 20)
        config.tracer.forcePerfBuffer = perfBuffer
        do {
            _ = try LiveSession(configuration: config).run()
        } catch {
            fail(error.description)
        }
    }
}

enum ByteSize {
    /// "8M" -> 8388608; K, M, G are binary units; a bare number is bytes.
    static func parse(_ text: String) -> Int? {
        let scales: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = Substring(text.uppercased())
        if digits.hasSuffix("IB") || digits.hasSuffix("B") && digits.count > 1 && scales[digits.dropLast().last!] != nil {
            digits = digits.hasSuffix("IB") ? digits.dropLast(2) : digits.dropLast()
        }
        var scale = 1
        if let last = digits.last, let unit = scales[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard let value = Int(digits), value > 0, value <= Int.max / scale else { return nil }
        return value * scale
    }
}

/// One line on stderr, exit status 1: how every runtime error ends.
func fail(_ message: String) -> Never {
    fputs("storetrace: \(message)\n", stderr)
    exit(1)
}
