import Foundation

/// What Tests/StoretraceExportTests/decode_trace.py makes of a Perfetto
/// trace that `storetrace export` wrote, decoded with Perfetto's own compiled
/// protos (the `perfetto` package): tracks, slices, instants, counter values,
/// flows, and what the format requires that the trace broke (`errors`).
/// Shared by the export tests and the kernel tests that export a capture.
public struct DecodedTrace {
    public struct DecodeFailed: Error, CustomStringConvertible { public var description: String }

    /// The decoder, beside the export tests.
    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("StoretraceExportTests/decode_trace.py").path

    public var object: [String: Any]

    public init(path: String) throws {
        let (status, stdout, stderr) = try TestPython.run([Self.script, path])
        guard status == 0 else {
            throw DecodeFailed(description: "Perfetto's protos could not decode \(path) (run scripts/test, which installs the perfetto package): \(stderr)")
        }
        guard let object = try JSONSerialization.jsonObject(with: stdout) as? [String: Any] else {
            throw DecodeFailed(description: "decode_trace.py printed no object")
        }
        self.object = object
    }

    public var errors: [String] { object["errors"] as? [String] ?? ["no errors list"] }
    public var tracks: [[String: Any]] { object["tracks"] as? [[String: Any]] ?? [] }
    public var slices: [[String: Any]] { object["slices"] as? [[String: Any]] ?? [] }
    public var instants: [[String: Any]] { object["instants"] as? [[String: Any]] ?? [] }
    public var counters: [[String: Any]] { object["counters"] as? [[String: Any]] ?? [] }
    public var flows: [[String: Any]] { object["flows"] as? [[String: Any]] ?? [] }

    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, from the clock snapshot.
    public var realtimeMinusMonotonic: Int64? {
        guard let clock = object["clock"] as? [String: Any], let clocks = clock["clocks"] as? [String: Any],
              let real = (clocks["1"] as? NSNumber)?.int64Value, let mono = (clocks["3"] as? NSNumber)?.int64Value else { return nil }
        return real - mono
    }

    public func track(named name: String) -> [String: Any]? { tracks.first { $0["name"] as? String == name } }

    public func uuid(_ track: [String: Any]?) -> UInt64? { (track?["uuid"] as? NSNumber)?.uint64Value }

    public func on(_ uuid: UInt64?, _ events: [[String: Any]]) -> [[String: Any]] {
        events.filter { ($0["track"] as? NSNumber)?.uint64Value == uuid }
    }
}


/// The tests' Python: scripts/test's virtualenv (STORETRACE_PYTHON, with
/// scripts/lib/python-requirements.txt installed), else python3.
public enum TestPython {
    public static var interpreter: String { ProcessInfo.processInfo.environment["STORETRACE_PYTHON"] ?? "python3" }

    /// Runs it with `arguments` to its end.
    public static func run(_ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [interpreter] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }
}
