import StoretraceDecode
import StoretraceRender
import StoretraceSession

/// What `storetrace report` reads and how.
public struct ReportConfiguration: Sendable {
    /// The files of one node, read as one (`CaptureSet.paths`).
    public var paths: [String]
    /// The filters of `replay`, applied the same way.
    public var filter = EventFilter()
    public var since: TimeBound?
    public var until: TimeBound?
    public var kubeletRoot: String?
    public var limits = ReportLimits()
    /// How it was made, shown in the page's footer.
    public var command = "storetrace report"
    public init(paths: [String]) { self.paths = paths }
}

/// A report made: the page, and what the command says of it.
public struct IncidentReport {
    /// The whole HTML file.
    public let html: [UInt8]
    /// The replay behind it: counts, what was skipped, each file's end.
    public let replay: ReplaySummary
    public let findings: Int
    public let findingsNotListed: UInt64
    /// Lanes drawn, and of those, drawn as counts per time bucket.
    public let lanes: Int
    public let aggregatedLanes: Int

    /// Reads the captures twice, each pass with flat memory: once as `info`
    /// does (span, records by type, drops, snapshots), once through the
    /// `replay` pipeline with a `ReportCollector`; then writes the page.
    public static func make(_ configuration: ReportConfiguration) throws(SessionError) -> IncidentReport {
        var captures: [(path: String, summary: CaptureSummary)] = []
        for path in configuration.paths { captures.append((path, try CaptureSummary(path: path))) }
        var replay = ReplayConfiguration(paths: configuration.paths)
        replay.filter = configuration.filter
        replay.since = configuration.since
        replay.until = configuration.until
        replay.kubeletRoot = configuration.kubeletRoot
        replay.format = .text
        replay.color = false
        // The summary's copies per read-ahead period explain setting changes.
        replay.summary = true
        let snapshot = captures.first?.summary.snapshots.first
        let collector = ReportCollector(
            startDevices: snapshot.map { ($0.blockDevices, UInt64(clamping: $0.takenAt.monotonicNanoseconds)) },
            limits: configuration.limits)
        // The collector takes the printer's place: nothing is printed, and
        // mount operations and mount health are derived for it.
        let summary = try ReplaySession(configuration: replay, consumer: collector).run()
        guard collector.started else {
            throw .readCapture(path: configuration.paths[0], reason: "nothing was read")
        }
        let page = ReportPage(collector: collector, snapshot: snapshot, clock: captures.first?.summary.clock ?? summary.clock,
                              captures: captures, replay: summary, command: configuration.command, limits: configuration.limits)
        var out = OutputBuffer(capacity: 256 * 1024)
        page.write(into: &out)
        let lanes = collector.lanes.filter { $0.events > 0 }
        return IncidentReport(html: out.bytes, replay: summary, findings: collector.findings.list.count,
                              findingsNotListed: collector.findings.notListed, lanes: lanes.count,
                              aggregatedLanes: lanes.filter(\.isAggregated).count)
    }
}
