import Glibc
import StoretraceAnalyze
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import StoretraceRender

/// How `storetrace top` shows itself (`LiveConfiguration.dashboard`).
public struct DashboardOptions: Sendable {
    public var inputFD: Int32 = STDIN_FILENO
    public var outputFD: Int32 = STDOUT_FILENO
    /// Full screen on a terminal; false prints a plain snapshot of the
    /// screen each interval (and one at the end), for a pipe or a file.
    public var interactive = true
    /// Colors (`--color`, NO_COLOR); without them bold stands for a color.
    public var color = true
    /// The size of a plain snapshot.
    public var snapshotColumns = 120
    public var snapshotRows = 40
    public init() {}
}

/// `storetrace top` inside a live session: the model fed by the pipeline
/// (`DashboardFeed`), drawn from the loop's one-second timer (never per
/// event), on keys, and on SIGWINCH (from the loop's signalfd). On a
/// terminal it diffs each frame against the last one sent; the terminal is
/// restored by `restoreTerminal`, which the session calls as the loop ends,
/// whatever stopped it (q, Ctrl-C, SIGTERM, --duration, an error), before
/// anything else is printed.
final class LiveDashboard {
    let options: DashboardOptions
    let feed: DashboardFeed
    private var state = DashboardViewState()
    /// The model as it was when `p` paused the screen.
    private var frozen: DashboardModel?
    private let terminal: Terminal?
    /// What the terminal shows now; nil draws everything again.
    private var shown: Screen?
    private let stop: (StopReason) -> Void
    /// The errno of a failed write to the output (EPIPE: the reader went away).
    private(set) var outputFailure: Int32?
    private var sourceKinds: [SourceKind] = []

    init(options: DashboardOptions, feed: DashboardFeed, stop: @escaping (StopReason) -> Void) {
        self.options = options
        self.feed = feed
        self.stop = stop
        terminal = options.interactive ? Terminal(input: options.inputFD, output: options.outputFD) : nil
        var names = utsname()
        if uname(&names) == 0 {
            feed.model.header.node = withUnsafeBytes(of: names.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            feed.model.header.kernel = withUnsafeBytes(of: names.sysname) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                + " " + withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
    }

    /// The sources whose events per second the header shows.
    func showRates(of kinds: [SourceKind]) {
        sourceKinds = []
        for kind in kinds where !sourceKinds.contains(kind) { sourceKinds.append(kind) }
        feed.model.header.sources = sourceKinds.map { DashboardModel.SourceRate(name: $0 == .queueSetting ? "queue" : $0.name) }
    }

    /// Right before the loop runs: the alternate screen, raw keys, the first frame.
    func start(loop: EventLoop, at now: UInt64) throws(KernelError) {
        feed.model.header.startedAt = now
        feed.model.header.now = now
        guard let terminal else { return }
        try terminal.enter()
        if let input = terminal.inputFD {
            try loop.add(fd: input) { [unowned self, unowned loop] in self.keysReady(loop: loop, input: input) }
        }
        draw()
    }

    /// The loop's one-second timer: the rates of the last second, then a frame.
    func tick(at now: UInt64, counts: PipelineCounts, losses: [LossCount]) {
        update(at: now, counts: counts, losses: losses)
        if terminal != nil {
            if !state.paused { draw() }
        } else {
            snapshot()
        }
    }

    private func update(at now: UInt64, counts: PipelineCounts, losses: [LossCount]) {
        feed.model.tick(at: now, sourceTotals: sourceKinds.map { counts.bySource[$0.index] },
                        shownTotal: counts.shown, filteredTotal: counts.filteredOut,
                        lost: losses.lostEvents, lossDetail: losses.describeNonZero(information: false))
        feed.view.utcOffsetSeconds = TextRenderer.localUTCOffset()
    }

    /// SIGWINCH: everything again, at the new size.
    func resized() {
        shown = nil
        draw()
    }

    private func keysReady(loop: EventLoop, input: Int32) {
        guard let bytes = terminal?.readInput() else {
            loop.remove(fd: input) // the terminal's input ended: no more keys
            return
        }
        var changed = false
        let size = terminal?.size ?? (options.snapshotColumns, options.snapshotRows)
        for key in DashboardKey.decode(bytes) {
            let model = frozen ?? feed.model
            let maxScroll = feed.view.scrollLimit(model, state: state, width: size.columns, height: size.rows)
            switch state.handle(key, failures: feed.view.failureOrder(model, state: state), maxScroll: maxScroll) {
            case .none:
                continue
            case .redraw:
                if state.paused && frozen == nil { frozen = feed.model }
                if !state.paused { frozen = nil }
                changed = true
            case .quit:
                stop(.quitKey)
                return
            case .interrupt:
                stop(.signal(SIGINT))
                return
            }
        }
        if changed { draw() }
    }

    private func draw() {
        guard let terminal, outputFailure == nil else { return }
        let size = terminal.size ?? (options.snapshotColumns, options.snapshotRows)
        let screen = feed.view.draw(frozen ?? feed.model, state: state, width: size.columns, height: size.rows)
        if let failure = terminal.write(screen.ansiUpdate(from: shown, color: options.color)) {
            fail(failure)
            return
        }
        shown = screen
    }

    /// Not a terminal: the screen as plain text, its empty rows at the end left out.
    private func snapshot() {
        guard outputFailure == nil else { return }
        let screen = feed.view.draw(feed.model, state: state, width: options.snapshotColumns, height: options.snapshotRows)
        var text = screen.text()
        while text.hasSuffix("\n\n") { text.removeLast() }
        let sink = OutputSink(fd: options.outputFD)
        sink.withBuffer { $0.append(string: text + "\n") }
        sink.flush()
        if let failure = sink.failure { fail(failure) }
    }

    private func fail(_ errno: Int32) {
        outputFailure = errno
        stop(errno == EPIPE ? .closedOutput : .outputError)
    }

    /// The terminal as it was: right after the loop, before the session
    /// detaches (anything it says goes to the normal screen), and on a path
    /// that throws. Idempotent.
    func restoreTerminal() { terminal?.leave() }

    /// Not on a terminal: the last snapshot, with every event counted.
    func finish(at now: UInt64, counts: PipelineCounts, losses: [LossCount]) {
        guard terminal == nil else { return }
        update(at: now, counts: counts, losses: losses)
        snapshot()
    }

    /// The notices the session printed at start: what the kernel refused.
    func noteRefusal(_ notice: String) {
        feed.model.header.refusals.append(notice)
    }
}
