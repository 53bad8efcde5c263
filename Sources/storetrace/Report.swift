import ArgumentParser
import Glibc
import StoretraceDecode
import StoretraceReport
import StoretraceRender
import StoretraceSession

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a capture as one self-contained HTML page: findings, a timeline, copies, the node.",
        discussion: """
            The page reads like the incident: the node (host, kernel, span, drops, what the capture \
            does not hold), then the findings (each failed call with the holders of what it needed \
            and the mount operation it ended, kernel errors, unhealthy mounts, queue setting \
            changes with the copies before and after), each linked to its place on a timeline with \
            a lane per process that made storage calls and lanes for device events and the kernel \
            log, failures in red (hover a mark for its line, drag to zoom); then copy throughput \
            per device with read_ahead_kb beside it, and the node snapshot as tables (mounts per \
            mount namespace with their pods, block devices, PCI storage functions). The same \
            pipeline and filters as `replay`: each mark's text is the line replay prints, in UTC.

            One file: its style and script are inline and it loads nothing (its \
            Content-Security-Policy forbids it), so it opens in any browser and can be attached \
            to a ticket. Its size is bounded: a lane with more than 400 events is drawn as counts \
            per time bucket, processes past the first 40 share a lane, and the page says so. \
            Written to .NAME.tmp beside the output and renamed over it.

            Examples:
              storetrace report reattach.stcap -o incident.html
              storetrace report node7.stcap --since +30s --until +90s -o umount.html
              storetrace report /var/lib/storetrace --type umount -o umounts.html
            """
    )

    @Argument(help: ArgumentHelp("Capture files, or directories of them, of one node.", valueName: "file"))
    var files: [String]

    @Option(name: [.short, .long], help: ArgumentHelp("Where to write the page (default: the first capture's name with .html, in this directory).", valueName: "file"))
    var output: String?

    @OptionGroup var span: TimeSpanOptions
    @OptionGroup var filters: FilterOptions

    @Option(name: .long, help: ArgumentHelp("Kubelet's root directory (its --root-dir), if not /var/lib/kubelet: kubelet paths are read under it only.", valueName: "path"),
            transform: KubeletRootValue.parse)
    var kubeletRoot: KubeletRootValue?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give a capture file (or a directory of them)") }
        if output?.isEmpty == true { throw ValidationError("-o needs a file name") }
    }

    func run() throws {
        let paths: [String]
        do { paths = try CaptureSet.paths(files) } catch { fail(error.description) }
        var config = ReportConfiguration(paths: paths)
        config.filter = filters.filter
        config.since = span.since?.bound
        config.until = span.until?.bound
        config.kubeletRoot = kubeletRoot?.path
        config.command = (["storetrace"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let target = output ?? Self.defaultName(for: files[0])
        let report: IncidentReport
        do {
            report = try IncidentReport.make(config)
        } catch {
            fail(error.description)
        }
        for (file, tail, corruptions) in report.replay.files {
            for corruption in corruptions { note("\(file): skipped damaged data at \(corruption)") }
            if tail.hasPrefix("torn") || tail.hasPrefix("not closed") {
                note("\(file): \(tail); the report covers every complete chunk before it")
            }
        }
        let failure = report.html.withUnsafeBytes { AtomicFile.write($0, to: target) }
        if let failure {
            fail("cannot write \(target): " + (ErrnoNames.name(failure).map { "\($0)" } ?? "errno \(failure)")
                 + " (" + String(cString: strerror(failure)) + ")")
        }
        let counts = report.replay.counts
        var line = "wrote \(target) (\(SnapshotRenderer.humanSize(UInt64(report.html.count)))): "
        line += "\(report.findings) finding\(report.findings == 1 ? "" : "s")"
        if report.findingsNotListed > 0 { line += " (\(report.findingsNotListed) more occurrences not listed)" }
        line += ", \(report.lanes) lane\(report.lanes == 1 ? "" : "s")"
        if report.aggregatedLanes > 0 { line += " (\(report.aggregatedLanes) drawn as counts per time bucket)" }
        line += ", \(counts.shown) events of \(counts.received) read"
        if counts.filteredOut > 0 { line += ", \(counts.filteredOut) left out by the filters" }
        if counts.malformed > 0 { line += ", \(counts.malformed) malformed skipped" }
        note(line)
    }

    /// "attach.stcap" → "attach.html"; a directory (a ring) → its name.html.
    static func defaultName(for path: String) -> String {
        var name = path
        while name.count > 1 && name.hasSuffix("/") { name.removeLast() }
        if let slash = name.lastIndex(of: "/") { name = String(name[name.index(after: slash)...]) }
        if name.hasSuffix(".stcap") { name.removeLast(".stcap".count) }
        return (name.isEmpty || name == "/" ? "report" : name) + ".html"
    }
}
