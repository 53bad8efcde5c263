import Foundation
import Glibc
import StoretraceDecode
import StoretraceFixtures
import StoretraceSession
import Testing
@testable import StoretraceExport

/// `attach.stcap` (a disk attach: mounts, failing umounts, copies, the new
/// mount API, uevents, kernel log lines, tracepoints) exported, then read
/// back with Perfetto's own compiled protos (decode_trace.py), and held
/// against the capture's replay as JSON lines saved beside it (attach.json).
@Suite struct FixtureExportTests {
    let capture = fixtures.appendingPathComponent("attach.stcap").path

    func replayed() throws -> [[String: Any]] { try jsonLines(fixtures.appendingPathComponent("attach.json").path) }

    static let syscallTypes: Set<String> = ["mount", "umount", "fsopen", "fsconfig", "fsmount", "move_mount", "open_tree",
                                             "mount_setattr", "fspick", "copy_file_range", "splice", "sendfile", "rmdir", "unlinkat"]

    @Test func everyCallIsASliceOfItsLatencyWithItsFieldsOnItsThread() throws {
        let path = temporaryPath(".pftrace")
        defer { unlink(path) }
        let (counts, _) = try export([capture], to: path)
        let trace = try DecodedTrace(path: path)
        #expect(trace.errors == [])
        let offset = try #require(trace.realtimeMinusMonotonic)

        let calls = try replayed().filter { Self.syscallTypes.contains($0["type"] as? String ?? "") }
        #expect(trace.slices.count == calls.count)
        #expect(counts.slices == UInt64(calls.count))
        for (call, slice) in zip(calls, trace.slices) {
            // Its time on the wall clock (through the trace's clock snapshot) and its latency.
            let ts = try #require((slice["ts"] as? NSNumber)?.int64Value)
            #expect(ts + offset == (try epochNanoseconds(call["time"] as! String)))
            #expect((slice["dur"] as? NSNumber)?.int64Value == (call["latency_ns"] as? NSNumber)?.int64Value)
            // On the thread of its process.
            let track = try #require(trace.tracks.first { ($0["uuid"] as? NSNumber) == (slice["track"] as? NSNumber) })
            #expect(track["type"] as? String == "thread")
            #expect(track["tid"] as? Int == call["tid"] as? Int)
            #expect(track["pid"] as? Int == call["pid"] as? Int)
            #expect(track["name"] as? String == call["comm"] as? String)
            // Every field of its JSON line, but its time and the empty ones.
            let args = try #require(slice["args"] as? [String: Any])
            for (key, value) in call where key != "time" && !(value is NSNull) {
                if let array = value as? [Any], array.isEmpty { continue }
                #expect(args[key] as? NSObject == value as? NSObject, "\(key) of \(call)")
            }
            let failed = !(call["errno"] is NSNull)
            #expect(slice["categories"] as? [String] == (failed ? ["syscall", "failed"] : ["syscall"]))
            #expect((slice["name"] as? String)?.hasSuffix(failed ? " = -1 \(call["errno"]!)" : "") == true)
        }
        // Named as the text lines start.
        let names = trace.slices.map { $0["name"] as? String ?? "" }
        #expect(Array(names[3...9]) == [
            "mount /dev/loop0 /tmp/gold/m ext4", "mount /tmp/gold/a /tmp/gold/b none",
            "umount2 /tmp/gold/a = -1 EINVAL", "umount2 /tmp/gold/b", "umount2 /tmp/gold/b = -1 EINVAL",
            "copy_file_range in.bin out.bin", "copy_file_range in.bin out.bin",
        ])
        #expect(Array(names[10...19]) == [
            "fsopen tmpfs", "fsconfig FSCONFIG_SET_STRING size 16m", "fsconfig FSCONFIG_CMD_CREATE", "fsmount",
            "move_mount /tmp/gold/a", "open_tree /tmp/gold/a", "move_mount /tmp/gold/b",
            "fspick /tmp/gold/nonexistent = -1 ENOENT", "copy_file_range in.bin cfr.bin", "sendfile cfr.bin in.bin",
        ])
    }

    @Test func tracksAreProcessesWithTheirThreadsAndTheNodesOwn() throws {
        let path = temporaryPath(".pftrace")
        defer { unlink(path) }
        try export([capture], to: path)
        let trace = try DecodedTrace(path: path)
        let calls = try replayed().filter { Self.syscallTypes.contains($0["type"] as? String ?? "") }
        var processes: [Int: String] = [:]
        for call in calls { processes[call["pid"] as! Int] = call["comm"] as? String }
        let processTracks = trace.tracks.filter { $0["type"] as? String == "process" }
        #expect(Dictionary(uniqueKeysWithValues: processTracks.map { ($0["pid"] as! Int, $0["name"] as! String) }) == processes)
        for thread in trace.tracks where thread["type"] as? String == "thread" {
            let parent = try #require(processTracks.first { ($0["uuid"] as? NSNumber) == (thread["parent"] as? NSNumber) })
            #expect(parent["pid"] as? Int == thread["pid"] as? Int)
        }
        #expect(trace.tracks.filter { $0["type"] as? String == "named" }.map { $0["name"] as! String }
            == ["device events", "kernel log"])
        #expect(trace.tracks.filter { $0["type"] as? String == "counter" }.map { "\($0["name"]!) (\($0["unit"]!))" }
            == ["copy throughput vda (MiB/s)", "read_ahead_kb vda (KiB)", "copy throughput loop0 (MiB/s)", "read_ahead_kb loop0 (KiB)"])
        #expect(trace.flows.isEmpty) // nothing failed with EBUSY, no device failed
    }

    @Test func kernelEventsAreInstantsOnTheirTracks() throws {
        let path = temporaryPath(".pftrace")
        defer { unlink(path) }
        try export([capture], to: path)
        let trace = try DecodedTrace(path: path)
        let offset = try #require(trace.realtimeMinusMonotonic)
        let events = try replayed()
        let kernelLog = trace.on(trace.uuid(trace.track(named: "kernel log")), trace.instants)
        let kmsg = events.filter { $0["type"] as? String == "kmsg" }
        #expect(kernelLog.map { $0["name"] as? String } == kmsg.map { $0["message"] as? String })
        for (instant, line) in zip(kernelLog, kmsg) {
            #expect((instant["ts"] as! NSNumber).int64Value + offset == (try epochNanoseconds(line["time"] as! String)))
            let args = try #require(instant["args"] as? [String: Any])
            #expect(args["seq"] as? Int == line["seq"] as? Int)
            #expect(args["level"] as? String == "info")
            #expect(instant["categories"] as? [String] == ["kmsg"])
        }
        let device = trace.on(trace.uuid(trace.track(named: "device events")), trace.instants)
        #expect(device.filter { $0["categories"] as? [String] == ["uevent"] }.map { $0["name"] as? String }
            == ["change block loop0", "change block loop0", "change block loop0"])
        let uevents = device.filter { $0["categories"] as? [String] == ["uevent"] }
        #expect(uevents.map { ($0["args"] as? [String: Any])?["seqnum"] as? Int } == [878, 879, 880])
        let tracepoints = device.filter { $0["categories"] as? [String] == ["tracepoint"] }
        #expect(tracepoints.count == events.filter { $0["type"] as? String == "tracepoint" }.count)
        #expect(Set(tracepoints.map { $0["name"] as? String }) == ["syscalls:sys_enter_mkdir"])
        // Mount operations: an instant on their process's track when they end.
        let operations = trace.instants.filter { ($0["categories"] as? [String])?.first == "mount_op" }
        #expect(operations.map { $0["name"] as? String } == [
            "mount_op: new mount of ext4 \"/dev/loop0\" on \"/tmp/gold/m\"", "mount_op: bind of \"/tmp/gold/a\" on \"/tmp/gold/b\"",
            "mount_op: unmount of \"/tmp/gold/a\" = -1 EINVAL", "mount_op: unmount of \"/tmp/gold/b\"",
            "mount_op: lazy unmount of \"/tmp/gold/b\" = -1 EINVAL", "mount_op: new mount of tmpfs on \"/tmp/gold/a\" with size=16m",
            "mount_op: bind of \"/tmp/gold/a\" on \"/tmp/gold/b\"", "mount_op: remount of \"/tmp/gold/nonexistent\" = -1 ENOENT",
            "mount_op: unmount of \"/tmp/gold/b\"", "mount_op: unmount of \"/tmp/gold/a\"", "mount_op: unmount of \"/tmp/gold/m\"",
        ])
        #expect(operations.filter { ($0["categories"] as? [String])?.last == "failed" }.count == 3)
    }

    /// read_ahead_kb from the start snapshot; throughput the sum of the
    /// running copies' rates, stepped at each start and end.
    @Test func countersFollowReadAheadAndCopyThroughput() throws {
        let path = temporaryPath(".pftrace")
        defer { unlink(path) }
        try export([capture], to: path)
        let trace = try DecodedTrace(path: path)
        let clock = try #require(trace.object["clock"] as? [String: Any])
        let start = try #require(((clock["clocks"] as? [String: Any])?["3"] as? NSNumber)?.int64Value)
        func values(_ name: String) -> [[Double]] {
            trace.on(trace.uuid(trace.track(named: name)), trace.counters).map {
                [Double(($0["ts"] as! NSNumber).int64Value - start), ($0["value"] as! NSNumber).doubleValue]
            }
        }
        #expect(values("read_ahead_kb loop0") == [[0, 2560]])
        #expect(values("read_ahead_kb vda") == [[0, 8192]])
        // The copies on loop0 that moved bytes, from the replay: starts and ends.
        let offset = try #require(trace.realtimeMinusMonotonic)
        var expected: [[Double]] = []
        for copy in try replayed() where ["copy_file_range", "sendfile"].contains(copy["type"] as? String)
            && (copy["file_in"] as? [String: Any])?["block_device"] as? String == "loop0" && (copy["ret"] as! Int) > 0 {
            let begin = try epochNanoseconds(copy["time"] as! String) - offset - start
            let latency = (copy["latency_ns"] as! NSNumber).int64Value
            expected.append([Double(begin), Double(copy["ret"] as! Int) * 1e9 / Double(latency) / 1_048_576])
            expected.append([Double(begin + latency), 0])
        }
        #expect(expected.count == 6)
        #expect(values("copy throughput loop0").sorted { $0[0] < $1[0] } == expected)
    }

    /// The Trace Event format: every event has ph, ts, pid, tid and name; a complete event its dur.
    @Test func chromeJSONHasTheTraceEventFormatsFields() throws {
        let path = temporaryPath(".json")
        defer { unlink(path) }
        try export([capture], to: path, format: .chromeJSON)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["displayTimeUnit"] as? String == "ns")
        let events = try #require(object["traceEvents"] as? [[String: Any]])
        for event in events {
            for field in ["ph", "ts", "pid", "tid", "name"] { #expect(event[field] != nil, "\(field) in \(event)") }
            #expect(event["ts"] is NSNumber && event["pid"] is NSNumber && event["tid"] is NSNumber)
            if event["ph"] as? String == "X" { #expect(event["dur"] is NSNumber, "\(event)") }
            if event["ph"] as? String == "i" { #expect(["t", "p"].contains(event["s"] as? String)) }
        }
        let complete = events.filter { $0["ph"] as? String == "X" }
        let calls = try replayed().filter { Self.syscallTypes.contains($0["type"] as? String ?? "") }
        #expect(complete.count == calls.count)
        let umount = try #require(complete.first { $0["name"] as? String == "umount2 /tmp/gold/a = -1 EINVAL" })
        #expect((umount["dur"] as? NSNumber)?.doubleValue == 4.599) // µs
        #expect(umount["pid"] as? Int == 8232 && umount["tid"] as? Int == 8232)
        #expect((umount["args"] as? [String: Any])?["errno"] as? String == "EINVAL")
        #expect(umount["cat"] as? String == "syscall,failed")
        let names = events.filter { $0["ph"] as? String == "M" }.map { "\($0["name"]!) \($0["pid"]!) \(($0["args"] as! [String: Any])["name"]!)" }
        #expect(names.contains("process_name 8232 umount") && names.contains("thread_name 8232 umount"))
        #expect(names.contains("thread_name \(ChromeJSONTraceWriter.nodePID) kernel log")) // a thread of the node
        #expect(events.filter { $0["ph"] as? String == "C" && $0["name"] as? String == "read_ahead_kb loop0 (KiB)" }
            .map { ($0["args"] as? [String: Any])?["value"] as? Int } == [2560])
    }

    /// The filters of replay apply: --type umount keeps the umount2 calls
    /// (and nothing else), and says how many it left out.
    @Test func replaysFiltersApply() throws {
        let path = temporaryPath(".pftrace")
        defer { unlink(path) }
        var filter = EventFilter()
        filter.kinds = [.umount]
        let (counts, summary) = try export([capture], to: path, filter: filter)
        let trace = try DecodedTrace(path: path)
        #expect(trace.slices.map { $0["name"] as? String } == [
            "umount2 /tmp/gold/a = -1 EINVAL", "umount2 /tmp/gold/b", "umount2 /tmp/gold/b = -1 EINVAL",
            "umount2 /tmp/gold/b", "umount2 /tmp/gold/a", "umount2 /tmp/gold/m",
        ])
        #expect(trace.instants.isEmpty && trace.counters.isEmpty)
        #expect(counts.slices == 6 && summary.counts.shown == 6 && summary.counts.filteredOut == 127)
    }
}
