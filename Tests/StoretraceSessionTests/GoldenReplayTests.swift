import Foundation
import Glibc
import StoretraceDecode
import StoretraceSession
import Testing

/// Replays captures kept as files to text and JSON and compares with what
/// the same captures replayed to when they were made (Fixtures/README.md
/// says how): any change in decoding, filtering or rendering that moves one
/// byte shows here, without root.
@Suite struct GoldenReplayTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// Replays `capture` in-process into a temporary file and returns its bytes.
    static func replay(_ capture: String, _ adjust: (inout ReplayConfiguration) -> Void = { _ in }) throws -> (output: String, summary: ReplaySummary) {
        var template = Array("/tmp/storetrace-golden-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        #expect(fd >= 0)
        let path = String(cString: template)
        defer { close(fd); unlink(path) }
        var config = ReplayConfiguration(path: capture)
        config.outputFD = fd
        adjust(&config)
        setenv("TZ", "UTC", 1)
        tzset()
        let summary = try ReplaySession(configuration: config).run()
        return (try String(contentsOfFile: path, encoding: .utf8), summary)
    }

    /// `storetrace summary` of the attach fixture: its copies by device and
    /// the read-ahead of its start snapshot, nothing printed.
    @Test func summaryOfTheAttachFixture() throws {
        let (output, result) = try Self.replay(Self.fixture("attach.stcap")) {
            $0.nullSink = true
            $0.summary = true
        }
        #expect(output.isEmpty)
        let storage = try #require(result.storage)
        let loop0 = try #require(storage.periodsByDevice.first { $0.first?.device == Array("loop0".utf8) })
        #expect(loop0.map(\.readAheadKB) == [2560])
        #expect(loop0.map(\.calls) == [4] && loop0.map(\.latency.count) == [3] && loop0.map(\.empty) == [1])
        #expect(loop0[0].bytes == 1_048_576 + 65_536 + 4_096)
        #expect(storage.callsByType.contains { $0.kind == .sendfile && $0.calls == 1 })
        #expect(storage.settingChanges.isEmpty)
    }

    static func expected(_ name: String) throws -> String {
        try String(contentsOfFile: fixture(name), encoding: .utf8)
    }

    @Test(arguments: [
        ("attach.stcap", ReplayFormat.text, "attach.txt"),
        ("attach.stcap", .json, "attach.json"),
        ("attach.stcap", .color, "attach.color.txt"),
        ("capture-v1.0.stcap", .text, "capture-v1.0.txt"),
        ("capture-v1.0.stcap", .json, "capture-v1.0.json"),
        // The same chunks compressed (format 2.0): the same bytes out.
        ("attach-zstd.stcap", .text, "attach.txt"),
        ("attach-zstd.stcap", .json, "attach.json"),
        ("attach-zstd.stcap", .color, "attach.color.txt"),
    ])
    func replaysToTheBytesSavedWithTheFixture(capture: String, format: ReplayFormat, golden: String) throws {
        let (output, summary) = try Self.replay(Self.fixture(capture)) {
            $0.format = format == .json ? .json : .text
            $0.color = format == .color
        }
        #expect(summary.counts.malformed == 0)
        #expect(summary.corruptions.isEmpty)
        // The mount operations derived since (issue 17) come on top, each
        // after the call that ended it; every byte of the rest is as saved.
        // So do the device annotations (issue 11): the line under a kmsg
        // line that names a device, and in JSON the `context` of ftrace
        // events, the `resolved_device` object that ends kmsg and tracepoint
        // objects, and the kmsg `device` filled from the message
        // (DeviceAnnotationTests and the kernel tests check those).
        let calls = output.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("mount_op") && !$0.hasPrefix("  ↳ ") }
            .map(Self.withoutDeviceFields)
        // So do the block device and read-ahead after a copy's file names,
        // and the throughput after its result (issue 11), in the text views.
        let device = try Regex(#" on [^ >]+ read_ahead_kb=[0-9]+>"#), throughput = try Regex(#" \([0-9]+\.[0-9] MiB/s\)$"#)
        let copies = calls.filter { $0.contains("copy_file_range") || $0.contains("sendfile") }
        if capture.hasPrefix("attach") && format != .json {
            #expect(copies.count > 0 && copies.allSatisfy { $0.contains(device) }, "\(copies)")
            #expect(copies.contains { $0.contains("cp[8236]") && $0.contains("(3<in.bin on loop0 read_ahead_kb=2560>")
                && $0.hasSuffix(format == .text ? " = 1048576 (628.7 MiB/s)" : "1048576\u{1B}[0m (628.7 MiB/s)") })
        }
        let asSaved = calls.map { $0.replacing(device, with: ">").replacing(throughput, with: "") }
        #expect(asSaved.joined(separator: "\n") == (try Self.expected(golden)))
    }

    /// A JSON line as it was before issue 11's fields.
    static func withoutDeviceFields(_ line: Substring) -> String {
        var text = String(line)
        guard text.contains(#""type":"kmsg""#) || text.contains(#""type":"tracepoint""#) else { return text }
        text = text.replacingOccurrences(of: #","context":"task""#, with: "")
        guard let cut = text.range(of: #","resolved_device":"#) else { return text }
        let fromMessage = text[cut.upperBound...].contains(#""pattern":"#)
        text = String(text[..<cut.lowerBound]) + "}"
        if fromMessage, let device = text.range(of: #","device":"b[0-9]+:[0-9]+""#, options: .regularExpression) {
            text.replaceSubrange(device, with: #","device":null"#)
        }
        return text
    }

    /// The operations of the attach fixture, as `replay --ops` shows them:
    /// classic mounts and umounts and the new API's sequences, in mount(8)'s words.
    @Test(arguments: [(OutputFormat.text, "attach.ops.txt"), (.json, "attach.ops.json")])
    func operationsOfTheAttachFixture(format: OutputFormat, golden: String) throws {
        let (output, summary) = try Self.replay(Self.fixture("attach.stcap")) {
            $0.format = format
            $0.filter.kernelTypes = [.mountOperation]
        }
        #expect(summary.counts.shown == 0, "--ops shows no call")
        #expect(summary.counts.derivedShown == 11)
        #expect(output == (try Self.expected(golden)))
    }

    /// The disk-attach fixture holds every source: syscalls of most kinds,
    /// tracepoints with their threads, uevents and kernel log lines.
    @Test(arguments: [("attach.stcap", 72048), ("attach-zstd.stcap", 11184)])
    func theAttachFixtureCoversEverySource(capture: String, size: Int) throws {
        let (_, summary) = try Self.replay(Self.fixture(capture))
        #expect(summary.counts.bySource == [26, 101, 3, 3, 0, 0, 0, 0])
        #expect(summary.counts.shown == 133)
        #expect(summary.tail == "complete: closed cleanly, ends at offset \(size)")
    }

    @Test func filtersApplyToReplay() throws {
        let (failed, summary) = try Self.replay(Self.fixture("attach.stcap")) {
            $0.format = .json
            var filter = EventFilter()
            filter.failedOnly = true
            $0.filter = filter
        }
        let all = failed.split(separator: "\n")
        let lines = all.filter { !$0.contains("\"mount_op\"") }
        #expect(all.count - lines.count == 3, "the failed umounts and fspick as operations")
        #expect(summary.counts.derivedShown == 3)
        #expect(summary.counts.received == 133)
        #expect(summary.counts.shown == UInt64(lines.count))
        #expect(summary.counts.filteredOut == 133 - UInt64(lines.count))
        #expect(lines.allSatisfy { !$0.contains("\"errno\":null") })
        let expected = try Self.expected("attach.json").split(separator: "\n").filter {
            $0.contains("\"ret\":-") && !$0.contains("\"errno\":null")
        }
        #expect(lines == expected)
    }
}

enum ReplayFormat: CustomTestStringConvertible {
    case text, json, color
    var testDescription: String { "\(self)" }
}
