import ArgumentParser
import Glibc
import StoretraceAnalyze
import StoretraceDecode
import StoretraceRender
import StoretraceSession

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a capture: host, time span, counts by type, drops, node snapshot.",
        discussion: "Reads the whole capture once (flat memory). Several files, or a directory of them (a `record --rotate` ring), are described as one capture, each file on a line of its own, in the order of their starts; drops are summed over the files' trailers. --snapshot prints the node snapshot in full: mounts per namespace (the initial one marked host, the others with the processes in them), block devices, PCI bindings; --snapshot --json the same as JSON."
    )

    @Argument(help: ArgumentHelp("Capture files, or directories of them, of one node.", valueName: "file"))
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
        if summaries.count == 1 {
            describe(paths[0], summaries[0])
        } else {
            describe(paths, summaries)
        }
        // Every mount that was unhealthy: the analyzer replay runs, over the whole capture.
        let unhealthy: [MountHealth]
        do {
            unhealthy = try CaptureHealth.unhealthyMounts(paths: paths)
        } catch {
            fail(error.description)
        }
        let clock = summaries[0].clock
        print("")
        if unhealthy.isEmpty {
            print("unhealthy mounts  none")
        } else {
            print("unhealthy mounts  \(unhealthy.count)")
            for health in unhealthy {
                print(escapedForTerminal("  " + health.summaryText + " (from "
                                         + Self.wall(clock.wallNanoseconds(monotonic: health.firstProblem)) + ")"))
            }
        }
        if let snapshot = summaries[0].snapshots.first {
            print("")
            print(SnapshotRenderer.summary(snapshot), terminator: "")
        } else {
            print("snapshot  none")
        }
    }

    /// Several files of one node: one line each, then what they hold together.
    private func describe(_ paths: [String], _ summaries: [CaptureSummary]) {
        var lines: [(String, String)] = [("capture", "\(paths.count) files")]
        var first: Int64?, last: Int64?
        var counts: [(String, UInt64)] = []
        var drops: [(String, UInt64)] = []
        var unclosed: [String] = []
        for (path, summary) in zip(paths, summaries) {
            var line = "format \(summary.header.majorVersion).\(summary.header.minorVersion), "
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
        Self.printAligned(lines)
    }

    private func describe(_ file: String, _ summary: CaptureSummary) {
        let header = summary.header
        var lines: [(String, String)] = []
        lines.append(("capture", "\(file), format \(header.majorVersion).\(header.minorVersion)"))
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
        Self.printAligned(lines)
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
}
