import Foundation
import Glibc
import StoretraceDecode
import StoretraceRender
import StoretraceSession
import Testing
@testable import StoretraceExport

/// The fixture captures of the session tests.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("StoretraceSessionTests/Fixtures")
let decoder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("decode_trace.py").path

/// The interpreter with perfetto and protobuf: scripts/test's (STORETRACE_PYTHON), else python3.
var python: String { ProcessInfo.processInfo.environment["STORETRACE_PYTHON"] ?? "python3" }

/// A temporary file's path, removed by `remove`.
func temporaryPath(_ suffix: String) -> String {
    "/tmp/storetrace-export-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))\(suffix)"
}

enum ExportFormat { case perfetto, chromeJSON }

/// Exports captures in-process, as `storetrace export` does, to `path`.
@discardableResult
func export(_ paths: [String], to path: String, format: ExportFormat = .perfetto,
            filter: EventFilter = EventFilter()) throws -> (counts: ExportCounts, summary: ReplaySummary) {
    let file = try AtomicFile(path: path)
    let sink = OutputSink(fd: file.fd)
    let writer: TimelineWriter = format == .perfetto ? PerfettoTraceWriter(sink: sink) : ChromeJSONTraceWriter(sink: sink)
    let exporter = TimelineExporter(writer: writer)
    var config = ReplayConfiguration(paths: paths)
    config.format = .json
    config.filter = filter
    let summary = try ReplaySession(configuration: config, consumer: exporter).run()
    exporter.finish()
    #expect(sink.failure == nil)
    try file.commit()
    return (exporter.counts, summary)
}

/// What decode_trace.py makes of a Perfetto trace (Perfetto's compiled protos).
struct DecodedTrace {
    var object: [String: Any]

    init(path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, decoder, path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0,
                     "Perfetto's protos could not decode \(path) (run scripts/test, which installs the perfetto package): \(stderr)")
        object = try #require(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
    }

    var errors: [String] { object["errors"] as? [String] ?? ["no errors list"] }
    var tracks: [[String: Any]] { object["tracks"] as? [[String: Any]] ?? [] }
    var slices: [[String: Any]] { object["slices"] as? [[String: Any]] ?? [] }
    var instants: [[String: Any]] { object["instants"] as? [[String: Any]] ?? [] }
    var counters: [[String: Any]] { object["counters"] as? [[String: Any]] ?? [] }
    var flows: [[String: Any]] { object["flows"] as? [[String: Any]] ?? [] }

    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, from the clock snapshot.
    var realtimeMinusMonotonic: Int64? {
        guard let clock = object["clock"] as? [String: Any], let clocks = clock["clocks"] as? [String: Any],
              let real = (clocks["1"] as? NSNumber)?.int64Value, let mono = (clocks["3"] as? NSNumber)?.int64Value else { return nil }
        return real - mono
    }

    func track(named name: String) -> [String: Any]? { tracks.first { $0["name"] as? String == name } }

    func uuid(_ track: [String: Any]?) -> UInt64? { (track?["uuid"] as? NSNumber)?.uint64Value }

    func on(_ uuid: UInt64?, _ events: [[String: Any]]) -> [[String: Any]] {
        events.filter { ($0["track"] as? NSNumber)?.uint64Value == uuid }
    }
}

/// JSON lines of a file.
func jsonLines(_ path: String) throws -> [[String: Any]] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

/// RFC 3339 with nanoseconds ("2026-12-01T18:58:04.713800243Z") to Unix ns.
func epochNanoseconds(_ text: String) throws -> Int64 {
    let parts = text.dropLast().split(separator: ".")
    var components = DateComponents()
    let fields = parts[0].split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" }).map { Int($0)! }
    components.year = fields[0]; components.month = fields[1]; components.day = fields[2]
    components.hour = fields[3]; components.minute = fields[4]; components.second = fields[5]
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let seconds = Int64(try #require(calendar.date(from: components)).timeIntervalSince1970)
    return seconds * 1_000_000_000 + Int64(parts[1])!
}
