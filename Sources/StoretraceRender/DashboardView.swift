import StoretraceAnalyze
import StoretraceDecode

/// Draws `storetrace top`: a `DashboardModel` and what the viewer chose
/// (`DashboardViewState`) into a `Screen` of the terminal's size. Pure: the
/// same model, state and size give the same grid (the tests compare it
/// exactly at 80×24 and 200×50).
///
/// The main page, under a header of two or three rows and above a footer
/// row: failures, mount activity, copies, devices and kernel errors, one
/// pane under the other; from 160 columns on, failures across the width
/// (at most half the rows), then mount activity and copies on the left,
/// devices and kernel errors on the right. A pane gets its title row and
/// at least one row, the failures pane twice the share of the others of
/// what is left; rows that do not fit are counted on the pane's last row. Every
/// name from the node (paths, comms, pod ids, uevent fields, kernel log
/// text) goes through the terminal escaper before it reaches the grid.
public final class DashboardView {
    public var clock: ClockOffset {
        didSet { text.clock = clock }
    }
    public var utcOffsetSeconds: Int {
        didSet { text.utcOffsetSeconds = utcOffsetSeconds }
    }
    /// Renders the lines of the detail view, uevents and kernel log lines
    /// as `live` prints them (without color: the grid has its own styles).
    public let text: TextRenderer

    public init(clock: ClockOffset, utcOffsetSeconds: Int) {
        self.clock = clock
        self.utcOffsetSeconds = utcOffsetSeconds
        text = TextRenderer(color: false, utcOffsetSeconds: utcOffsetSeconds, clock: clock)
    }

    /// The smallest screen drawn; a smaller one says so.
    public static let minimumWidth = 40
    public static let minimumHeight = 10
    /// From this width on, the panes stand in two columns.
    public static let twoColumnWidth = 160

    struct Span {
        var text: String
        var style: Screen.Style

        init(_ text: String, _ style: Screen.Style = .plain) {
            self.text = text
            self.style = style
        }
    }

    typealias Row = [Span]

    struct Pane {
        var title: Row
        var rows: [Row]
        /// What an empty pane says.
        var empty: String
        /// The row drawn reversed (the selected failure).
        var selected: Int?
        /// Weight in sharing the rows left over.
        var weight = 1
    }

    // MARK: Lines for the model

    /// A uevent as the devices pane lists it: "add block loop3 dev=7:3 seq=1666 backing=/tmp/x.img".
    public func ueventLine(_ message: UeventMessage) -> String {
        line { text.appendUeventBody(message, into: &$0) }
    }

    /// A kernel log line as the errors pane lists it: "<3>err I/O error, dev loop1, ...".
    public func kmsgLine(_ record: KmsgRecord) -> String {
        line { text.appendKmsgBody(record, into: &$0) }
    }

    /// "queue_setting loop0 7:0 read_ahead_kb 4 -> 128".
    public func queueSettingLine(_ change: QueueSettingChange) -> String {
        line { text.appendQueueSettingBody(change, into: &$0) }
    }

    private func line(_ body: (inout OutputBuffer) -> Void) -> String {
        var out = OutputBuffer(capacity: 256)
        body(&out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    // MARK: Drawing

    public func draw(_ model: DashboardModel, state: DashboardViewState, width: Int, height: Int) -> Screen {
        var screen = Screen(width: width, height: height)
        guard width >= Self.minimumWidth, height >= Self.minimumHeight else {
            screen.put("storetrace top needs \(Self.minimumWidth)x\(Self.minimumHeight); this terminal is \(width)x\(height)",
                       row: 0, column: 0)
            return screen
        }
        var top = 0
        for row in header(model, state: state) {
            draw(row, on: &screen, row: top, column: 0, width: width)
            top += 1
        }
        let rows = height - top - 1
        var position: Row = []
        switch state.page {
        case .main:
            if width >= Self.twoColumnWidth {
                // Failures across the whole width (their explanations are
                // the long lines), at most half the rows; the rest in two columns.
                let failures = failuresPane(model, state: state, width: width)
                let failureRows = min(1 + max(1, failures.rows.count), max(2, rows / 2))
                drawPanes([failures], on: &screen, top: top, rows: failureRows, column: 0, width: width)
                let below = top + failureRows, left = (width - 1) / 2, right = width - left - 1
                drawPanes([activityPane(model, state: state, width: left), copiesPane(model, state: state, width: left)],
                          on: &screen, top: below, rows: rows - failureRows, column: 0, width: left)
                for row in below..<(top + rows) { screen.put("│", row: row, column: left, style: .dim) }
                drawPanes([devicesPane(model, state: state), kernelPane(model, state: state)],
                          on: &screen, top: below, rows: rows - failureRows, column: left + 1, width: right)
            } else {
                drawPanes([failuresPane(model, state: state, width: width), activityPane(model, state: state, width: width),
                           copiesPane(model, state: state, width: width), devicesPane(model, state: state), kernelPane(model, state: state)],
                          on: &screen, top: top, rows: rows, column: 0, width: width)
            }
        case .help, .failure:
            let lines = pageLines(model, state: state, width: width)
            let first = min(state.scroll, max(0, lines.count - rows))
            for (index, line) in lines.dropFirst(first).prefix(rows).enumerated() {
                draw(line, on: &screen, row: top + index, column: 0, width: width)
            }
            if lines.count > rows {
                position = [Span("lines \(first + 1)-\(min(lines.count, first + rows)) of \(lines.count)  ", .reverse)]
            }
        }
        draw(position + footer(state), on: &screen, row: height - 1, column: 0, width: width)
        return screen
    }

    /// The help or failure page, wrapped to `width`.
    func pageLines(_ model: DashboardModel, state: DashboardViewState, width: Int) -> [Row] {
        let rows: [Row]
        switch state.page {
        case .main: return []
        case .help: rows = helpRows(model)
        case .failure(let id):
            rows = model.failures[id].map { detailRows($0, model: model) }
                ?? [[Span("This failure is no longer kept (beyond \(model.limits.failures) kinds, the least recent are dropped). Esc: back.", .dim)]]
        }
        return rows.flatMap { Self.wrap($0, width: width) }
    }

    /// How far the page shown scrolls at this size (the keys stop there).
    public func scrollLimit(_ model: DashboardModel, state: DashboardViewState, width: Int, height: Int) -> Int {
        guard state.page != .main, width >= Self.minimumWidth, height >= Self.minimumHeight else { return 0 }
        let rows = height - header(model, state: state).count - 1
        return max(0, pageLines(model, state: state, width: width).count - rows)
    }

    /// The failures in the order the main page lists them, as filtered: what
    /// the selection keys move through.
    public func failureOrder(_ model: DashboardModel, state: DashboardViewState) -> [Int] {
        sortedFailures(model, sort: state.sort).filter { matches(failureRow($0, model: model, width: .max), state.filter) }.map(\.id)
    }

    private func draw(_ row: Row, on screen: inout Screen, row y: Int, column x: Int, width: Int) {
        var at = x
        for span in row {
            let left = x + width - at
            guard left > 0 else { break }
            at += screen.put(span.text, row: y, column: at, limit: left, style: span.style)
        }
    }

    // MARK: Header and footer

    func header(_ model: DashboardModel, state: DashboardViewState) -> [Row] {
        let header = model.header
        var first: Row = [Span("storetrace top", .bold), Span("  " + escapedForTerminal(header.node)),
                          Span("  " + escapedForTerminal(header.kernel)),
                          Span("  up " + Self.duration(header.now &- header.startedAt)), Span("  " + clockText(header.now))]
        if state.paused { first.append(Span("  PAUSED", Screen.Style(bold: true, reverse: true, color: .yellow))) }
        if let recording = header.recording { first.append(Span("  recording " + escapedForTerminal(recording), .dim)) }
        // Losses first: they must show at any width.
        var second: Row
        if header.lost > 0 {
            second = [Span("lost \(header.lost)" + (header.lossDetail.isEmpty ? "" : " (" + header.lossDetail + ")"),
                           Screen.Style(bold: true, reverse: true, color: .red))]
        } else {
            second = [Span("lost 0")]
        }
        if header.filtered > 0 { second.append(Span("  filtered out \(header.filtered)")) }
        second.append(Span("  events/s ", .bold))
        second.append(Span(Self.rate(header.shown.tenthsPerSecond)))
        for source in header.sources { second.append(Span("  " + source.name + " " + Self.rate(source.events.tenthsPerSecond), .dim)) }
        var rows = [first, second]
        if !header.refusals.isEmpty {
            rows.append([Span("refused: ", .color(.yellow, bold: true)),
                         Span(header.refusals.map(Self.refusalLabel).joined(separator: "; ") + " (? for details)", .color(.yellow))])
        }
        return rows
    }

    /// A refusal notice, short: up to its first ": " or " (" ("not tracing
    /// block-device claims", "function tracer").
    static func refusalLabel(_ notice: String) -> String {
        var cut = notice.endIndex
        if let colon = notice.firstRange(of: ": ") { cut = colon.lowerBound }
        if let parenthesis = notice.firstRange(of: " ("), parenthesis.lowerBound < cut { cut = parenthesis.lowerBound }
        return escapedForTerminal(String(notice[..<cut]))
    }

    func footer(_ state: DashboardViewState) -> Row {
        if let typed = state.prompt {
            return [Span("filter: ", .bold), Span(escapedForTerminal(typed) + "_"),
                    Span("   Enter applies, Esc cancels, empty shows all", .dim)]
        }
        var row: Row = [Span("sort: " + state.sort.label, .bold)]
        if !state.filter.isEmpty { row.append(Span("  filter: " + escapedForTerminal(state.filter), .color(.yellow, bold: true))) }
        switch state.page {
        case .main:
            row.append(Span("  q quit  ? help  ↑↓ Enter details  f filter  s sort  p pause", .dim))
        case .help, .failure:
            row.append(Span("  q quit  Esc back  ↑↓ PgUp PgDn scroll", .dim))
        }
        return row
    }

    // MARK: The panes

    private func drawPanes(_ panes: [Pane], on screen: inout Screen, top: Int, rows: Int, column: Int, width: Int) {
        var panes = panes
        var shares = Self.allocate(panes, rows: rows)
        while shares == nil, panes.count > 1 {
            panes.removeLast()
            shares = Self.allocate(panes, rows: rows)
        }
        guard let shares else { return }
        var y = top
        for (pane, share) in zip(panes, shares) {
            draw(pane.title, on: &screen, row: y, column: column, width: width)
            y += 1
            if pane.rows.isEmpty {
                screen.put(pane.empty, row: y, column: column + 2, limit: width - 2, style: .dim)
                y += share
                continue
            }
            for (index, row) in pane.rows.prefix(share).enumerated() {
                if index == share - 1, pane.rows.count > share {
                    screen.put("… \(pane.rows.count - share + 1) more (a taller terminal, f or s shows them)",
                               row: y, column: column + 2, limit: width - 2, style: .dim)
                } else {
                    draw(row, on: &screen, row: y, column: column, width: width)
                    if index == pane.selected { screen.restyle(row: y, columns: column..<(column + width)) { $0.reverse = true } }
                }
                y += 1
            }
            y += share - min(share, pane.rows.count)
        }
    }

    /// Content rows per pane: one each at least, then what is left shared
    /// in turns (a pane's weight is its rows per turn) while a pane has
    /// more to show. nil when not even a title and a row each fit.
    static func allocate(_ panes: [Pane], rows: Int) -> [Int]? {
        var shares = Array(repeating: 1, count: panes.count)
        var left = rows - 2 * panes.count
        guard left >= 0 else { return nil }
        var gave = true
        while left > 0 && gave {
            gave = false
            for (index, pane) in panes.enumerated() {
                for _ in 0..<pane.weight where left > 0 && shares[index] < pane.rows.count {
                    shares[index] += 1
                    left -= 1
                    gave = true
                }
            }
        }
        return shares
    }

    static func title(_ name: String, _ detail: String) -> Row {
        [Span(name, Screen.Style(bold: true, color: .cyan)), Span(detail, .dim)]
    }

    /// A pane's title with column headings right-aligned over the columns.
    static func title(_ name: String, _ detail: String, columns: [(String, Int)], width: Int) -> Row {
        let headings = columns.map { pad($0.0, $0.1) }.joined()
        let room = max(0, width - Screen.columns(of: headings))
        return [Span(fit(name + detail, room), Screen.Style(bold: true, color: .cyan)), Span(headings, .bold)]
    }

    // MARK: Failures

    func sortedFailures(_ model: DashboardModel, sort: DashboardViewState.Sort) -> [DashboardModel.Failure] {
        let all = Array(model.failures.values)
        switch sort {
        case .recent: return all.sorted { ($0.last, $0.id) > ($1.last, $1.id) }
        case .count: return all.sorted { ($0.count, $0.last, $0.id) > ($1.count, $1.last, $1.id) }
        case .name:
            return all.sorted {
                $0.subject.lexicographicallyPrecedes($1.subject) || ($0.subject == $1.subject && $0.id < $1.id)
            }
        }
    }

    func failuresPane(_ model: DashboardModel, state: DashboardViewState, width: Int) -> Pane {
        let shown = sortedFailures(model, sort: state.sort).filter { matches(failureRow($0, model: model, width: .max), state.filter) }
        var detail = "  " + SnapshotRenderer.plural(model.failures.count, "kind") + ", "
            + SnapshotRenderer.plural(Int(clamping: model.failedCalls), "failed call")
        if model.failuresDropped > 0 { detail += ", \(model.failuresDropped) kinds dropped (least recent)" }
        if shown.count < model.failures.count { detail += ", \(shown.count) match the filter" }
        let heading: String = switch state.sort {
        case .recent: "FAILURES newest first"
        case .count: "FAILURES most frequent first"
        case .name: "FAILURES by path"
        }
        return Pane(title: Self.title(heading, detail), rows: shown.map { failureRow($0, model: model, width: width) },
                    empty: model.failures.isEmpty ? "no failed calls" : "none match the filter",
                    selected: state.selected.flatMap { id in shown.firstIndex { $0.id == id } }, weight: 2)
    }

    /// "14:19:15 umount2 …/globalmount EBUSY ×12, held by pid 812 (sleep) in mnt:4026532178, cwd …".
    /// `width`: the pane's (`.max`: the whole path, for the filter).
    func failureRow(_ failure: DashboardModel.Failure, model: DashboardModel, width: Int) -> Row {
        let call = failure.kind.callName.description
        let errno = Self.errnoName(failure.errno) + (failure.count > 1 ? " ×\(failure.count)" : "")
        let subject = escaped(failure.subject)
        let explanation = self.explanation(failure, model: model)
        var row: Row = [Span(clockText(failure.last) + " ", .dim), Span(call, .bold)]
        if !subject.isEmpty {
            // The path's end says most (…/globalmount); the explanation gets the rest.
            let available = width == .max ? Int.max : width - 11 - call.count - errno.count
            let room = explanation == nil ? available : max(16, available / 2)
            row.append(Span(" " + Self.abbreviateLeft(subject, room)))
        }
        row.append(Span(" " + errno, .color(.red, bold: true)))
        if let explanation { row.append(explanation) }
        return row
    }

    /// The answer a failure has: who held its target (the scan after an
    /// EBUSY), or the unhealthy mount it is on.
    func explanation(_ failure: DashboardModel.Failure, model: DashboardModel) -> Span? {
        if let report = failure.holders {
            if report.targetGone { return Span(", unmounted before the scan: whatever held it let go", .dim) }
            guard let first = report.holders.first else { return Span(", nothing held it at the scan", .dim) }
            var holder = HolderRenderer.describe(first, in: report)
            if let pid = first.pid, let pod = failure.holderPods[pid] {
                // Right after who it is: the end of the line may not show.
                let who = "pid \(pid) (" + (first.comm.map(SnapshotRenderer.printable) ?? "?") + ")"
                holder = holder.hasPrefix(who) ? who + " [pod " + podShort(pod) + "]" + holder.dropFirst(who.count)
                    : holder + " [pod " + podShort(pod) + "]"
            }
            var text = ", held by " + holder
            if report.holders.count > 1 { text += " (+\(report.holders.count - 1) more)" }
            return Span(text, .color(.yellow))
        }
        if let health = model.unhealthyMount(explaining: failure) {
            return Span(", on an unhealthy mount: " + escapedForTerminal(health.deviceName) + " "
                        + health.causes.map(\.name).joined(separator: ", "), .color(.red))
        }
        return nil
    }

    // MARK: Mount activity

    static let activityColumns = [("mount/s", 8), ("umount/s", 9), ("fail/s", 7), ("mounts", 8), ("umounts", 8), ("failed", 7)]

    func activityPane(_ model: DashboardModel, state: DashboardViewState, width: Int) -> Pane {
        let rows = model.activity.values.map { ($0, callerName($0.caller, model: model)) }
        let sorted: [(DashboardModel.Activity, String)]
        func rate(_ row: DashboardModel.Activity) -> UInt64 { row.mounts.tenthsPerSecond + row.umounts.tenthsPerSecond + row.failures.tenthsPerSecond }
        func total(_ row: DashboardModel.Activity) -> UInt64 { row.mounts.total + row.umounts.total + row.failures.total }
        switch state.sort {
        case .recent: sorted = rows.sorted { (rate($0.0), total($0.0), $1.1) > (rate($1.0), total($1.0), $0.1) }
        case .count: sorted = rows.sorted { (total($0.0), $1.1) > (total($1.0), $0.1) }
        case .name: sorted = rows.sorted { $0.1 < $1.1 }
        }
        let columns = Self.activityColumns
        let nameWidth = max(8, width - columns.reduce(0) { $0 + $1.1 })
        var lines: [Row] = []
        for (row, name) in sorted {
            let values = [Self.rate(row.mounts.tenthsPerSecond), Self.rate(row.umounts.tenthsPerSecond),
                          Self.rate(row.failures.tenthsPerSecond), "\(row.mounts.total)", "\(row.umounts.total)", "\(row.failures.total)"]
            let cells = zip(values, columns).map { Self.pad($0.0, $0.1.1) }
            let line: Row = [Span(Self.fit(name, nameWidth)), Span(cells[0..<5].joined()),
                             Span(cells[5], row.failures.total > 0 ? .color(.red) : .plain)]
            if matches(line, state.filter) { lines.append(line) }
        }
        var detail = " by pod or mntns"
        if model.activityDropped > 0 { detail += ", \(model.activityDropped) dropped" }
        return Pane(title: Self.title("MOUNT ACTIVITY", detail, columns: columns, width: width), rows: lines,
                    empty: model.activity.isEmpty ? "no mount-family calls" : "none match the filter")
    }

    /// "pod 7f3e1c2a… besteffort", "host", "mnt:4026532178 (sleep[812])".
    func callerName(_ caller: DashboardModel.Caller, model: DashboardModel) -> String {
        switch caller {
        case .pod(let uid, let qos):
            return "pod " + escaped(Array(uid.prefix(8))) + (uid.count > 8 ? "…" : "") + " " + qos.name.description
        case .namespace(let inode):
            if inode == initialMountNamespaceInode { return "host" }
            guard let owner = model.namespaceOwners[inode] else { return "mnt:\(inode)" }
            return "mnt:\(inode) (" + escapedForTerminal(owner.comm) + "[\(owner.pid)])"
        }
    }

    func podShort(_ pod: PodCgroup) -> String {
        escaped(Array(pod.podUID.prefix(8))) + (pod.podUID.count > 8 ? "…" : "")
    }

    // MARK: Copies

    static let copyColumns = [("calls/s", 8), ("MiB/s", 8), ("p99", 8), ("calls", 8), ("failed", 7), ("read_ahead_kb", 16)]

    func copiesPane(_ model: DashboardModel, state: DashboardViewState, width: Int) -> Pane {
        let rows = model.copies.values.map { ($0, copyName($0)) }
        let sorted: [(DashboardModel.CopyDevice, String)]
        switch state.sort {
        case .recent:
            sorted = rows.sorted { ($0.0.bytes.tenthsPerSecond, $0.0.calls.tenthsPerSecond, $0.0.calls.total, $1.1)
                > ($1.0.bytes.tenthsPerSecond, $1.0.calls.tenthsPerSecond, $1.0.calls.total, $0.1) }
        case .count: sorted = rows.sorted { ($0.0.calls.total, $1.1) > ($1.0.calls.total, $0.1) }
        case .name: sorted = rows.sorted { $0.1 < $1.1 }
        }
        let columns = Self.copyColumns
        let nameWidth = max(8, width - columns.reduce(0) { $0 + $1.1 })
        var lines: [Row] = []
        for (copy, name) in sorted {
            let latency = copy.latency.histogram.percentile(99).map(latencyText) ?? "-"
            let values = [Self.rate(copy.calls.tenthsPerSecond), Self.rate(copy.bytes.tenthsPerSecond >> 20), latency,
                          "\(copy.calls.total)", "\(copy.failed)"]
            var line: Row = [Span(Self.fit(name, nameWidth)), Span(zip(values, columns).map { Self.pad($0.0, $0.1.1) }.joined())]
            let readAhead = copy.readAheadKB.map(String.init) ?? "-"
            if let change = model.readAheadChange(of: copy) {
                // Reversed: the setting behind a copy that got slower.
                let changed = readAhead + " (was " + (change.before.map(String.init) ?? "?") + ")"
                line.append(Span(String(repeating: " ", count: max(1, columns[5].1 - Screen.columns(of: changed)))))
                line.append(Span(changed, Screen.Style(bold: true, reverse: true, color: .yellow)))
            } else {
                line.append(Span(Self.pad(readAhead, columns[5].1)))
            }
            if matches(line, state.filter) { lines.append(line) }
        }
        var detail = " by block device"
        if model.copiesDropped > 0 { detail += ", \(model.copiesDropped) dropped" }
        return Pane(title: Self.title("COPIES", detail, columns: columns, width: width), rows: lines,
                    empty: model.copies.isEmpty ? "no copy_file_range, splice or sendfile calls" : "none match the filter")
    }

    /// "loop3 (7:3)", "no block device (0:45)".
    func copyName(_ copy: DashboardModel.CopyDevice) -> String {
        if let name = copy.name { return escaped(name) + " (\(copy.major):\(copy.minor))" }
        return copy.major == 0 ? "no block device (0:\(copy.minor))" : "\(copy.major):\(copy.minor)"
    }

    // MARK: Devices and kernel errors

    func devicesPane(_ model: DashboardModel, state: DashboardViewState) -> Pane {
        var lines: [Row] = []
        for health in model.unhealthy.reversed() {
            let line: Row = [Span("unhealthy ", .color(.red, bold: true)), Span(escapedForTerminal(health.summaryText), .color(.red))]
            if matches(line, state.filter) { lines.append(line) }
        }
        for event in model.deviceEvents.reversed() {
            let line: Row = [Span(clockText(event.timestamp) + " ", .dim), Span(event.text)]
            if matches(line, state.filter) { lines.append(line) }
        }
        var detail = "  " + SnapshotRenderer.plural(model.unhealthy.count, "unhealthy mount") + ", "
            + SnapshotRenderer.plural(Int(clamping: model.deviceEventCount), "uevent or setting change", "uevents and setting changes")
        if model.ueventChanges > 0 { detail += " (+\(model.ueventChanges) change uevents)" }
        if model.unhealthyDropped > 0 { detail += ", \(model.unhealthyDropped) unhealthy not listed" }
        return Pane(title: Self.title("DEVICES", detail), rows: lines,
                    empty: model.unhealthy.isEmpty && model.deviceEvents.isEmpty ? "no device events" : "none match the filter")
    }

    func kernelPane(_ model: DashboardModel, state: DashboardViewState) -> Pane {
        var lines: [Row] = []
        for error in model.kernelErrors.reversed() {
            let line: Row = [Span(clockText(error.timestamp) + " ", .dim), Span(error.text, .color(.red))]
            if matches(line, state.filter) { lines.append(line) }
        }
        return Pane(title: Self.title("KERNEL ERRORS", "  err and worse, \(model.kernelErrorCount) in all"), rows: lines,
                    empty: model.kernelErrors.isEmpty ? "no kernel errors" : "none match the filter")
    }

    // MARK: Pages

    func detailRows(_ failure: DashboardModel.Failure, model: DashboardModel) -> [Row] {
        var rows: [Row] = []
        let call = failure.kind.callName.description
        rows.append([Span("FAILURE ", Screen.Style(bold: true, color: .cyan)), Span(call + " ", .bold),
                     Span(Self.errnoName(failure.errno), .color(.red, bold: true)),
                     Span(" ×\(failure.count), first " + clockText(failure.first) + ", last " + clockText(failure.last))])
        if !failure.subject.isEmpty { rows.append([Span("  " + escaped(failure.subject))]) }
        rows.append([])
        if let report = failure.holders {
            let delay = HolderRenderer.milliseconds(report.scannedAtMonotonicNanoseconds - Int64(clamping: failure.holdersExplain))
            rows.append([Span("WHO HELD IT", Screen.Style(bold: true, color: .cyan)),
                         Span("  scan at " + clockText(UInt64(clamping: report.scannedAtMonotonicNanoseconds)) + ", " + delay + " after the call", .dim)])
            var out = OutputBuffer(capacity: 1024)
            HolderRenderer.renderText(report, clock: clock, explains: HolderRenderer.Explains(
                type: failure.kind.name.description, pid: 0, tid: 0, monotonicNanoseconds: failure.holdersExplain), into: &out)
            for line in String(decoding: out.bytes, as: UTF8.self).split(separator: "\n") {
                var row: Row = [Span(String(line), .color(.yellow))]
                if let holder = report.holders.first(where: { line.contains("pid \($0.pid ?? -1) (") }), let pid = holder.pid,
                   let pod = failure.holderPods[pid] {
                    row.append(Span(" [pod " + podShort(pod) + "]", .color(.yellow)))
                }
                rows.append(row)
            }
            rows.append([])
        } else if failure.errno == 16 {
            rows.append([Span("WHO HELD IT", Screen.Style(bold: true, color: .cyan)),
                         Span("  no scan (a scan runs after an EBUSY of umount2, mount, rmdir and unlinkat; at most 4 a second, 1 per target)", .dim)])
            rows.append([])
        }
        if let health = model.unhealthyMount(explaining: failure) {
            rows.append([Span("UNHEALTHY MOUNT", Screen.Style(bold: true, color: .cyan))])
            rows.append([Span("  " + escapedForTerminal(health.summaryText), .color(.red))])
            rows.append([])
        }
        rows.append([Span("LAST CALLS", Screen.Style(bold: true, color: .cyan)),
                     Span("  newest first, \(failure.recent.count) of \(failure.count), as `live` shows them", .dim)])
        for occurrence in failure.recent.reversed() {
            var out = OutputBuffer(capacity: 512)
            occurrence.record.withUnsafeBytes { bytes in
                if let record = try? SyscallRecord(validating: bytes) { text.render(record, pod: occurrence.pod, into: &out) }
            }
            rows.append([Span(String(decoding: out.bytes, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "")])
        }
        return rows
    }

    func helpRows(_ model: DashboardModel) -> [Row] {
        func heading(_ text: String) -> Row { [Span(text, Screen.Style(bold: true, color: .cyan))] }
        func key(_ keys: String, _ what: String) -> Row { [Span("  " + Self.pad(keys, 14, left: true), .bold), Span(what)] }
        var rows: [Row] = [
            heading("KEYS"),
            key("q  Ctrl-C", "quit: detach everything and restore the terminal (as SIGTERM does)"),
            key("p", "pause the screen; events are still counted, and shown again on p"),
            key("f", "filter the rows of every pane by text (any case); Enter applies, Esc cancels, empty shows all"),
            key("s", "sort: newest first, most frequent first (totals), by path or name"),
            key("↑ ↓  j k", "select a failure (also PgUp, PgDn, Home, End)"),
            key("Enter", "the selected failure: who held it, its unhealthy mount, its last calls"),
            key("Esc", "back to the panes"),
            key("?", "this help"),
            [],
            heading("PANES"),
            [Span("  FAILURES: failed calls with the same call, errno and path, ×count; after an EBUSY, who held the target (the holders scan); else the unhealthy mount it is on")],
            [Span("  MOUNT ACTIVITY: mount and move_mount that succeeded, umount2 that succeeded, and failed mount-family calls, per second over the last interval and in all, by the caller's pod or else its mount namespace")],
            [Span("  COPIES: copy_file_range, splice and sendfile by the block device of the input file: calls/s, MiB/s moved (per second of wall time), p99 latency of the calls that moved data over the last \(model.limits.latencyWindowSeconds) s, read_ahead_kb in force (reversed when it changed while tracing: was, the value before)")],
            [Span("  DEVICES: unhealthy mounts (device errors, removed, short or detached loop backing), uevents add/remove/bind/unbind (change ones counted), queue setting changes")],
            [Span("  KERNEL ERRORS: kernel log lines at err or worse")],
        ]
        if !model.header.refusals.isEmpty {
            rows.append([])
            rows.append(heading("AT START: WHAT THE KERNEL REFUSED, AND OTHER NOTICES"))
            for notice in model.header.refusals { rows.append([Span("  " + escapedForTerminal(notice), .color(.yellow))]) }
        }
        return rows
    }

    // MARK: Text

    /// Rows that hold the filter text (ASCII letters in any case).
    func matches(_ row: Row, _ filter: String) -> Bool {
        guard !filter.isEmpty else { return true }
        return row.map(\.text).joined().lowercased().contains(escapedForTerminal(filter).lowercased())
    }

    func escaped(_ bytes: [UInt8]) -> String {
        var out = OutputBuffer(capacity: bytes.count + 16)
        bytes.withUnsafeBytes { out.appendPrintable($0) }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// "14:19:15", local time.
    func clockText(_ monotonic: UInt64) -> String {
        var out = OutputBuffer(capacity: 32)
        out.appendTimeOfDay(epochNanoseconds: clock.wallNanoseconds(monotonic: monotonic), utcOffsetSeconds: utcOffsetSeconds)
        return String(String(decoding: out.bytes, as: UTF8.self).prefix(8))
    }

    func latencyText(_ nanoseconds: UInt64) -> String {
        var out = OutputBuffer(capacity: 16)
        text.appendLatency(nanoseconds, into: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// "1:02:03".
    static func duration(_ nanoseconds: UInt64) -> String {
        let seconds = nanoseconds / 1_000_000_000
        return "\(seconds / 3600):" + SnapshotRenderer.zeroPadded(Int(seconds / 60 % 60), 2) + ":" + SnapshotRenderer.zeroPadded(Int(seconds % 60), 2)
    }

    /// Tenths per second: "12.3", "0", or "12345" from 10000 on.
    static func rate(_ tenths: UInt64) -> String {
        tenths == 0 ? "0" : tenths >= 100_000 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }

    static func errnoName(_ errno: Int32) -> String { ErrnoNames.name(errno).map { "\($0)" } ?? "E\(errno)" }

    /// `text` in exactly `columns`: cut with "…", or padded with spaces
    /// (on the left for numbers, with `left: false`).
    static func fit(_ text: String, _ columns: Int) -> String {
        let glyphs = Screen.glyphs(of: text)
        let total = glyphs.reduce(0) { $0 + $1.columns }
        guard total > columns else { return text + String(repeating: " ", count: max(0, columns - total)) }
        var used = 0
        var kept = String.UnicodeScalarView()
        for glyph in glyphs {
            guard used + glyph.columns <= columns - 1 else { break }
            kept.append(glyph.scalar)
            used += glyph.columns
        }
        return String(kept) + "…" + String(repeating: " ", count: max(0, columns - 1 - used))
    }

    /// Right-aligned in `columns` (left-aligned with `left`).
    static func pad(_ text: String, _ columns: Int, left: Bool = false) -> String {
        let width = Screen.columns(of: text)
        guard width < columns else { return left ? text : " " + text }
        let padding = String(repeating: " ", count: columns - width)
        return left ? text + padding : padding + text
    }

    /// The end of `text` in at most `columns`: "…/globalmount", cut at a
    /// slash where one is in what is kept.
    static func abbreviateLeft(_ text: String, _ columns: Int) -> String {
        let glyphs = Screen.glyphs(of: text)
        guard glyphs.reduce(0, { $0 + $1.columns }) > columns else { return text }
        var kept: [Unicode.Scalar] = []
        var used = 0
        for glyph in glyphs.reversed() {
            guard used + glyph.columns <= columns - 1 else { break }
            kept.append(glyph.scalar)
            used += glyph.columns
        }
        kept.reverse()
        if let slash = kept.firstIndex(of: "/"), slash > 0, slash < kept.count - 1 { kept.removeFirst(slash) }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: kept)
        return "…" + String(view)
    }

    /// A row in lines of at most `width` columns; continuation lines
    /// indented by four spaces, broken at a space where one is near.
    static func wrap(_ row: Row, width: Int) -> [Row] {
        guard width > 8 else { return [row] }
        var lines: [Row] = [[]]
        var used = 0
        for span in row {
            var rest = Substring(span.text)
            while !rest.isEmpty {
                let room = width - used
                let columns = Screen.columns(of: String(rest))
                if columns <= room {
                    lines[lines.count - 1].append(Span(String(rest), span.style))
                    used += columns
                    break
                }
                // As many characters as fit, back to a space if one is in the last third.
                var cut = rest.startIndex
                var taken = 0
                while cut < rest.endIndex, taken + Screen.columns(of: String(rest[cut])) <= room {
                    taken += Screen.columns(of: String(rest[cut]))
                    cut = rest.index(after: cut)
                }
                if let space = rest[..<cut].lastIndex(of: " "), rest.distance(from: rest.startIndex, to: space) > room * 2 / 3 {
                    cut = rest.index(after: space)
                }
                if cut > rest.startIndex { lines[lines.count - 1].append(Span(String(rest[..<cut]), span.style)) }
                rest = rest[cut...]
                lines.append([Span("    ")])
                used = 4
            }
        }
        return lines
    }
}
