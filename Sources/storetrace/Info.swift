import ArgumentParser
import Glibc
import StoretraceAnalyze
import StoretraceDecode
import StoretraceRender
import StoretraceSession

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe a capture: host, time span, counts by type, drops, node snapshot.",
        discussion: "Reads the whole capture once (flat memory). Several files, or a directory of them (a `record --rotate` ring), are described as one capture, each file on a line of its own, in the order of their starts; drops are summed over the files' trailers. 'said at start' lines are what record said as it started (a source the kernel refused, a call it could not trace), each once. Captures of several nodes (or boots) first get a line per node: host, boot id, clock offset (wall minus monotonic, from the capture's clock sample), whether the kernel called its clock synchronized, and the span of its events; then one line on whether the nodes' clocks can be compared, or why not (no clock sample, an offset that moved during the recording, an unsynchronized clock, spans that do not overlap). --snapshot prints the node snapshot in full: mounts per namespace (the initial one marked host, the others with the processes in them), block devices, PCI bindings; --snapshot --json the same as JSON."
    )

    @Argument(help: ArgumentHelp("Capture files, or directories of them, of one node or several.", valueName: "file"))
    var files: [String]

    @Flag(name: .long, help: "Print the whole node snapshot (the one taken at the start; --end for the last one).")
    var snapshot = false

    @Flag(name: .long, help: "With --snapshot: the snapshot taken when recording stopped.")
    var end = false

    @Flag(name: .long, help: "With --snapshot: print the snapshot as JSON (docs/snapshot.md), one process or mount per line.")
    var json = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("give a capture file (or a directory of them)") }
        if json && !snapshot { throw ValidationError("--json goes with --snapshot") }
    }

    func run() throws {
        let paths: [String]
        var summaries: [CaptureSummary] = []
        do {
            paths = try CaptureSet.paths(files)
            for path in paths { summaries.append(try CaptureSummary(path: path)) }
        } catch {
            fail(error.description)
        }
        if snapshot {
            let chosen = end ? summaries.last!.snapshots.last : summaries.first!.snapshots.first
            guard let chosen else { fail("\(end ? paths.last! : paths[0]): holds no node snapshot") }
            print(json ? chosen.jsonText(.lines) : SnapshotRenderer.render(chosen), terminator: json ? "\n" : "")
            return
        }
        let streams: [CaptureStream]
        do {
            streams = paths.count > 1 ? try CaptureSet.streams(files: paths) : [CaptureStream(node: CaptureNode(hostname: nil, bootID: nil), label: "", paths: paths)]
        } catch {
            fail(error.description)
        }
        let byPath = Dictionary(zip(paths, summaries), uniquingKeysWith: { first, _ in first })
        if streams.count > 1 {
            describe(NodeClocks(streams: streams, summaries: streams.map { $0.paths.compactMap { byPath[$0] } }))
        }
        if summaries.count == 1 {
            describe(paths[0], summaries[0])
        } else {
            describe(paths, summaries)
        }
        for stream in streams {
            let files = stream.paths.compactMap { byPath[$0] }
            let named = streams.count > 1 ? " (\(stream.label))" : ""
            // Every mount that was unhealthy: the analyzer replay runs, over the node's whole capture.
            let unhealthy: [MountHealth]
            do {
                unhealthy = try CaptureHealth.unhealthyMounts(paths: stream.paths)
            } catch {
                fail(error.description)
            }
            let clock = files[0].clock
            print("")
            if unhealthy.isEmpty {
                print(escapedForTerminal("unhealthy mounts\(named)  none"))
            } else {
                print(escapedForTerminal("unhealthy mounts\(named)  \(unhealthy.count)"))
                for health in unhealthy {
                    print(escapedForTerminal("  " + health.summaryText + " (from "
                                             + Self.wall(clock.wallNanoseconds(monotonic: health.firstProblem)) + ")"))
                }
            }
            if let snapshot = files[0].snapshots.first {
                print("")
                print(SnapshotRenderer.summary(snapshot), terminator: "")
            } else {
                print(escapedForTerminal("snapshot\(named)  none"))
            }
        }
    }

    /// Captures of several nodes: one line per node (host, boot, clock,
    /// span), then whether their clocks can be compared.
    private func describe(_ clocks: NodeClocks) {
        var lines: [(String, String)] = [("nodes", "\(clocks.nodes.count), merged by wall-clock time in replay")]
        for node in clocks.nodes {
            var parts: [String] = []
            parts.append("boot " + (node.node.bootID ?? "unknown"))
            if let offset = node.offset {
                parts.append("clock offset \(Self.signedSeconds(offset)) (monotonic zero at \(Self.wall(offset)))")
            } else {
                parts.append("no clock sample")
            }
            if let sync = node.clockSync {
                parts.append(sync.synchronized
                    ? "clock synchronized" + (sync.maxErrorMicroseconds.map { ", max error \(Self.seconds(UInt64(max(0, $0)) * 1000, digits: 3))" } ?? "")
                    : "clock not synchronized")
            } else {
                parts.append("clock synchronization not recorded")
            }
            if let (first, last) = node.span {
                parts.append(Self.wall(first) + " to " + Self.wall(last) + " (\(Self.seconds(UInt64(last - first))))")
            } else {
                parts.append("no events")
            }
            parts.append(node.files == 1 ? "1 file" : "\(node.files) files")
            lines.append(("  " + node.label, parts.joined(separator: ", ")))
        }
        lines.append(("clocks", clocks.doubts.isEmpty
            ? "comparable as far as the captures say (synchronized, offsets steady within \(NodeClocks.steadyWithin / 1_000_000) ms, spans overlap)"
            : "warning: " + clocks.doubts.joined(separator: "; ")))
        Self.printAligned(lines)
        print("")
    }

    /// `+1765069200.123456789s`: wall minus monotonic.
    static func signedSeconds(_ nanoseconds: Int64) -> String {
        let magnitude = nanoseconds.magnitude
        let fraction = String(magnitude % 1_000_000_000)
        return (nanoseconds < 0 ? "-" : "+") + "\(magnitude / 1_000_000_000)." + String(repeating: "0", count: 9 - fraction.count) + fraction + "s"
    }

    /// Several files of one node: one line each, then what they hold together.
    private func describe(_ paths: [String], _ summaries: [CaptureSummary]) {
        var lines: [(String, String)] = [("capture", "\(paths.count) files")]
        var first: Int64?, last: Int64?
        var counts: [(String, UInt64)] = []
        var drops: [(String, UInt64)] = []
        var unclosed: [String] = []
        for (path, summary) in zip(paths, summaries) {
            var line = "format \(summary.header.majorVersion).\(summary.header.minorVersion)"
            if summary.compressedChunks > 0 { line += " (zstd, \(Self.ratio(summary.recordBytes, summary.storedBytes)))" }
            line += ", "
            if let (start, end) = summary.span {
                let from = summary.clock.wallNanoseconds(monotonic: start), to = summary.clock.wallNanoseconds(monotonic: end)
                first = min(first ?? from, from)
                last = max(last ?? to, to)
                line += Self.wall(from) + " to " + Self.wall(to) + " (\(Self.seconds(end - start)))"
            } else {
                line += "no events"
            }
            let events = summary.countsByType.reduce(0) { $0 + $1.count }
            line += ", \(events) records; " + summary.tail.description
            lines.append(("  " + path, line))
            for (type, count) in summary.countsByType {
                if let i = counts.firstIndex(where: { $0.0 == type }) { counts[i].1 += count } else { counts.append((type, count)) }
            }
            if let trailer = summary.trailer {
                for drop in trailer.drops {
                    if let i = drops.firstIndex(where: { $0.0 == drop.source }) { drops[i].1 += drop.count } else { drops.append((drop.source, drop.count)) }
                }
            } else {
                unclosed.append(path)
            }
            for corruption in summary.corruptions { lines.append(("  damaged", path + ": " + corruption.description)) }
        }
        if let first, let last {
            lines.append(("events", Self.wall(first) + " to " + Self.wall(last) + " (\(Self.seconds(UInt64(last - first))))"))
        } else {
            lines.append(("events", "none"))
        }
        for (type, count) in counts { lines.append(("  " + type, "\(count)")) }
        let lost = drops.filter { $0.1 > 0 }
        var dropText = lost.isEmpty ? "none" : lost.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
        if !unclosed.isEmpty { dropText += "; unknown for \(unclosed.joined(separator: ", ")) (not closed cleanly)" }
        lines.append(("drops", dropText))
        for notice in CaptureSummary.notices(of: summaries) { lines.append(("said at start", notice)) }
        Self.printAligned(lines)
    }

    private func describe(_ file: String, _ summary: CaptureSummary) {
        let header = summary.header
        var lines: [(String, String)] = []
        lines.append(("capture", "\(file), format \(header.majorVersion).\(header.minorVersion)"))
        lines.append(("compression", Self.compression(summary)))
        lines.append(("created", Self.wall(Int64(bitPattern: header.creationRealtimeNs))))
        if let (first, last) = summary.span {
            lines.append(("events", Self.wall(summary.clock.wallNanoseconds(monotonic: first)) + " to "
                          + Self.wall(summary.clock.wallNanoseconds(monotonic: last)) + " (\(Self.seconds(last - first)))"))
        } else {
            lines.append(("events", "none"))
        }
        for (type, count) in summary.countsByType { lines.append(("  " + type, "\(count)")) }
        for (type, skipped) in summary.skippedByType {
            lines.append(("  skipped type \(type)", "\(skipped) records of a type this storetrace does not know"))
        }
        if let trailer = summary.trailer {
            let lost = trailer.drops.filter { $0.count > 0 }
            lines.append(("drops", lost.isEmpty ? "none" : lost.map { "\($0.count) \($0.source)" }.joined(separator: ", ")))
            if !trailer.note.isEmpty { lines.append(("note", trailer.note)) }
        } else {
            lines.append(("drops", "unknown: the capture was not closed cleanly"))
        }
        lines.append(("end", summary.tail.description))
        for corruption in summary.corruptions { lines.append(("damaged", corruption.description)) }
        for notice in summary.notices { lines.append(("said at start", notice)) }
        Self.printAligned(lines)
    }

    /// "zstd, 312 of 312 chunks: 216198160 bytes of records in 7012344 (30.83×)";
    /// "none: 51744 bytes of records" for a file with no compressed chunk.
    static func compression(_ summary: CaptureSummary) -> String {
        let records = "\(summary.recordBytes) bytes of records"
        guard summary.compressedChunks > 0 else { return "none: " + records }
        return "zstd, \(summary.compressedChunks) of \(summary.chunks) chunks: \(records) in \(summary.storedBytes) ("
            + ratio(summary.recordBytes, summary.storedBytes) + ")"
    }

    /// `30.83×`: records over what they were stored in, two decimals.
    static func ratio(_ records: UInt64, _ stored: UInt64) -> String {
        guard stored > 0 else { return "-" }
        let hundredths = (records * 100 + stored / 2) / stored
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)×"
    }

    /// Names, notes and file names come from the capture: escaped.
    static func printAligned(_ lines: [(String, String)]) {
        let escaped = lines.map { (escapedForTerminal($0.0), escapedForTerminal($0.1)) }
        let width = escaped.map(\.0.count).max() ?? 0
        for (key, value) in escaped { print(key + String(repeating: " ", count: width - key.count + 2) + value) }
    }

    static func wall(_ epochNanoseconds: Int64) -> String {
        TimeText.rfc3339(epochNanoseconds: epochNanoseconds)
    }

    static func seconds(_ nanoseconds: UInt64) -> String {
        let tenths = nanoseconds / 100_000_000
        return "\(tenths / 10).\(tenths % 10)s"
    }

    /// With `digits` decimals: 0.016s.
    static func seconds(_ nanoseconds: UInt64, digits: Int) -> String {
        var scale: UInt64 = 1_000_000_000
        for _ in 0..<digits { scale /= 10 }
        let units = nanoseconds / scale
        var divisor: UInt64 = 1
        for _ in 0..<digits { divisor *= 10 }
        let fraction = String(units % divisor)
        return "\(units / divisor)." + String(repeating: "0", count: digits - fraction.count) + fraction + "s"
    }
}
