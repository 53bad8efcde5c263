import Foundation
import Glibc
import StoretraceDecode
import StoretraceRender
import StoretraceSession
import StoretraceFixtures
import Testing
@testable import StoretraceExport

/// The fixture captures of the session tests.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("StoretraceSessionTests/Fixtures")

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
