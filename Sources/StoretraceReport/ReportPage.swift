import Glibc
import StoretraceAnalyze
import StoretraceCapture
import StoretraceDecode
import StoretraceRender
import StoretraceSession

/// Writes the report: one HTML file with its style and script inline and
/// nothing fetched (its Content-Security-Policy allows nothing but its own
/// style and script, by hash), in the order an engineer on call reads it:
/// the node, the findings, the timeline, copy throughput, the snapshot.
/// Everything from the capture is HTML-escaped on its way in.
struct ReportPage {
    let collector: ReportCollector
    /// The node when recording started (the first file's start snapshot).
    let snapshot: NodeSnapshot?
    /// Wall time of the page's monotonic stamps (the first file's clock).
    let clock: ClockOffset
    /// Each capture file, as `info` describes it.
    let captures: [(path: String, summary: CaptureSummary)]
    let replay: ReplaySummary
    /// The command line, shown in the page (escaped).
    let command: String
    let limits: ReportLimits

    func write(into out: inout OutputBuffer) {
        let host = snapshot?.hostname.map(SnapshotRenderer.printable) ?? "an unnamed node"
        let scale = collector.isEmpty ? nil : TimeScale(first: collector.first, last: collector.last)
        out.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        out.append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src '")
        out.append(ReportAssets.styleHash)
        out.append("'; script-src '")
        out.append(ReportAssets.scriptHash)
        out.append("'\">")
        out.append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        out.append("<meta name=\"generator\" content=\"storetrace report\">")
        out.append("<link rel=\"icon\" href=\"data:,\"><title>storetrace report: ")
        out.appendHTML(rendered: host)
        if let scale {
            out.append(", ")
            out.appendHTML(rendered: wall(scale.origin))
        }
        out.append("</title><style>")
        out.append(ReportAssets.style)
        out.append("</style></head>\n<body>\n<header><h1>Storage incident on ")
        out.appendHTML(rendered: host)
        out.append("</h1><p class=\"sub\">")
        if let scale {
            out.appendHTML(rendered: wall(scale.origin) + " to " + wall(scale.origin &+ scale.span)
                           + " (" + Self.duration(scale.span) + "); times are UTC")
        } else {
            out.append("no events")
        }
        out.append(" · <a href=\"#node\">node</a> · <a href=\"#findings\">findings</a> · <a href=\"#timeline\">timeline</a>")
        out.append(" · <a href=\"#copies\">copies</a> · <a href=\"#snapshot\">snapshot</a></p></header>\n")
        writeNode(into: &out)
        writeFindings(scale: scale, into: &out)
        writeTimeline(scale: scale, into: &out)
        writeCopies(scale: scale, into: &out)
        writeSnapshot(into: &out)
        out.append("<footer>Made by <code>")
        out.appendHTML(raw: command)
        out.append("</code>. One file, nothing fetched: it can be attached to a ticket as it is.</footer>\n<script>")
        out.append(ReportAssets.script)
        out.append("</script>\n</body></html>\n")
    }

    // MARK: Node

    private func writeNode(into out: inout OutputBuffer) {
        // Short facts three to a row, then the long ones each on its own.
        var short: [(String, String)] = []
        var long: [(String, String)] = []
        if let snapshot {
            short.append(("host", snapshot.hostname.map(SnapshotRenderer.printable) ?? "-"))
            short.append(("kernel", snapshot.kernelRelease.map { "Linux " + SnapshotRenderer.printable($0) } ?? "-"))
            short.append(("CPUs", snapshot.onlineCPUs.map { String($0) } ?? "-"))
            short.append(("boot id", snapshot.bootID.map(SnapshotRenderer.printable) ?? "-"))
            if let sync = snapshot.clockSync {
                short.append(("clock", sync.synchronized ? "synchronized (NTP)" : "not synchronized (the kernel said so)"))
            }
        } else {
            short.append(("host", "unknown: the capture holds no node snapshot"))
        }
        short.append(("drops", dropsText()))
        for (path, summary) in captures {
            var line = SnapshotRenderer.printable(path) + ", format \(summary.header.majorVersion).\(summary.header.minorVersion), created "
                + TimeText.rfc3339(epochNanoseconds: Int64(bitPattern: summary.header.creationRealtimeNs))
            if let (first, last) = summary.span {
                line += ", records for " + Self.duration(last - first)
            }
            line += "; " + SnapshotRenderer.printable(summary.tail.description)
            if let note = summary.trailer?.note, !note.isEmpty { line += "; " + SnapshotRenderer.printable(note) }
            long.append(("capture", line))
            for corruption in summary.corruptions {
                long.append(("damaged", SnapshotRenderer.printable(path + ": " + corruption.description) + "; skipped"))
            }
        }
        // Records by type, all files together.
        var counts: [(String, UInt64)] = []
        for (_, summary) in captures {
            for (type, count) in summary.countsByType {
                if let at = counts.firstIndex(where: { $0.0 == type }) { counts[at].1 += count } else { counts.append((type, count)) }
            }
        }
        let pipeline = replay.counts
        var shown = "\(pipeline.shown) events"
        if pipeline.derivedShown > 0 { shown += " and \(pipeline.derivedShown) derived (mount operations, mount health)" }
        shown += " of \(pipeline.received) read"
        if pipeline.filteredOut > 0 { shown += "; \(pipeline.filteredOut) left out by the filters" }
        if pipeline.malformed > 0 { shown += "; \(pipeline.malformed) malformed records skipped" }
        if pipeline.schemaMissing > 0 { shown += "; \(pipeline.schemaMissing) ftrace events without their format (schema missing)" }
        if replay.eventsWithoutTask > 0 { shown += "; \(replay.eventsWithoutTask) ftrace events without a known task" }
        if replay.skippedTypes > 0 { shown += "; \(replay.skippedTypes) records of types this storetrace does not know" }
        long.append(("in this report", shown))
        long.append(("sources", sourcesText(counts)))
        // What storetrace said as it started recording: why a source is missing.
        let notices = CaptureSummary.notices(of: captures.map(\.summary))
        if let missing = missingSourcesText(counts, saidAtStart: !notices.isEmpty) { long.append(("not recorded", missing)) }
        for notice in notices { long.append(("said at start", SnapshotRenderer.printable(notice))) }
        if let snapshot, let omitted = SnapshotRenderer.omissions(snapshot.omitted) {
            long.append(("snapshot omitted", omitted))
        }
        out.append("<section id=\"node\"><h2>Node</h2><table class=\"kv\">")
        func cell(_ key: String, _ value: String, span: Int = 1) {
            out.append("<th>")
            out.appendHTML(rendered: key)
            out.append(string: span > 1 ? "</th><td colspan=\"\(span)\">" : "</th><td>")
            out.appendHTML(rendered: value)
            out.append("</td>")
        }
        for row in stride(from: 0, to: short.count, by: 3) {
            out.append("<tr>")
            for (key, value) in short[row..<min(row + 3, short.count)] { cell(key, value) }
            out.append("</tr>")
        }
        for (key, value) in long {
            out.append("<tr>")
            cell(key, value, span: 5)
            out.append("</tr>")
        }
        out.append("</table></section>\n")
    }

    /// The loss counters of the files' trailers, summed.
    private func dropsText() -> String {
        var drops: [(String, UInt64)] = []
        var unclosed: [String] = []
        for (path, summary) in captures {
            guard let trailer = summary.trailer else {
                unclosed.append(path)
                continue
            }
            for drop in trailer.drops where drop.count > 0 {
                if let at = drops.firstIndex(where: { $0.0 == drop.source }) { drops[at].1 += drop.count } else { drops.append((drop.source, drop.count)) }
            }
        }
        var text = drops.isEmpty ? "none" : drops.map { "\($0.1) " + SnapshotRenderer.printable($0.0) }.joined(separator: ", ")
        if !unclosed.isEmpty {
            text += "; unknown for " + unclosed.map(SnapshotRenderer.printable).joined(separator: ", ") + " (not closed cleanly: its trailer with the counts is missing)"
        }
        return text
    }

    /// What the capture holds from each source.
    private func sourcesText(_ counts: [(String, UInt64)]) -> String {
        var parts: [String] = []
        for (name, label) in Self.sources {
            let total = counts.filter { $0.0.hasPrefix(name + " ") }.reduce(0) { $0 + $1.1 }
            if total > 0 { parts.append(label + " \(total)") }
        }
        let tracepoints = ftraceFormats().filter { !Self.functionFormats.contains($0.name) }
        if !tracepoints.isEmpty {
            parts.append("tracepoints traced: " + tracepoints.map { SnapshotRenderer.printable($0.system + ":" + $0.name) }.joined(separator: ", "))
        }
        return parts.isEmpty ? "none" : parts.joined(separator: "; ")
    }

    /// The sources with no record in the capture, and what that means: a
    /// capture does not say which sources the kernel refused, only what it holds.
    private func missingSourcesText(_ counts: [(String, UInt64)], saidAtStart: Bool) -> String? {
        var parts: [String] = []
        func has(_ type: String) -> Bool { counts.contains { $0.0.hasPrefix(type + " ") && $0.1 > 0 } }
        if !has("storetrace.syscall") { parts.append("no syscall events") }
        if !has("storetrace.uevent") { parts.append("no uevents") }
        if !has("storetrace.kmsg") { parts.append("no kernel log lines") }
        if !ftraceFormats().contains(where: { Self.functionFormats.contains($0.name) }) {
            parts.append("no function tracer events (driver binding: bind_store, nvme_probe…; bind and unbind show as uevents only)")
        }
        if !has("storetrace.claim") { parts.append("no block-device claims (holders come from the /proc scan alone)") }
        if !has("storetrace.queue_setting") { parts.append("no queue setting changes") }
        guard !parts.isEmpty else { return nil }
        // Captures record what storetrace said at start (the kernel's refusals)
        // since 2026-12-07; before, only `doctor` on the node could tell.
        return parts.joined(separator: "; ") + (saidAtStart
            ? " (what the kernel refused is said below; a source not named there was off)"
            : " (this capture does not say why: the kernel refused it or it was off; `storetrace doctor` on the node says which)")
    }

    static let sources: [(String, String)] = [
        ("storetrace.syscall", "syscalls"), ("storetrace.uevent", "uevents"), ("storetrace.kmsg", "kernel log lines"),
        ("storetrace.ftrace", "ftrace events"), ("storetrace.claim", "claims"), ("storetrace.holders", "holder scans"),
        ("storetrace.queue_setting", "queue setting changes"),
    ]
    /// The ftrace formats of the function tracers (`function`, `function_graph`).
    static let functionFormats: Set<String> = ["function", "funcgraph_entry", "funcgraph_exit"]

    private func ftraceFormats() -> [(system: String, name: String)] {
        collector.printer.decoder.ftraceCatalog?.events ?? []
    }

    // MARK: Findings

    private func writeFindings(scale: TimeScale?, into out: inout OutputBuffer) {
        let findings = collector.findings
        out.append("<section id=\"findings\"><h2>Findings</h2>")
        if findings.list.isEmpty {
            out.append("<p class=\"none\">No failed call, kernel error, unhealthy mount or setting change among the events shown.</p>")
        }
        let periods = replay.storage?.periodsByDevice ?? []
        for kind in Finding.Kind.allCases {
            let list = findings.list.indices.filter { findings.list[$0].kind == kind }
            guard !list.isEmpty else { continue }
            out.append("<h3>")
            out.append(string: kind.heading)
            out.append(" <span class=\"count\">")
            out.appendDecimal(list.count)
            out.append("</span></h3>")
            for index in list {
                var finding = findings.list[index]
                if kind == .settingChange, let about = collector.settingFindings.first(where: { $0.finding == index }) {
                    finding.explanations += copiesAround(about.change, periods: periods)
                }
                writeFinding(finding, id: "f\(index)", scale: scale, into: &out)
            }
        }
        if findings.notListed > 0 {
            let distinct = "\(findings.distinctNotListed)" + (findings.distinctNotListed >= UInt64(4 * limits.findings) ? " or more" : "")
            Self.note("\(findings.notListed) more occurrences of \(distinct) other findings are not listed (the report lists \(limits.findings)); they are on the timeline, in red where they failed.", into: &out)
        }
        out.append("</section>\n")
    }

    private func writeFinding(_ finding: Finding, id: String, scale: TimeScale?, into out: inout OutputBuffer) {
        out.append("<article class=\"finding ")
        out.append(finding.kind == .failure || finding.kind == .unhealthyMount ? "bad" : finding.kind == .settingChange ? "chg" : "warn")
        out.append("\" id=\"")
        out.append(string: id)
        out.append("\"><pre>")
        finding.text.withUnsafeBytes { out.appendHTML(rendered: $0) }
        out.append("</pre>")
        for explanation in finding.explanations {
            out.append("<pre class=\"why\">")
            explanation.withUnsafeBytes { out.appendHTML(rendered: $0) }
            out.append("</pre>")
        }
        out.append("<p class=\"where\">")
        if finding.count > 1 {
            out.append("×")
            out.appendDecimal(finding.count)
            out.append(", ")
            out.appendHTML(rendered: timeOfDay(finding.first) + " to " + timeOfDay(finding.last) + " · ")
        }
        let lane = collector.lanes[finding.place.lane]
        out.append("<a href=\"#")
        out.append(string: lane.elementID(finding.place))
        out.append("\">on the timeline")
        if let scale {
            out.append(" at ")
            out.append(string: TimeScale.offsetText(UInt64(max(0, scale.offset(finding.place.time))), step: 1000))
        }
        out.append(", lane ")
        lane.label.withUnsafeBytes { out.appendHTML(raw: $0) }
        out.append("</a></p></article>")
    }

    /// A read_ahead_kb change explained by the copies on the disk (or its
    /// partitions) with the value before and with the value after: the
    /// summary's periods (`StorageSummary`), one line each.
    private func copiesAround(_ change: QueueSettingChange, periods: [[StorageSummary.CopyPeriod]]) -> [[UInt8]] {
        guard change.setting == .readAheadKB else { return [] }
        let disk = BlockDevicesInForce.key(change.major, change.minor)
        let devices = collector.printer.enrichment?.devices
        var lines: [[UInt8]] = []
        for case let value? in [change.oldNumber, change.newNumber] {
            for period in periods.joined() where period.readAheadKB == value {
                let key = devices?.device(major: period.major, minor: period.minor)?.diskKey
                    ?? BlockDevicesInForce.key(period.major, period.minor)
                guard key == disk else { continue }
                var out = OutputBuffer(capacity: 128)
                out.append("  ↳ copies on ")
                if let name = period.device { name.withUnsafeBytes { out.appendPrintable($0) } } else { out.append("?") }
                out.append(" with read_ahead_kb ")
                if let value = period.readAheadKB { out.appendDecimal(value) } else { out.append("unknown") }
                out.append(": ")
                out.appendDecimal(period.calls)
                out.append(period.calls == 1 ? " call, " : " calls, ")
                out.append(string: SnapshotRenderer.humanSize(period.bytes))
                out.append(", ")
                out.appendThroughput(bytes: period.bytes, nanoseconds: period.latency.sum)
                lines.append(out.bytes)
            }
        }
        return lines
    }

    // MARK: Timeline

    static let axisHeight = 24.0
    static let laneHeight = 18.0
    static let barHeight = 12.0

    private func writeTimeline(scale: TimeScale?, into out: inout OutputBuffer) {
        out.append("<section id=\"timeline\"><h2>Timeline</h2>")
        guard let scale else {
            out.append("<p class=\"none\">No events to draw.</p></section>\n")
            return
        }
        let lanes = collector.lanes.filter { $0.events > 0 }
        out.append("<p class=\"legend\"><span class=\"key call\"></span>call <span class=\"key copy\"></span>copy ")
        out.append("<span class=\"key fail\"></span>failed <span class=\"key dev\"></span>device event ")
        out.append("<span class=\"key log\"></span>kernel log <span class=\"key chg\"></span>setting change ")
        out.append("<span class=\"key agg\"></span>events added up per time bucket</p>")
        out.append("<p class=\"tools\">Drag across a chart to zoom in; hover a mark for its line. ")
        out.append("<button type=\"button\" id=\"zoom-out\">Zoom out</button> <button type=\"button\" id=\"zoom-reset\">Whole span</button> ")
        out.append("<span id=\"view\">")
        out.appendHTML(rendered: "+0 s to " + TimeScale.offsetText(scale.span, step: 1000) + " after " + wall(scale.origin))
        out.append("</span></p>")
        let height = Self.axisHeight + Double(lanes.count) * Self.laneHeight + 4
        scale.appendSVGStart(id: "tl", height: height, label: "timeline: a lane per process, device events and the kernel log", into: &out)
        for row in lanes.indices {
            let y = Self.axisHeight + Double(row) * Self.laneHeight
            out.append(row % 2 == 1 ? "<rect class=\"row odd\" x=\"0\"" : "<rect class=\"row\" x=\"0\"")
            out.attribute("y", y)
            out.attribute("width", TimeScale.width)
            out.attribute("height", Self.laneHeight)
            out.append("/>")
        }
        scale.appendAxis(top: Self.axisHeight - 6, bottom: height - 4, labelY: 14, into: &out)
        for (row, lane) in lanes.enumerated() {
            let y = Self.axisHeight + Double(row) * Self.laneHeight
            writeLaneLabel(lane, y: y, into: &out)
        }
        out.append("<g clip-path=\"url(#tl-clip)\">")
        for (row, lane) in lanes.enumerated() {
            let y = Self.axisHeight + Double(row) * Self.laneHeight + (Self.laneHeight - Self.barHeight) / 2
            if let buckets = lane.buckets {
                writeBuckets(buckets, lane: lane, y: y, scale: scale, into: &out)
            } else {
                for (index, mark) in lane.marks.enumerated() {
                    openBar(id: "m\(lane.index)-\(index)", class: mark.style.cssClass.description, y: y, height: Self.barHeight,
                            start: mark.start, duration: mark.duration, scale: scale, into: &out)
                    mark.title.withUnsafeBytes { out.appendHTML(rendered: $0) }
                    out.append("</title></rect>")
                }
            }
        }
        out.append("</g><rect class=\"sel\" x=\"0\" y=\"0\" width=\"0\"")
        out.attribute("height", height)
        out.append(" visibility=\"hidden\"/></svg>")
        writeTimelineNotes(lanes, into: &out)
        out.append("</section>\n")
    }

    /// `<rect id class="z …" y height x width data-t data-d><title>`: a
    /// mark, bucket or bar that moves with the zoom; its title follows.
    private func openBar(id: String?, class style: String, y: Double, height: Double, start: UInt64, duration: UInt64,
                         scale: TimeScale, into out: inout OutputBuffer) {
        out.append(string: "<rect" + (id.map { " id=\"" + $0 + "\"" } ?? "") + " class=\"z " + style + "\"")
        out.attribute("y", y)
        out.attribute("height", height)
        scale.appendPlace(start: start, duration: duration, into: &out)
        out.append("><title>")
    }

    private func writeLaneLabel(_ lane: Lane, y: Double, into out: inout OutputBuffer) {
        out.append(lane.failures > 0 ? "<text class=\"lane bad\"" : "<text class=\"lane\"")
        out.attribute("x", TimeScale.plotX - 6)
        out.attribute("y", y + 13)
        out.append("><title>")
        lane.label.withUnsafeBytes { out.appendHTML(raw: $0) }
        if let detail = lane.detail {
            out.append(" ")
            detail.withUnsafeBytes { out.appendHTML(rendered: $0) }
        }
        out.append(": ")
        out.appendDecimal(lane.events)
        out.append(lane.events == 1 ? " event" : " events")
        if lane.failures > 0 {
            out.append(", ")
            out.appendDecimal(lane.failures)
            out.append(" failed")
        }
        if lane.kind == .otherProcesses {
            out.append(", from ")
            out.appendDecimal(lane.processes)
            out.append(lane.processes >= ReportCollector.sharedPIDLimit ? " or more processes" : " processes")
        }
        if let buckets = lane.buckets {
            out.append("; drawn as ")
            out.appendDecimal(buckets.slots.count)
            out.append(" buckets of ")
            out.append(string: Self.duration(buckets.width))
        }
        out.append("</title>")
        // Long names are cut for the column; the title has them whole.
        var label = lane.label
        if label.count > 28 { label = ReportCollector.cut(label, to: 27) }
        label.withUnsafeBytes { out.appendHTML(raw: $0) }
        if lane.isAggregated { out.append(" Σ") }
        out.append("</text>")
    }

    /// A lane past its budget: one bar per bucket that has events, its
    /// height by the count (log scale), red if any failed.
    private func writeBuckets(_ buckets: TimeBuckets<Tally>, lane: Lane, y: Double, scale: TimeScale, into out: inout OutputBuffer) {
        let most = buckets.slots.map(\.events).max() ?? 1
        for (index, tally) in buckets.slots.enumerated() where tally.events > 0 {
            let height = most <= 1 ? Self.barHeight
                : 3 + (Self.barHeight - 3) * log(Double(tally.events)) / log(Double(most))
            let start = buckets.start(of: index)
            openBar(id: "b\(lane.index)-\(index)", class: tally.failed > 0 ? "agg fail" : "agg", y: y + Self.barHeight - height,
                    height: height, start: start, duration: buckets.width, scale: scale, into: &out)
            out.appendDecimal(tally.events)
            out.append(tally.events == 1 ? " event" : " events")
            out.appendHTML(rendered: " from " + timeOfDay(start) + " to " + timeOfDay(start &+ buckets.width))
            if tally.failed > 0 {
                out.append(", ")
                out.appendDecimal(tally.failed)
                out.append(" failed; the first:\n")
                tally.firstFailure?.withUnsafeBytes { out.appendHTML(rendered: $0) }
            }
            out.append("</title></rect>")
        }
    }

    /// What the page says about what it drew otherwise than one by one.
    private func writeTimelineNotes(_ lanes: [Lane], into out: inout OutputBuffer) {
        var notes: [String] = []
        let aggregated = lanes.filter(\.isAggregated)
        if !aggregated.isEmpty {
            let names = aggregated.map { lane in
                // A process name: escaped like any other (`note` takes text that is).
                escapedForTerminal(String(decoding: ReportCollector.cut(lane.label, to: 60), as: UTF8.self)) + " (\(lane.events) events)"
            }
            notes.append("Lanes with more than \(limits.marksPerLane) events are drawn as counts per time bucket (Σ), the height by the count, red where any failed; hover a bucket for its count and first failure: "
                         + names.joined(separator: ", ") + ". `storetrace replay` with --since and --until shows every line.")
        }
        if let shared = lanes.first(where: { $0.kind == .otherProcesses }) {
            notes.append("Processes after the first \(limits.processLanes) with storage calls share the lane \"other processes\" (\(shared.processes)\(shared.processes >= ReportCollector.sharedPIDLimit ? " or more" : "") processes, \(shared.events) events).")
        }
        for note in notes { Self.note(note, into: &out) }
    }

    // MARK: Copies

    static let chartHeight = 132.0
    static let chartTop = 24.0
    static let chartBottom = 112.0

    private func writeCopies(scale: TimeScale?, into out: inout OutputBuffer) {
        let copies = collector.copies
        out.append("<section id=\"copies\"><h2>Copy throughput and read_ahead_kb</h2>")
        guard let scale, !copies.devices.isEmpty else {
            out.append("<p class=\"none\">No copy (copy_file_range, splice, sendfile) moved data on a block device among the events shown.</p>")
            writeCopyNotes(into: &out)
            out.append("</section>\n")
            return
        }
        out.append("<p>Per block device of the copy's input file: bytes over the time of the calls that moved data (MiB/s, as the copy lines and <code>storetrace summary</code> measure it), per time bucket; the line is the disk's read_ahead_kb in force (the snapshot's, then each change).</p>")
        let periods = replay.storage?.periodsByDevice ?? []
        for (index, device) in copies.devices.enumerated() {
            writeCopyChart(device, id: "copy\(index)", steps: copies.steps[device.diskKey] ?? [], scale: scale, into: &out)
            let own = periods.first { $0.first?.major == device.major && $0.first?.minor == device.minor } ?? []
            if !own.isEmpty {
                var rows: [[String]] = []
                for period in own {
                    var cells = OutputBuffer(capacity: 64)
                    cells.appendThroughput(bytes: period.bytes, nanoseconds: period.latency.sum)
                    let row = [period.readAheadKB.map { String($0) } ?? "unknown", timeOfDay(period.first), timeOfDay(period.last),
                               "\(period.calls)", SnapshotRenderer.humanSize(period.bytes), String(decoding: cells.bytes, as: UTF8.self)]
                    rows.append(row)
                }
                writeTable(["read_ahead_kb", "from", "to", "calls", "bytes", "throughput"], rows, into: &out)
            }
        }
        writeCopyNotes(into: &out)
        out.append("</section>\n")
    }

    private func writeCopyChart(_ device: CopyCharts.Device, id: String, steps: [CopyCharts.Step], scale: TimeScale,
                                into out: inout OutputBuffer) {
        var name = OutputBuffer(capacity: 64)
        device.name.withUnsafeBytes { name.appendPrintable($0) }
        let label = String(decoding: name.bytes, as: UTF8.self) + " (\(device.major):\(device.minor))"
        let rates = device.buckets.slots.map { Throughput.mebibytesPerSecond(bytes: $0.bytes, nanoseconds: $0.nanoseconds) ?? 0 }
        let top = max(rates.max() ?? 0, 0.1)
        let readAheads = steps.compactMap(\.readAheadKB)
        let readAheadTop = Double(max(readAheads.max() ?? 1, 1))
        let plot = Self.chartBottom - Self.chartTop
        scale.appendSVGStart(id: id, height: Self.chartHeight, label: "copy throughput on " + label, into: &out)
        scale.appendAxis(top: Self.chartTop, bottom: Self.chartBottom, labelY: Self.chartBottom + 14, into: &out)
        // The device at the left, the throughput scale beside the plot.
        for (y, text, style) in [((Self.chartTop + Self.chartBottom) / 2 + 4, label, "lane"),
                                 (Self.chartTop + 8, Self.rate(top), "yl"), (Self.chartBottom, "0 MiB/s", "yl")] {
            out.append(string: "<text class=\"" + style + "\"")
            out.attribute("x", TimeScale.plotX - 6)
            out.attribute("y", y)
            out.append(">")
            out.appendHTML(rendered: text)
            out.append("</text>")
        }
        out.append(string: "<g clip-path=\"url(#" + id + "-clip)\">")
        for (index, tally) in device.buckets.slots.enumerated() where tally.calls > 0 {
            let rate = rates[index]
            let height = max(1, plot * rate / top)
            let start = device.buckets.start(of: index)
            openBar(id: nil, class: "bar", y: Self.chartBottom - height, height: height, start: start,
                    duration: device.buckets.width, scale: scale, into: &out)
            var text = OutputBuffer(capacity: 128)
            text.appendDecimal(tally.calls)
            text.append(tally.calls == 1 ? " copy, " : " copies, ")
            text.append(string: SnapshotRenderer.humanSize(tally.bytes))
            text.append(", ")
            text.appendThroughput(bytes: tally.bytes, nanoseconds: tally.nanoseconds)
            text.append(string: " from " + timeOfDay(start) + " to " + timeOfDay(start &+ device.buckets.width))
            text.withUnsafeBytes { out.appendHTML(rendered: $0) }
            out.append("</title></rect>")
        }
        // The read-ahead as steps: each value until the next change (or the end).
        let end = scale.origin &+ scale.span
        for (index, step) in steps.enumerated() {
            guard let value = step.readAheadKB else { continue }
            let from = max(step.time, scale.origin)
            let to = index + 1 < steps.count ? steps[index + 1].time : end
            guard to >= from else { continue }
            let y = Self.chartBottom - plot * Double(value) / readAheadTop
            openBar(id: nil, class: "ra", y: y - 1, height: 2, start: from, duration: to - from, scale: scale, into: &out)
            out.appendHTML(rendered: "read_ahead_kb \(value) from " + (step.time <= scale.origin ? "the start" : timeOfDay(step.time)))
            // Its value, at the step's left (the script keeps it in view).
            out.append("</title></rect><text class=\"z ral\"")
            out.attribute("y", max(y - 4, Self.chartTop - 6))
            out.attribute("x", scale.x(from) + 3)
            out.attribute("data-t", decimal: scale.offset(from))
            out.attribute("data-d", decimal: to - from)
            out.append(" data-dx=\"3\">read_ahead_kb ")
            out.appendDecimal(value)
            out.append("</text>")
        }
        out.append("</g></svg>")
    }

    private func writeCopyNotes(into out: inout OutputBuffer) {
        let copies = collector.copies
        var notes: [String] = []
        if copies.copiesWithoutDevice > 0 {
            notes.append("\(copies.copiesWithoutDevice) copies on files without a block device (tmpfs, pipes, sockets) are not charted.")
        }
        if copies.copiesOverLimit > 0 {
            notes.append("\(copies.copiesOverLimit) copies on devices past the first \(limits.copyDevices) are not charted.")
        }
        if copies.stepsLeftOut > 0 {
            notes.append("\(copies.stepsLeftOut) read_ahead_kb changes past \(limits.settingSteps) per disk are not drawn.")
        }
        for note in notes { Self.note(note, into: &out) }
    }

    // MARK: Snapshot

    private func writeSnapshot(into out: inout OutputBuffer) {
        out.append("<section id=\"snapshot\"><h2>Node snapshot</h2>")
        guard let snapshot else {
            out.append("<p class=\"none\">The capture holds no node snapshot.</p></section>\n")
            return
        }
        out.append("<p>Taken ")
        out.appendHTML(rendered: TimeText.rfc3339(epochNanoseconds: snapshot.takenAt.realtimeNanoseconds))
        out.append(" when recording started (<code>storetrace info --snapshot</code> prints it as text).</p>")
        var rowsLeft = limits.snapshotRows
        var rowsNotShown = 0
        out.append("<h3>Mounts by mount namespace</h3>")
        for namespace in snapshot.mountNamespaces {
            let members = snapshot.processes.filter { $0.mountNamespace == namespace.inode }
            let pods = Self.pods(of: members)
            out.append(namespace.isHost ? "<details open><summary>" : "<details><summary>")
            out.appendHTML(rendered: SnapshotRenderer.namespaceTitle(namespace))
            for pod in pods {
                out.append(" <span class=\"pod\">")
                out.appendHTML(rendered: pod)
                out.append("</span>")
            }
            out.append("</summary>")
            if !namespace.isHost && !members.isEmpty {
                let shown = members.prefix(max(0, rowsLeft))
                rowsLeft -= shown.count
                rowsNotShown += members.count - shown.count
                writeTable(SnapshotRenderer.processColumns, shown.map(SnapshotRenderer.processRow), into: &out)
            }
            if let mounts = namespace.mounts {
                let shown = mounts.prefix(max(0, rowsLeft))
                rowsLeft -= shown.count
                rowsNotShown += mounts.count - shown.count
                // What kubelet paths say (pod, volume, driver), where any mount has one.
                let kubelet = shown.map { kubernetes(mountPoint: $0.mountPoint) }
                if kubelet.contains(where: { !$0.isEmpty }) {
                    writeTable(SnapshotRenderer.mountColumns + ["KUBERNETES"],
                               zip(shown, kubelet).map { SnapshotRenderer.mountRow($0) + [$1] }, into: &out)
                } else {
                    writeTable(SnapshotRenderer.mountColumns, shown.map(SnapshotRenderer.mountRow), into: &out)
                }
                if namespace.mountsOverLimit > 0 {
                    Self.note("\(namespace.mountsOverLimit) more mounts were past the snapshot's limit and not recorded.", into: &out)
                }
            } else {
                Self.note("Mount table unreadable: no process in it would give /proc/PID/mountinfo.", into: &out)
            }
            out.append("</details>")
        }
        if rowsNotShown > 0 {
            Self.note("\(rowsNotShown) more rows of processes and mounts are not shown (the report shows \(limits.snapshotRows)); `storetrace info --snapshot` lists them all.", into: &out)
        }
        out.append("<h3>Block devices</h3>")
        if snapshot.blockDevices.isEmpty {
            out.append("<p class=\"none\">none</p>")
        } else {
            writeTable(SnapshotRenderer.blockDeviceColumns, snapshot.blockDevices.map(SnapshotRenderer.blockDeviceRow), into: &out)
        }
        out.append("<h3>PCI storage functions</h3>")
        if snapshot.pciFunctions.isEmpty {
            out.append("<p class=\"none\">none</p>")
        } else {
            writeTable(SnapshotRenderer.pciColumns, snapshot.pciFunctions.map(SnapshotRenderer.pciRow), into: &out)
        }
        out.append("</section>\n")
    }

    /// What a kubelet path says of a mount point ("pod-publish pod 7f3e1c2a… vol pvc-demo"), as call lines say it.
    private func kubernetes(mountPoint: String) -> String {
        var path = mountPoint
        let text = collector.printer.text
        return path.withUTF8 { bytes -> String in
            guard let kubelet = KubeletPath.read(UnsafeRawBufferPointer(bytes), under: text.kubeletRoot) else { return "" }
            var out = OutputBuffer(capacity: 128)
            text.appendKubelet(kubelet, into: &out)
            return String(decoding: ReportCollector.trimmed(out.bytes), as: UTF8.self)
        }
    }

    /// The pods of a namespace's processes, from their cgroups, as call lines name them.
    static func pods(of processes: [NodeSnapshot.ProcessEntry]) -> [String] {
        var seen = Set<PodCgroup>()
        var names: [String] = []
        let renderer = TextRenderer(color: false, utcOffsetSeconds: 0, clock: ClockOffset(realtimeMinusMonotonic: 0))
        for process in processes {
            guard let pod = process.pod, seen.insert(pod).inserted else { continue }
            var out = OutputBuffer(capacity: 96)
            renderer.appendPod(pod, into: &out)
            names.append(String(decoding: ReportCollector.trimmed(out.bytes), as: UTF8.self))
        }
        return names
    }

    /// A note on what the page shows otherwise than one by one, or not at
    /// all (text the report words, names in it escaped already).
    static func note(_ text: String, into out: inout OutputBuffer) {
        out.append("<p class=\"note\">")
        out.appendHTML(rendered: text)
        out.append("</p>")
    }

    /// Cells already escaped for a terminal (`SnapshotRenderer`), HTML-escaped.
    private func writeTable(_ header: [String], _ rows: [[String]], into out: inout OutputBuffer) {
        out.append("<table class=\"grid\">")
        writeRow(header, cell: "th", into: &out)
        for row in rows { writeRow(row, into: &out) }
        out.append("</table>")
    }

    private func writeRow(_ row: [String], cell: String = "td", into out: inout OutputBuffer) {
        out.append("<tr>")
        for text in row {
            out.append(string: "<" + cell + ">")
            out.appendHTML(rendered: text)
            out.append(string: "</" + cell + ">")
        }
        out.append("</tr>")
    }

    // MARK: Time

    /// "2026-12-01 18:58:04.697717 UTC".
    func wall(_ monotonic: UInt64) -> String {
        let text = TimeText.rfc3339(epochNanoseconds: clock.wallNanoseconds(monotonic: monotonic))
        // 2026-12-01T18:58:04.697717043Z → microseconds, a space, UTC.
        let date = text.prefix(10), time = text.dropFirst(11).prefix(15)
        return date + " " + time + " UTC"
    }

    /// "18:58:04.697717" UTC, as the text lines show it.
    func timeOfDay(_ monotonic: UInt64) -> String {
        var out = OutputBuffer(capacity: 16)
        out.appendTimeOfDay(epochNanoseconds: clock.wallNanoseconds(monotonic: monotonic), utcOffsetSeconds: 0)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// "3.18 s", "412 ms", "27.0 µs".
    static func duration(_ nanoseconds: UInt64) -> String {
        var out = OutputBuffer(capacity: 16)
        let renderer = TextRenderer(color: false, utcOffsetSeconds: 0, clock: ClockOffset(realtimeMinusMonotonic: 0))
        renderer.appendLatency(nanoseconds, into: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// "372.0 MiB/s" for a chart's scale.
    static func rate(_ mebibytesPerSecond: Double) -> String {
        let tenths = Int64((mebibytesPerSecond * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) MiB/s"
    }
}
