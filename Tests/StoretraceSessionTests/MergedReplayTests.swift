import Foundation
import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceFixtures
import StoretraceRecords
import StoretraceRender
import Testing
@testable import StoretraceSession

/// `replay a.stcap b.stcap` of captures from two nodes: one timeline in
/// wall-clock order, each event with its host, each node's state its own.
/// The two captures are written here, the second as by a node booted later
/// (`monotonicShift`: half the time this machine has been up), so the
/// nodes' monotonic clocks disagree and only wall-clock time can order
/// their events.
@Suite(.serialized) struct MergedReplayTests {
    /// How much later node B "booted".
    static let shift = KernelClockForTests.monotonic() / 2
    static let millisecond: Int64 = 1_000_000

    /// A capture of `host`: its start snapshot, then `calls` at the given
    /// wall-clock times (ns since the epoch).
    static func capture(host: String, boot: String, shift: UInt64,
                        calls: [(wall: Int64, record: RecordBuilder)]) throws -> String {
        let path = FileManager.default.temporaryDirectory.path
            + "/st-merged-\(host)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).stcap"
        var options = CaptureWriterOptions(syncOnFlush: false)
        options.monotonicShift = shift
        let recorder = try CaptureRecorder(path: path, options: options, decoder: EventDecoder())
        let clock = recorder.writer.initialClockSample
        let snapshot = NodeSnapshot(
            takenAt: .init(monotonicNanoseconds: Int64(clock.monotonicNs), realtimeNanoseconds: Int64(clock.realtimeNs)),
            clockOffsets: .init(realtimeMinusMonotonic: clock.realtimeOffsetNs),
            hostname: host, bootID: boot)
        recorder.appendSnapshot(Array(snapshot.jsonText(.compact).utf8))
        for (wall, call) in calls {
            var record = call
            record.timestamp = UInt64(wall - clock.realtimeOffsetNs)
            try recorder.writer.append(type: SourceKind.syscall.rawValue, timestamp: record.timestamp, bytes: record.bytes)
        }
        recorder.close(drops: [], note: "test")
        return path
    }

    static func replay(_ paths: [String], json: Bool = false) throws -> (lines: [String], summary: ReplaySummary) {
        var template = Array("/tmp/storetrace-merged-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        #expect(fd >= 0)
        let path = String(cString: template)
        defer { close(fd); unlink(path) }
        var config = ReplayConfiguration(paths: paths)
        config.outputFD = fd
        config.format = json ? .json : .text
        setenv("TZ", "UTC", 1)
        tzset()
        let summary = try ReplaySession(configuration: config).run()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return (text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init), summary)
    }

    static func call(_ builder: RecordBuilder, pid: UInt32) -> RecordBuilder {
        var builder = builder
        builder.pid = pid
        builder.tid = pid
        builder.latency = 2_000
        return builder
    }

    /// Node A and node B: pid 100 on both runs calls of the new mount API
    /// with fd 3, interleaved in time. Were their state shared, B's
    /// fsconfig and fsmount would finish A's fsopen.
    static func twoNodes() throws -> (a: String, b: String) {
        let now = Int64(KernelClockForTests.realtime())
        let base = now + 50 * millisecond
        let a = try capture(host: "node-a", boot: "aaaaaaaa-1111-2222-3333-444444444444", shift: 0, calls: [
            (base + 1 * millisecond, call(.fsopenCall("ext4", ret: 3), pid: 100)),
            (base + 3 * millisecond, call(.fsconfigCall(3, 1, "source", "/dev/vdb"), pid: 100)),
            (base + 5 * millisecond, call(.mountCall("/dev/vdc", "/var/lib/kubelet/pods/7f3e1c2a-0000-4000-8000-000000000001/volumes/kubernetes.io~csi/pvc-a/mount",
                                                    "ext4", flags: 0), pid: 200)),
        ])
        let b = try capture(host: "node-b", boot: "bbbbbbbb-1111-2222-3333-444444444444", shift: shift, calls: [
            (base + 2 * millisecond, call(.fsconfigCall(3, 6), pid: 100)),
            (base + 4 * millisecond, call(.fsmountCall(3, ret: 4), pid: 100)),
            (base + 6 * millisecond, call(.moveMountCall(4, "", -100, "/mnt/b"), pid: 100)),
        ])
        return (a, b)
    }

    /// What a line of one node's replay becomes in a merged one.
    static func withHost(_ line: String, _ host: String, width: Int, json: Bool) -> String {
        if json {
            // {"time":"2026-...Z", then the host
            let end = line.index(line.startIndex, offsetBy: "{\"time\":\"2026-12-07T01:54:13.123456789Z\"".count)
            return String(line[..<end]) + ",\"host\":\"\(host)\"" + String(line[end...])
        }
        let time = line.index(line.startIndex, offsetBy: "01:54:13.123456  ".count)
        return String(line[..<time]) + host.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(line[time...])
    }

    @Test func twoNodesReplayAsOneTimelineInWallClockOrder() throws {
        let (a, b) = try Self.twoNodes()
        defer { unlink(a); unlink(b) }
        for json in [false, true] {
            let aloneA = try Self.replay([a], json: json).lines
            let aloneB = try Self.replay([b], json: json).lines
            // B's paths given first: the order of the arguments does not matter.
            let (merged, summary) = try Self.replay([b, a], json: json)
            #expect(summary.nodes.map(\.label) == ["node-a", "node-b"] || summary.nodes.map(\.label) == ["node-b", "node-a"])
            #expect(summary.counts.shown == 6)
            // Each node's lines are its own replay's, with its host.
            let hostA = json ? "\"host\":\"node-a\"" : "  node-a  "
            let hostB = json ? "\"host\":\"node-b\"" : "  node-b  "
            #expect(merged.filter { $0.contains(hostA) } == aloneA.map { Self.withHost($0, "node-a", width: 6, json: json) })
            #expect(merged.filter { $0.contains(hostB) } == aloneB.map { Self.withHost($0, "node-b", width: 6, json: json) })
            #expect(merged.count == aloneA.count + aloneB.count)
            // The calls, in wall-clock order: A, B, A, B, A, B.
            let calls = merged.filter { json ? !$0.contains("\"type\":\"mount_op\"") : !$0.contains("mount_op:") }
            let order = calls.map { $0.contains(hostA) ? "a" : "b" }
            #expect(order == ["a", "b", "a", "b", "a", "b"], "\(calls)")
            let kinds = calls.map { line in ["fsopen", "fsconfig", "fsmount", "move_mount", "mount"].first { line.contains(json ? "\"type\":\"\($0)\"" : "  \($0)(") } ?? "?" }
            #expect(kinds == ["fsopen", "fsconfig", "fsconfig", "fsmount", "mount", "move_mount"])
        }
    }

    @Test func aPidOnOneNodeIsNotAPidOnTheOther() throws {
        let (a, b) = try Self.twoNodes()
        defer { unlink(a); unlink(b) }
        let (merged, _) = try Self.replay([a, b])
        // A's fsopen never got its filesystem: B's fsconfig(3, CMD_CREATE) is another node's fd 3.
        let operationsOfA = merged.filter { $0.contains("  node-a  mount[100] ") && $0.contains("mount_op:") }
        #expect(operationsOfA.count == 1)
        #expect(operationsOfA.first?.contains("new mount of ext4 \"/dev/vdb\" (fsopen, fsconfig) incomplete: filesystem never created (tracing stopped)") == true,
                "\(operationsOfA)")
        // B's calls are an operation of their own, attached at /mnt/b.
        let operationsOfB = merged.filter { $0.contains("  node-b  mount[100] ") && $0.contains("mount_op:") }
        #expect(operationsOfB.count == 1)
        #expect(operationsOfB.first?.contains("\"/mnt/b\"") == true, "\(operationsOfB)")
        // The kubelet path of A's mount is decoded on its line, and on its mount_op.
        #expect(merged.filter { $0.contains("  node-a  mount[200] ") && $0.hasSuffix("[pod-publish pod 7f3e1c2a… vol pvc-a]") }.count == 2)
    }

    @Test func oneNodeStaysByteForByteAsItWas() throws {
        let (a, b) = try Self.twoNodes()
        defer { unlink(a); unlink(b) }
        let alone = try Self.replay([a]).lines
        #expect(!alone.isEmpty)
        #expect(!alone.contains { $0.contains("node-a") }, "no host column for one node")
        let json = try Self.replay([a], json: true).lines
        #expect(!json.contains { $0.contains("\"host\":") })
    }

    @Test func filtersApplyToEveryNode() throws {
        let (a, b) = try Self.twoNodes()
        defer { unlink(a); unlink(b) }
        var template = Array("/tmp/storetrace-merged-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        let path = String(cString: template)
        defer { close(fd); unlink(path) }
        var config = ReplayConfiguration(paths: [a, b])
        config.outputFD = fd
        config.format = .json
        config.filter.pids = [100]
        let summary = try ReplaySession(configuration: config).run()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(summary.counts.received == 6)
        #expect(lines.filter { $0.contains("\"type\":\"mount\"") }.isEmpty, "pid 200's mount is filtered out")
        #expect(lines.filter { !$0.contains("mount_op") }.count == 5)
    }

    @Test func filesOfOneNodeAndBootAreOneStream() throws {
        let (a, b) = try Self.twoNodes()
        let a2 = try Self.capture(host: "node-a", boot: "aaaaaaaa-1111-2222-3333-444444444444", shift: 0, calls: [])
        let reboot = try Self.capture(host: "node-a", boot: "cccccccc-1111-2222-3333-444444444444", shift: Self.shift, calls: [])
        defer { for path in [a, b, a2, reboot] { unlink(path) } }
        let streams = try CaptureSet.streams(files: CaptureSet.paths([a, b, a2, reboot]))
        #expect(streams.map(\.label) == ["node-a/aaaaaaaa", "node-b", "node-a/cccccccc"])
        #expect(streams[0].paths == [a, a2])
        #expect(streams[1].paths == [b])
    }

    @Test func clocksThatCannotBeComparedAreSaidSo() throws {
        let (a, b) = try Self.twoNodes()
        defer { unlink(a); unlink(b) }
        let streams = try CaptureSet.streams(files: [a, b])
        let summaries = try streams.map { stream in try stream.paths.map { try CaptureSummary(path: $0) } }
        let clocks = NodeClocks(streams: streams, summaries: summaries)
        #expect(clocks.nodes.count == 2)
        // B "booted" later: its offset is that much more.
        let offsetA = try #require(clocks.nodes[0].offset), offsetB = try #require(clocks.nodes[1].offset)
        #expect(abs((offsetB - offsetA) - Int64(Self.shift)) < 5 * Self.millisecond)
        #expect(clocks.nodes.allSatisfy { $0.offsetSpread < NodeClocks.steadyWithin })
        // Overlapping spans, steady offsets, no sync state recorded: no doubt.
        #expect(clocks.doubts.isEmpty, "\(clocks.doubts)")

        // A node whose spans lie apart, and one that says its clock is not synchronized.
        let later = Int64(KernelClockForTests.realtime()) + 3_600 * 1_000 * Self.millisecond
        let apart = try Self.capture(host: "node-c", boot: "cccccccc-0000-0000-0000-000000000000", shift: 0,
                                     calls: [(later, Self.call(.umountCall("/mnt/c"), pid: 7))])
        defer { unlink(apart) }
        let three = try CaptureSet.streams(files: [a, b, apart])
        var threeSummaries = try three.map { stream in try stream.paths.map { try CaptureSummary(path: $0) } }
        var unsynchronized = threeSummaries[2][0].snapshots[0]
        unsynchronized.clockSync = .init(synchronized: false, maxErrorMicroseconds: 16_000_000)
        threeSummaries[2][0].snapshots = [unsynchronized]
        let doubts = NodeClocks(streams: three, summaries: threeSummaries).doubts
        #expect(doubts.count == 2, "\(doubts)")
        #expect(doubts.contains("node-c's kernel said its clock was not synchronized (NTP) when recording started"))
        #expect(doubts.contains { $0.hasPrefix("node-c starts ") && $0.hasSuffix(" s after node-b ends: their events do not interleave (fine if they were recorded apart)") })
        // Several unsynchronized clocks: one sentence.
        var unsynchronizedA = threeSummaries[0][0].snapshots[0]
        unsynchronizedA.clockSync = .init(synchronized: false)
        threeSummaries[0][0].snapshots = [unsynchronizedA]
        #expect(NodeClocks(streams: three, summaries: threeSummaries).doubts.first
                == "the kernels of node-a, node-c said their clocks were not synchronized (NTP) when recording started")
    }

    @Test func hostColumnEscapesAndAligns() {
        let column = HostColumn(host: "n\u{1B}[31m", width: 12)
        var out = OutputBuffer(capacity: 256)
        out.append("01:54:13.123456  mount[1]  x\n  ↳ busy: y\n")
        column.insertText(since: 0, into: &out)
        let text = String(decoding: out.bytes, as: UTF8.self)
        #expect(text == "01:54:13.123456  n\\x1b[31m     mount[1]  x\n                 n\\x1b[31m       ↳ busy: y\n")
        out.removeAll()
        out.append("{\"time\":\"2026-12-07T01:54:13.123456789Z\",\"type\":\"mount\"}\n")
        column.insertJSON(since: 0, into: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self)
                == "{\"time\":\"2026-12-07T01:54:13.123456789Z\",\"host\":\"n\\u001b[31m\",\"type\":\"mount\"}\n")
    }
}

/// CLOCK_REALTIME without the kernel module.
enum KernelClockForTests {
    static func realtime() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func monotonic() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
