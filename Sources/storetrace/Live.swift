import ArgumentParser
import Glibc
import StoretraceKernel
import StoretraceRender
import StoretraceSession

struct Live: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live",
        abstract: "Show storage events as they happen (the default command).",
        discussion: """
            Syscalls of the mount family and file copies, driver binding through the function \
            tracer, storage tracepoints, device uevents and the kernel log, merged on one \
            timeline. One line per event: local time, command[pid], mount namespace, latency, \
            the call as strace writes it, and its result. With --json, one JSON object per line \
            (docs/events.md). A source the kernel refuses is reported once and the rest goes on. \
            A umount2, mount, rmdir or unlinkat that fails with EBUSY gets the processes, mounts \
            and namespaces that hold its target on indented lines under it (a failed remount, \
            bind or move: its target mount point); where the kernel allows fexit or kprobes, \
            exclusive claims of block devices are traced too (--type claim) and named there. \
            Ctrl-C or SIGTERM detaches everything and prints a summary, with every lost event \
            counted, on stderr.

            Examples:
              storetrace live --type umount --failed          # who gets EBUSY, and in which mount namespace
              storetrace live --type mount --type claim       # mounts, and who claims which block device
              storetrace live --comm kubelet --comm csi-node  # what the CSI path mounts
              storetrace live --type copy_file_range --type splice --type sendfile --min-latency 1ms
              storetrace live --type uevent --type kmsg --subsystem all
              storetrace live --json --duration 30s > events.jsonl
              storetrace live --ops                           # each mount, new API or classic, as one line
              storetrace live --type copy_file_range --summary  # copies with device, read-ahead, MiB/s; summary at the end
            """
    )

    @Flag(name: .long, help: "Only mount operations: the mount family's calls put together into one mount_op line each, in mount(8)'s words (the same as --type mount_op; without it they show after their calls).")
    var ops = false

    @OptionGroup var filters: FilterOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var trace: TraceOptions

    func run() throws {
        var config = LiveConfiguration()
        config.filter = filters.filter
        if ops { config.filter.kernelTypes.insert(.mountOperation) }
        config.format = output.json ? .json : .text
        config.color = output.useColor(fd: STDOUT_FILENO)
        config.kubeletRoot = output.kubeletRoot?.path
        trace.apply(to: &config)
        notePerfBufferSize(config.tracer)
        do {
            let summary = try LiveSession(configuration: config).run()
            if let storage = summary.storage { printSummary(storage, clock: summary.clock, json: config.format == .json) }
        } catch {
            fail(error.description)
        }
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
