import ArgumentParser
import Glibc
import StoretraceAnalyze
import StoretraceDecode
import StoretraceRender
import StoretraceSession

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a capture: host, time span, counts by type, drops, node snapshot.",
        discussion: "Reads the whole capture once (flat memory). --snapshot prints the node snapshot in full: mounts per namespace (the initial one marked host, the others with the processes in them), block devices, PCI bindings; --snapshot --json the same as JSON."
    )

    @Argument(help: ArgumentHelp("The capture file.", valueName: "file"))
    var file: String

    @Flag(name: .long, help: "Print the whole node snapshot (the one taken at the start; --end for the last one).")
    var snapshot = false

    @Flag(name: .long, help: "With --snapshot: the snapshot taken when recording stopped.")
    var end = false

    @Flag(name: .long, help: "With --snapshot: print the snapshot as JSON (docs/snapshot.md), one process or mount per line.")
    var json = false

    func validate() throws {
        if json && !snapshot { throw ValidationError("--json goes with --snapshot") }
    }

    func run() throws {
        let summary: CaptureSummary
        do {
            summary = try CaptureSummary(path: file)
        } catch {
            fail(error.description)
        }
        if snapshot {
            guard let chosen = end ? summary.snapshots.last : summary.snapshots.first else {
                fail("\(file): holds no node snapshot")
            }
            print(json ? chosen.jsonText(.lines) : SnapshotRenderer.render(chosen), terminator: json ? "\n" : "")
            return
        }
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
        // Names, notes and file names come from the capture: escaped.
        let escaped = lines.map { (escapedForTerminal($0.0), escapedForTerminal($0.1)) }
        let width = escaped.map(\.0.count).max() ?? 0
        for (key, value) in escaped { print(key + String(repeating: " ", count: width - key.count + 2) + value) }
        // Every mount that was unhealthy: the analyzer replay runs, over the whole capture.
        let unhealthy: [MountHealth]
        do {
            unhealthy = try CaptureHealth.unhealthyMounts(path: file)
        } catch {
            fail(error.description)
        }
        print("")
        if unhealthy.isEmpty {
            print("unhealthy mounts  none")
        } else {
            print("unhealthy mounts  \(unhealthy.count)")
            for health in unhealthy {
                print(escapedForTerminal("  " + health.summaryText + " (from "
                                         + Self.wall(summary.clock.wallNanoseconds(monotonic: health.firstProblem)) + ")"))
            }
        }
        if let snapshot = summary.snapshots.first {
            print("")
            print(SnapshotRenderer.summary(snapshot), terminator: "")
        } else {
            print("snapshot  none")
        }
    }

    static func wall(_ epochNanoseconds: Int64) -> String {
        TimeText.rfc3339(epochNanoseconds: epochNanoseconds)
    }

    static func seconds(_ nanoseconds: UInt64) -> String {
        let tenths = nanoseconds / 100_000_000
        return "\(tenths / 10).\(tenths % 10)s"
    }
}
