import ArgumentParser
import Glibc
import StoretraceKernel
import StoretraceRender
import StoretraceSession

struct Live: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show storage events as they happen (the default command).",
        discussion: """
            Syscalls of the mount family and file copies, driver binding through the function \
            tracer, storage tracepoints, device uevents and the kernel log, merged on one \
            timeline. One line per event: local time, command[pid], mount namespace, latency, \
            the call as strace writes it, and its result. With --json, one JSON object per line \
            (docs/events.md). A source the kernel refuses is reported once and the rest goes on. \
            Ctrl-C or SIGTERM detaches everything and prints a summary, with every lost event \
            counted, on stderr.

            Examples:
              storetrace live --type umount --failed          # who gets EBUSY, and in which mount namespace
              storetrace live --comm kubelet --comm csi-node  # what the CSI path mounts
              storetrace live --type copy_file_range --type splice --type sendfile --min-latency 1ms
              storetrace live --type uevent --type kmsg --subsystem all
              storetrace live --json --duration 30s > events.jsonl
            """
    )

    @OptionGroup var filters: FilterOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var trace: TraceOptions

    func run() throws {
        var config = LiveConfiguration()
        config.filter = filters.filter
        config.format = output.json ? .json : .text
        config.color = output.useColor(fd: STDOUT_FILENO)
        trace.apply(to: &config)
        notePerfBufferSize(config.tracer)
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
        if digits.hasSuffix("IB") { digits = digits.dropLast(2) } else if digits.count > 1, digits.hasSuffix("B"),
            let unit = digits.dropLast().last, scales[unit] != nil { digits = digits.dropLast() }
        var scale = 1
        if let last = digits.last, let unit = scales[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard let value = Int(digits), value > 0, value <= Int.max / scale else { return nil }
        return value * scale
    }
}

/// `--perf-buffer` with a `--buffer-size` below the perf buffer's minimum
/// gets a larger buffer: said once, before tracing starts.
func notePerfBufferSize(_ tracer: TracerOptions) {
    guard tracer.forcePerfBuffer, let notice = SyscallTracer.perfBufferNotice(requestedBytes: tracer.bufferSize) else { return }
    note(notice)
}

/// One line on stderr, exit status 1: how every runtime error ends.
func fail(_ message: String) -> Never {
    note(message)
    exit(1)
}

/// One line on stderr. Messages echo file names and what a capture holds:
/// escaped for the terminal like every other text.
func note(_ message: String) {
    fputs("storetrace: \(escapedForTerminal(message))\n", stderr)
}
