import ArgumentParser
import Glibc
import StoretraceKernel
import StoretraceRender
import StoretraceSession

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "A live dashboard of the node's storage: failures and who holds them, mounts, copies, devices.",
        discussion: """
            A full screen that refreshes about once a second, from the same events as `live` \
            (its filters apply): a header with the node, the kernel, how long tracing has run, \
            events per second by source, events lost (red when any) and what the kernel \
            refused; failed calls deduplicated with a count, newest first, each with its \
            explanation (who held the target when a umount2, mount, rmdir or unlinkat failed \
            with EBUSY, or the unhealthy mount it is on); mount activity per pod or mount \
            namespace (mounts, umounts and failures per second); copies per block device \
            (calls/s, MiB/s, p99 latency, read_ahead_kb, highlighted when it changed); \
            unhealthy mounts, uevents and queue setting changes; the last kernel errors.

            Keys: q quit, p pause, f filter by text, s sort (newest, count, name), \
            Up/Down select a failure, Enter its holders and last calls, Esc back, ? help. \
            q, Ctrl-C and SIGTERM detach everything, restore the terminal and print the \
            summary line, as `live` does. When standard output is not a terminal, a plain \
            snapshot of the screen is printed each second (and one at the end) instead.

            Examples:
              storetrace top
              storetrace top --comm kubelet --comm csi-node      # what the CSI path does
              storetrace top --record incident.stcap            # record while watching
              storetrace top --duration 10s | tail -40          # the last snapshot
            """
    )

    @Option(name: .long, help: ArgumentHelp("Also record every event into this capture file, as `record -o FILE` does (mode 0600; replaced only with --force).", valueName: "file"))
    var record: String?

    @Flag(name: .long, help: "With --record: replace the file if it exists.")
    var force = false

    @Option(name: .long, help: ArgumentHelp("The size of the plain snapshots printed when standard output is not a terminal, COLUMNSxROWS (default: 120x40; from 160 columns the failures take the whole width and the other panes stand in two columns).", valueName: "size"),
            transform: ScreenSizeValue.parse)
    var snapshotSize = ScreenSizeValue(columns: 120, rows: 40)

    @OptionGroup var filters: FilterOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var trace: TraceOptions

    func validate() throws {
        if force && record == nil { throw ValidationError("--force replaces the --record file; give --record FILE") }
        if trace.summary { throw ValidationError("--summary prints after `live` and `record`; `top` shows its own panes") }
        if output.json { throw ValidationError("`top` draws a screen; `live --json` prints the events as JSON lines") }
    }

    func run() throws {
        var config = LiveConfiguration()
        config.filter = filters.filter
        config.kubeletRoot = output.kubeletRoot?.path
        trace.apply(to: &config)
        notePerfBufferSize(config.tracer)
        var dashboard = DashboardOptions()
        dashboard.interactive = Terminal.isTerminal(STDOUT_FILENO)
        dashboard.color = output.useColor(fd: STDOUT_FILENO)
        dashboard.snapshotColumns = snapshotSize.columns
        dashboard.snapshotRows = snapshotSize.rows
        config.dashboard = dashboard
        if let record {
            var options = RecordOptions(path: record)
            options.overwrite = force
            config.record = options
        }
        do {
            _ = try LiveSession(configuration: config).run()
        } catch {
            fail(error.description)
        }
    }
}
