import Foundation
import Glibc
import StoretraceRecords
import StoretraceSession
import Testing

/// The samples of a Prometheus text file as Python's prometheus_client
/// parses it (`text_string_to_metric_families`): an independent reader of
/// the format, installed by scripts/test. Keyed by sample name; each sample
/// is its labels and value. Families are checked to have their TYPE.
struct PrometheusParse {
    struct Sample {
        var labels: [String: String]
        var value: Double
    }
    var samples: [String: [Sample]] = [:]
    var types: [String: String] = [:]

    static let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        families = list(text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()))
        print(json.dumps({
            "types": {f.name: f.type for f in families},
            "samples": [[s.name, s.labels, s.value] for f in families for s in f.samples],
        }))
        """

    init(file: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [CLI.python, "-c", Self.script, file]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0,
                     "prometheus_client could not parse \(file) (run scripts/test, which installs it): \(stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
        types = try #require(object["types"] as? [String: String])
        for case let sample as [Any] in try #require(object["samples"] as? [Any]) {
            let name = try #require(sample[0] as? String)
            let labels = try #require(sample[1] as? [String: String])
            let value = try #require((sample[2] as? NSNumber)?.doubleValue)
            samples[name, default: []].append(Sample(labels: labels, value: value))
        }
    }

    /// The one sample of `name` with exactly these labels.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples[name]?.first { $0.labels == labels }?.value
    }
}

extension KernelTests {
@Suite struct MetricsFileTests {
    /// `live --json --metrics-file`: mounts that work, umount2 failing with
    /// EBUSY (a file held open on the mount, so a holder scan runs), a
    /// mount failing with ENOENT. The file prometheus_client parses after
    /// the exit holds, for every type and every (type, errno), the counts
    /// of the JSON events printed; the holder counters match the holders
    /// events; the last write says storetrace_up 0.
    @Test func countersMatchTheJSONEvents() throws {
        let scratch = Scratch()
        let metrics = scratch.path + "/node.prom"
        let target = scratch.dir("m")
        let live = try RunningCLI(["live", "--json", "--pid", "\(getpid())", "--no-ftrace", "--no-uevents", "--no-kmsg",
                                   "--metrics-file", metrics])
        #expect(live.waitUntilReady(), "\(live.stderrText)")
        // Written before the first event: a collector sees it is running.
        let first = try PrometheusParse(file: metrics)
        #expect(first.value("storetrace_up") == 1)
        let now = Date().timeIntervalSince1970
        #expect(abs((first.value("storetrace_last_write_timestamp_seconds") ?? 0) - now) < 30)

        for index in 0..<3 {
            try check(mount("metrics\(index)", target, "tmpfs", 0, nil), "mount")
            try check(umount2(target, 0), "umount2")
        }
        try check(mount("metrics-busy", target, "tmpfs", 0, nil), "mount")
        let held = open(target + "/held", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        #expect(held >= 0)
        for _ in 0..<2 { #expect(umount2(target, 0) == -1 && errno == EBUSY) }
        // The holder scan runs on the loop's timer: the mount must still be
        // there, held, when it does (a scan of a mount gone finds nothing).
        usleep(600_000)
        close(held)
        try check(umount2(target, 0), "umount2")
        #expect(mount("metrics-missing", scratch.path + "/no-such-dir", "tmpfs", 0, nil) == -1 && errno == ENOENT)
        usleep(200_000)
        let stopped = live.stop()
        #expect(stopped.status == 0, "\(stopped.stderr)")

        let events = jsonLines(stopped.stdout)
        let parsed = try PrometheusParse(file: metrics)
        #expect(parsed.types["storetrace_events"] == "counter")
        #expect(parsed.types["storetrace_failures"] == "counter")
        #expect(parsed.types["storetrace_up"] == "gauge")
        #expect(parsed.value("storetrace_up") == 0)

        var byType: [String: Int] = [:]
        var byFailure: [[String: String]: Int] = [:]
        for event in events {
            let type = try #require(event["type"] as? String)
            byType[type, default: 0] += 1
            if let errno = event["errno"] as? String { byFailure[["type": type, "errno": errno], default: 0] += 1 }
        }
        #expect((byType["mount"] ?? 0) >= 5 && (byType["umount"] ?? 0) >= 6, "\(byType)")
        #expect(byFailure[["type": "umount", "errno": "EBUSY"]] == 2, "\(byFailure)")
        #expect(byFailure[["type": "mount", "errno": "ENOENT"]] == 1, "\(byFailure)")
        #expect((byType["mount_op"] ?? 0) > 0, "derived events are counted too")
        #expect(byFailure[["type": "mount_op", "errno": "EBUSY"]] == 2, "\(byFailure)")

        // Every type the file names, and every type the JSON had.
        let typed = parsed.samples["storetrace_events_total"] ?? []
        let types = Set(typed.compactMap { $0.labels["type"] }).union(byType.keys)
        for type in types {
            #expect(parsed.value("storetrace_events_total", ["type": type]) == Double(byType[type] ?? 0), "type \(type)")
        }
        let failures = parsed.samples["storetrace_failures_total"] ?? []
        #expect(failures.count == byFailure.count, "\(failures.map(\.labels)) vs \(byFailure)")
        for (labels, count) in byFailure {
            #expect(parsed.value("storetrace_failures_total", labels) == Double(count), "\(labels)")
        }
        let holders = events.filter { $0["type"] as? String == "holders" }
        #expect(holders.count >= 1)
        #expect(parsed.value("storetrace_holder_scans_total") == Double(holders.count))
        let found = holders.reduce(0) { $0 + (($1["holders"] as? [Any])?.count ?? 0) }
        #expect(found >= 1)
        // The held file of this process, not every process on / (a scan
        // that ran after the unmount once named those).
        let holderPIDs = holders.flatMap { ($0["holders"] as? [[String: Any]]) ?? [] }.compactMap { $0["pid"] as? Int }
        #expect(Set(holderPIDs) == [Int(getpid())], "\(holderPIDs.count) holders")
        #expect(parsed.value("storetrace_holders_found_total") == Double(found))
        #expect(parsed.value("storetrace_unhealthy_mounts") == 0)
        #expect(parsed.value("storetrace_losses_total", ["counter": "ring buffer full", "kind": "events"]) == 0)
        #expect(parsed.samples["storetrace_capture_bytes_total"] == nil, "live records nothing")
        // The file is left for the collector, the temporary one is not.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() == ["m", "node.prom"])
    }

    /// Label values that would end the value, the sample or the line, and
    /// UTF-8 and controls that stand as they are: prometheus_client reads
    /// back exactly the strings written.
    @Test func hostileLabelValuesParseBack() throws {
        let scratch = Scratch()
        let names = ["a \"quoted\" value", "back\\slash\\n", "line\nfeed", "} x=\"1\",{", "tab\tü€ \u{7F}"]
        let exporter = MetricsExporter(path: scratch.path + "/hostile.prom")
        exporter.losses = { names.enumerated().map { LossCount(name: $0.element, count: UInt64($0.offset + 1), kind: .events) } }
        #expect(exporter.write())
        let parsed = try PrometheusParse(file: exporter.path)
        let losses = parsed.samples["storetrace_losses_total"] ?? []
        #expect(losses.map { $0.labels["counter"] ?? "" } == names)
        #expect(losses.map(\.value) == [1, 2, 3, 4, 5])
    }

    /// `record --metrics-file`: the capture bytes counter is the size of the
    /// file written; a path that cannot be written stops it at the start,
    /// on one line.
    @Test func recordCountsCaptureBytes() throws {
        let scratch = Scratch()
        let metrics = scratch.path + "/node.prom"
        let capture = scratch.path + "/c.stcap"
        let target = scratch.dir("m")
        let recorder = try RunningCLI(["record", "-o", capture, "--type", "mount", "--type", "umount", "--pid", "\(getpid())",
                                       "--no-ftrace", "--no-uevents", "--no-kmsg", "--metrics-file", metrics])
        #expect(recorder.waitUntilReady(), "\(recorder.stderrText)")
        try check(mount("metrics-record", target, "tmpfs", 0, nil), "mount")
        try check(umount2(target, 0), "umount2")
        usleep(300_000)
        let stopped = recorder.stop()
        #expect(stopped.status == 0, "\(stopped.stderr)")
        let parsed = try PrometheusParse(file: metrics)
        var size = stat()
        #expect(stat(capture, &size) == 0)
        #expect(parsed.value("storetrace_capture_bytes_total") == Double(size.st_size))
        #expect(parsed.value("storetrace_capture_unwritten_events_total") == 0)
        #expect(parsed.value("storetrace_events_total", ["type": "mount"]) == 1)
        #expect(parsed.value("storetrace_events_total", ["type": "umount"]) == 1)

        let bad = try CLI.run(["live", "--duration", "1s", "--metrics-file", scratch.path + "/missing/node.prom"])
        #expect(bad.status != 0)
        let lines = bad.stderr.split(separator: "\n")
        #expect(lines.last == "storetrace: cannot write --metrics-file \(scratch.path)/missing/node.prom: ENOENT"[...], "\(bad.stderr)")
    }
}
}
