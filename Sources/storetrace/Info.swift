import ArgumentParser
import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceKernel
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
        let reader: CaptureReader
        do {
            reader = try CaptureReader(path: file)
        } catch {
            fail(error.description(path: file))
        }
        var first: UInt64 = .max, last: UInt64 = 0
        var counts: [UInt16: UInt64] = [:]
        do {
            try reader.read { record in
                first = min(first, record.timestamp)
                last = max(last, record.timestamp)
                counts[record.type, default: 0] += 1
            }
        } catch {
            fail("\(file): \(error)")
        }
        let snapshots = reader.hostSnapshots.compactMap { try? NodeSnapshot(json: $0) }
        if snapshot {
            guard let chosen = end ? snapshots.last : snapshots.first else {
                fail("\(file): holds no node snapshot")
            }
            print(json ? chosen.jsonText(.lines) : SnapshotRenderer.render(chosen), terminator: json ? "\n" : "")
            return
        }
        let clock = ClockOffset(realtimeMinusMonotonic: reader.clockSamples.first?.realtimeOffsetNs
            ?? Int64(bitPattern: reader.header.creationRealtimeNs &- reader.header.creationMonotonicNs))
        var lines: [(String, String)] = []
        lines.append(("capture", "\(file), format \(reader.header.majorVersion).\(reader.header.minorVersion)"))
        lines.append(("created", Self.wall(Int64(bitPattern: reader.header.creationRealtimeNs))))
        if first <= last {
            lines.append(("events", Self.wall(clock.wallNanoseconds(monotonic: first)) + " to " + Self.wall(clock.wallNanoseconds(monotonic: last))
                          + " (\(Self.seconds(last - first)))"))
        } else {
            lines.append(("events", "none"))
        }
        for (type, count) in counts.sorted(by: { $0.key < $1.key }) {
            let name = reader.schemas[type].map { "\($0.name) v\($0.version)" } ?? "type \(type) (no schema)"
            lines.append(("  " + name, "\(count)"))
        }
        for (type, skipped) in reader.stats.skippedRecords.sorted(by: { $0.key < $1.key }) {
            lines.append(("  skipped type \(type)", "\(skipped) records of a type this storetrace does not know"))
        }
        if let trailer = reader.trailer {
            let lost = trailer.drops.filter { $0.count > 0 }
            lines.append(("drops", lost.isEmpty ? "none" : lost.map { "\($0.count) \($0.source)" }.joined(separator: ", ")))
            if !trailer.note.isEmpty { lines.append(("note", trailer.note)) }
        } else {
            lines.append(("drops", "unknown: the capture was not closed cleanly"))
        }
        lines.append(("end", reader.tail.description))
        for corruption in reader.corruptions { lines.append(("damaged", corruption.description)) }
        let width = lines.map(\.0.count).max() ?? 0
        for (key, value) in lines { print(key + String(repeating: " ", count: width - key.count + 2) + value) }
        if let snapshot = snapshots.first {
            print("")
            print(SnapshotRenderer.summary(snapshot), terminator: "")
        } else {
            print("snapshot  none")
        }
    }

    static func wall(_ epochNanoseconds: Int64) -> String {
        var out = OutputBuffer(capacity: 64)
        JSONRenderer(clock: ClockOffset(realtimeMinusMonotonic: epochNanoseconds)).appendTime(monotonic: 0, into: &out)
        return String(decoding: out.bytes.dropFirst().dropLast(), as: UTF8.self)
    }

    static func seconds(_ nanoseconds: UInt64) -> String {
        let tenths = nanoseconds / 100_000_000
        return "\(tenths / 10).\(tenths % 10)s"
    }
}
