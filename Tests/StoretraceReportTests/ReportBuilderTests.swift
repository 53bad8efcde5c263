import StoretraceAnalyze
import StoretraceDecode
import StoretraceFixtures
import StoretraceRecords
import StoretraceRender
import Testing
@testable import StoretraceReport
@testable import StoretraceSession

/// The page built from small event streams, fed through a pipeline as
/// replay feeds it, on a fixed clock: exact fragments of what it says and
/// draws, names from hostile users escaped, and lanes past their budget
/// added up per time bucket.
@Suite struct ReportBuilderTests {
    /// Wall time = monotonic + 1,796,600,000 s: 2026-12-06T23:33:20Z at monotonic 0.
    static let clock = ClockOffset(realtimeMinusMonotonic: 1_796_600_000_000_000_000)
    static let second: UInt64 = 1_000_000_000

    /// A node with loop0 (read_ahead_kb 4) and a hostile host name.
    static let snapshot = NodeSnapshot(
        takenAt: .init(monotonicNanoseconds: 1_000_000_000, realtimeNanoseconds: 1_796_600_001_000_000_000),
        clockOffsets: .init(realtimeMinusMonotonic: 1_796_600_000_000_000_000), kernelRelease: "6.18.44",
        hostname: "<b>node</b>", bootID: "b00t", onlineCPUs: 2,
        mountNamespaces: [.init(inode: 4_026_531_832, processCount: 1, ownerPID: 1, ownerComm: "init",
                                mounts: [.init(mountID: 40, parentID: 1, major: 7, minor: 0, root: "/", mountPoint: "/mnt/<x>",
                                               options: "rw", fstype: "ext4", source: "/dev/loop0", superOptions: "rw")],
                                isHost: true)],
        blockDevices: [.init(name: "loop0", major: 7, minor: 0, sizeBytes: 64 << 20, readAheadKB: 4, rotational: false)])

    /// The session a replay would build, reduced to what the report needs.
    final class Incident {
        let printer: EventPrinter
        let pipeline: Pipeline
        let collector: ReportCollector
        let summary: SummaryAnalyzer

        init(limits: ReportLimits = ReportLimits(), snapshot: NodeSnapshot? = ReportBuilderTests.snapshot) {
            let decoder = EventDecoder()
            printer = EventPrinter(format: .text, text: TextRenderer(color: false, utcOffsetSeconds: 0, clock: ReportBuilderTests.clock),
                                   json: JSONRenderer(clock: ReportBuilderTests.clock), sink: OutputSink(fd: -1), decoder: decoder)
            if let snapshot { printer.enrichment = SnapshotEnrichment(NodeSnapshotIndex(snapshot)) }
            collector = ReportCollector(startDevices: snapshot.map { ($0.blockDevices, 1_000_000_000) }, limits: limits)
            collector.captureStarted(CaptureStart(clock: ReportBuilderTests.clock, startMonotonic: 1_000_000_000,
                                                  snapshot: snapshot, printer: printer, decoder: decoder))
            pipeline = Pipeline(filter: EventFilter(), decoder: decoder, consumers: [collector], merging: false)
            summary = SummaryAnalyzer(devices: BlockDevicesInForce(snapshot?.blockDevices ?? []), filter: EventFilter())
            pipeline.add(MountOperationAnalyzer(pipeline: pipeline))
            pipeline.add(QueueSettingFollower(printer: printer, sampler: nil))
            pipeline.add(summary)
            pipeline.add(collector)
        }

        func add(_ source: SourceKind, _ bytes: [UInt8], at timestamp: UInt64) {
            bytes.withUnsafeBytes { pipeline.process(RawRecord(source: source, timestamp: timestamp, bytes: $0)) }
        }

        func call(_ builder: RecordBuilder, at timestamp: UInt64, pid: UInt32 = 4120, comm: String = "umount", latency: UInt64 = 5_000) {
            var record = builder
            record.timestamp = timestamp
            record.pid = pid
            record.tid = pid
            record.comm = comm
            record.latency = latency
            add(.syscall, record.bytes, at: timestamp)
        }

        func page() -> String {
            pipeline.finish()
            let replay = ReplaySummary(counts: pipeline.counts, tail: "complete", corruptions: [], skippedTypes: 0,
                                       storage: summary.summary)
            let page = ReportPage(collector: collector, snapshot: collector.printer.enrichment == nil ? nil : ReportBuilderTests.snapshot,
                                  clock: ReportBuilderTests.clock, captures: [], replay: replay,
                                  command: "storetrace report x.stcap -o <x>.html", limits: collector.limits)
            var out = OutputBuffer(capacity: 64 * 1024)
            page.write(into: &out)
            return String(decoding: out.bytes, as: UTF8.self)
        }
    }

    /// "<3>err" kmsg record, priority 3.
    static func kernelError(_ message: String, sequence: Int) -> [UInt8] {
        Array("3,\(sequence),5000000,-;\(message)\n".utf8)
    }

    @Test func aFailedUmountIsAFindingWithItsHolderAndMountOperationLinkedToItsMark() throws {
        let incident = Incident()
        let failedAt = 3 * Self.second
        incident.call(.mountCall("/dev/loop0", "/mnt/x", "ext4", flags: 0), at: 2 * Self.second, pid: 4100, comm: "mount")
        incident.call(.umountCall("/mnt/x", ret: -16), at: failedAt)
        // The scan's answer, 2 ms later, naming the call it explains.
        let report = HolderReport(
            target: .init(given: "/mnt/x", kind: .path, mountID: 40, mountNamespace: 4_026_531_832, mountPoint: "/mnt/x",
                          root: "/", fstype: "ext4", source: "/dev/loop0", major: 7, minor: 0),
            scannedAtMonotonicNanoseconds: Int64(failedAt + 2_000_000), durationNanoseconds: 1_000_000,
            holders: [.init(how: .cwd, via: .target, pid: 812, comm: "sleep<1>", mountNamespace: 4_026_531_832, path: "/mnt/x", mountID: 40)],
            namespaces: [.init(inode: 4_026_531_832, isHost: true, pid: 1, comm: "init", processCount: 2)],
            counts: .init(processes: 2, mountNamespaces: 1, mounts: 1))
        let explained = HoldersRecordCodec.Explained(timestamp: failedAt, pid: 4120, tid: 4120, type: Array("umount".utf8),
                                                     comm: Array("umount".utf8))
        incident.add(.holders, HoldersRecordCodec.encode(explained, reportJSON: report.jsonText()), at: failedAt + 2_000_000)
        let page = incident.page()

        // The lanes: devices and kernel log first (empty: not drawn), then a process each.
        #expect(page.contains(#"<text class="lane" x="204.00" y="37.00"><title>mount[4100]: 1 event</title>mount[4100]</text>"#))
        #expect(page.contains(#"<text class="lane bad" x="204.00" y="55.00"><title>umount[4120]: 1 event, 1 failed</title>umount[4120]</text>"#))
        // The failed call: red, 1 s into the 1.000005 s span; its title the replay line, the mount
        // operation it ended (derived at once) and the holder the scan found (2 ms later) under it.
        let line = "23:33:23.000000  umount[4120]           mnt:4026531841     5.00µs  umount2(&quot;/mnt/x&quot;, 0) = -1 EBUSY"
        let held = "  ↳ busy: pid 812 (sleep&lt;1&gt;) in host, cwd /mnt/x, on it"
        let operation = "23:33:23.000000  umount[4120]           mnt:4026531841     5.00µs  mount_op: unmount of &quot;/mnt/x&quot; (umount2) failed at umount2(&quot;/mnt/x&quot;, 0) = -1 EBUSY"
        #expect(page.contains(#"<rect id="m3-0" class="z fail" y="45.00" height="12.00" x="1180.00" width="2.00" data-t="1000000000" data-d="5000"><title>"#
                              + line + "\n" + operation + "\n" + held + "</title></rect>"), "\(page)")
        // The finding: the line, then what explains it, then where it is.
        #expect(page.contains("<h3>Failures <span class=\"count\">1</span></h3><article class=\"finding bad\" id=\"f0\"><pre>" + line
                              + "</pre><pre class=\"why\">" + operation + "</pre><pre class=\"why\">" + held + "</pre>"
                              + "<p class=\"where\"><a href=\"#m3-0\">on the timeline at +1.000000 s, lane umount[4120]</a></p></article>"),
                "\(page)")
        #expect(!page.contains("Setting changes"))
    }

    @Test func hostileNamesAreEscapedEverywhere() throws {
        let incident = Incident()
        incident.call(.umountCall("/mnt/</title><script>alert(1)</script>", ret: -22), at: 2 * Self.second, comm: "<img src=x>")
        incident.add(.kmsg, Self.kernelError("EXT4-fs error (device <svg onload=x>): \u{1B}[31mred", sequence: 7), at: 2 * Self.second + 10)
        let page = incident.page()
        // One script element: the report's own.
        #expect(page.ranges(of: "<script").count == 1)
        #expect(!page.contains("<img") && !page.contains("<svg onload") && !page.contains("</title><script>"))
        #expect(page.contains("<h1>Storage incident on &lt;b&gt;node&lt;/b&gt;</h1>"))
        #expect(page.contains(">&lt;img src=x&gt;[4120]</text>"))
        #expect(page.contains("umount2(&quot;/mnt/&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;, 0) = -1 EINVAL"))
        // A kernel log line: its escape sequence shown as text, its markup as text.
        #expect(page.contains("[kmsg]                                            &lt;3&gt;err EXT4-fs error (device &lt;svg onload=x&gt;): \\x1b[31mred"))
        #expect(page.contains("<td>/mnt/&lt;x&gt;</td>"))
        #expect(page.contains("<code>storetrace report x.stcap -o &lt;x&gt;.html</code>"))
    }

    @Test func aLanePastItsBudgetIsDrawnAsBucketsAndSaysSo() throws {
        var limits = ReportLimits()
        limits.marksPerLane = 4
        limits.bucketsPerLane = 8
        let incident = Incident(limits: limits)
        // Ten calls 1 ms apart (no latency), the seventh failing.
        for index in 0..<10 {
            incident.call(.umountCall("/mnt/x", ret: index == 6 ? -16 : 0), at: 2 * Self.second + UInt64(index) * 1_000_000, latency: 0)
        }
        let lane = try #require(incident.collector.lanes.first { $0.kind == .process(pid: 4120) })
        #expect(lane.isAggregated && lane.marks.isEmpty)
        let buckets = try #require(lane.buckets)
        // Folded at the fifth call: 8 buckets over twice the 4 ms seen (1 ms
        // each); widened to 2 ms when the call at 8 ms did not fit.
        #expect(buckets.slots.count == 8 && buckets.width == 2_000_000)
        #expect(buckets.slots.map(\.events) == [2, 2, 2, 2, 2, 0, 0, 0])
        #expect(buckets.slots.map(\.failed) == [0, 0, 0, 1, 0, 0, 0, 0])
        let page = incident.page()
        #expect(page.contains(">umount[4120] Σ</text>"))
        #expect(page.contains("<title>umount[4120]: 10 events, 1 failed; drawn as 8 buckets of 2.00ms</title>"))
        #expect(page.contains(#"<rect id="b2-3" class="z agg fail""#))
        #expect(page.contains("<title>2 events from 23:33:22.006000 to 23:33:22.008000, 1 failed; the first:\n23:33:22.006000  umount[4120]"))
        #expect(page.contains("Lanes with more than 4 events are drawn as counts per time bucket (Σ)"))
        #expect(page.contains("umount[4120] (10 events)"))
        // The finding links to the bucket the failure was added up in.
        #expect(page.contains("<a href=\"#b2-3\">on the timeline at +0.006000 s, lane umount[4120]</a>"))
        // Bounded: a rect per bucket with events, whatever the count.
        #expect(page.ranges(of: "class=\"z agg").count == 5)
    }

    @Test func processesPastTheLaneLimitShareALane() throws {
        var limits = ReportLimits()
        limits.processLanes = 2
        let incident = Incident(limits: limits)
        for pid: UInt32 in 100..<105 {
            incident.call(.umountCall("/mnt/x"), at: 2 * Self.second + UInt64(pid), pid: pid)
        }
        #expect(incident.collector.lanes.map { String(decoding: $0.label, as: UTF8.self) }
                == ["device events", "kernel log", "umount[100]", "umount[101]", "other processes"])
        let page = incident.page()
        #expect(page.contains("<title>other processes: 3 events, from 3 processes</title>other processes</text>"))
        #expect(page.contains("Processes after the first 2 with storage calls share the lane &quot;other processes&quot; (3 processes, 3 events)."))
    }

    @Test func aReadAheadChangeIsAFindingExplainedByTheCopiesBeforeAndAfter() throws {
        let incident = Incident()
        incident.call(.copyCall(bytes: 1 << 20, latency: 4_000_000), at: 2 * Self.second, comm: "cp", latency: 4_000_000)
        let change = QueueSettingChange(major: 7, minor: 0, device: Array("loop0".utf8), setting: .readAheadKB,
                                        old: Array("4".utf8), new: Array("128".utf8))
        incident.add(.queueSetting, QueueSettingCodec.encode(change), at: 3 * Self.second)
        incident.call(.copyCall(bytes: 1 << 20, latency: 2_000_000), at: 4 * Self.second, comm: "cp", latency: 2_000_000)
        let page = incident.page()
        #expect(page.contains("<h3>Setting changes <span class=\"count\">1</span></h3><article class=\"finding chg\" id=\"f0\"><pre>"
                              + "23:33:23.000000  [queue]                                           queue_setting loop0 7:0 read_ahead_kb 4 -&gt; 128</pre>"
                              + "<pre class=\"why\">  ↳ copies on loop0 with read_ahead_kb 4: 1 call, 1.0 MiB, 250.0 MiB/s</pre>"
                              + "<pre class=\"why\">  ↳ copies on loop0 with read_ahead_kb 128: 1 call, 1.0 MiB, 500.0 MiB/s</pre>"), "\(page)")
        // The chart: a bar per copy, and the read-ahead as steps (4 from the start, 128 from the change).
        // Millisecond buckets widened four times to reach the second copy 2 s later.
        #expect(page.contains("<title>1 copy, 1.0 MiB, 250.0 MiB/s from 23:33:22.000000 to 23:33:22.016000</title>"))
        #expect(page.contains("<title>read_ahead_kb 4 from the start</title>"))
        #expect(page.contains("<title>read_ahead_kb 128 from 23:33:23.000000</title>"))
        #expect(page.contains(">read_ahead_kb 128</text>"))
        #expect(page.contains("<text class=\"lane\" x=\"204.00\" y=\"72.00\">loop0 (7:0)</text>"))
    }

    /// A million events from 1,000 processes, every hundredth call failing
    /// the same way and a kernel error line with a new block number every
    /// thousandth: the page stays small, the lanes are counts, the repeats
    /// are one finding, the findings past the limit are counted.
    @Test func aMillionEventsMakeAPageOfBoundedSize() throws {
        let incident = Incident()
        var call = RecordBuilder.umountCall("/mnt/x").bytes
        var failed = RecordBuilder.umountCall("/mnt/x", ret: -16).bytes
        func stamp(_ record: inout [UInt8], pid: UInt32, at time: UInt64) {
            record.withUnsafeMutableBytes { bytes in
                bytes.storeBytes(of: pid.littleEndian, toByteOffset: 8, as: UInt32.self)   // pid
                bytes.storeBytes(of: pid.littleEndian, toByteOffset: 12, as: UInt32.self)  // tid
                bytes.storeBytes(of: time.littleEndian, toByteOffset: 32, as: UInt64.self) // entry stamp
            }
        }
        for index in 0..<1_000_000 {
            let time = 2 * Self.second + UInt64(index) * 10_000
            if index % 1000 == 999 {
                incident.add(.kmsg, Self.kernelError("EXT4-fs error (device loop0): block \(index)", sequence: index), at: time)
            } else if index % 100 == 50 {
                stamp(&failed, pid: UInt32(1000 + index % 1000), at: time)
                incident.add(.syscall, failed, at: time)
            } else {
                stamp(&call, pid: UInt32(1000 + index % 1000), at: time)
                incident.add(.syscall, call, at: time)
            }
        }
        let page = incident.page()
        #expect(page.utf8.count < 1_500_000, "\(page.utf8.count) bytes")
        let lanes = incident.collector.lanes.filter { $0.events > 0 }
        #expect(lanes.count == 42) // kernel log, 40 processes, the other processes
        #expect(lanes.allSatisfy { $0.isAggregated })
        #expect(lanes.allSatisfy { $0.buckets?.slots.count == 240 })
        let shared = try #require(lanes.last)
        #expect(shared.kind == .otherProcesses && shared.processes == 959) // 1999 logged, made no call
        let findings = incident.collector.findings
        #expect(findings.list.count == 200)
        #expect(findings.list[0].count == 10_000 && findings.list[0].kind == .failure)
        // Distinct ones are counted up to four times the limit.
        #expect(findings.notListed == 801 && findings.distinctNotListed == 800)
        #expect(page.contains("801 more occurrences of 800 or more other findings are not listed (the report lists 200)"))
        #expect(page.contains("<p class=\"where\">×10000, 23:33:22.000500 to 23:33:31.999500 · "))
    }

    @Test func anEmptyStreamSaysSo() {
        let incident = Incident(snapshot: nil)
        let page = incident.page()
        #expect(page.contains("<p class=\"none\">No failed call, kernel error, unhealthy mount or setting change among the events shown.</p>"))
        #expect(page.contains("<p class=\"none\">No events to draw.</p>"))
        #expect(page.contains("<p class=\"none\">The capture holds no node snapshot.</p>"))
        #expect(page.hasSuffix("</script>\n</body></html>\n"))
    }

    @Test func timeBucketsWidenByMergingPairs() {
        struct Count: BucketValue {
            var value = 0
            mutating func merge(_ other: Count) { value += other.value }
        }
        var buckets = TimeBuckets<Count>(origin: 1000, width: 10, count: 4)
        for time: UInt64 in [1000, 1015, 1039] { buckets.add(at: time) { $0.value += 1 } }
        #expect(buckets.slots.map(\.value) == [1, 1, 0, 1] && buckets.width == 10)
        buckets.add(at: 1040) { $0.value += 1 }  // past 4 × 10: widen once
        #expect(buckets.slots.map(\.value) == [2, 1, 1, 0] && buckets.width == 20)
        buckets.add(at: 1000 + 170) { $0.value += 1 }  // past 4 × 20 and 4 × 40: widen twice
        #expect(buckets.slots.map(\.value) == [4, 0, 1, 0] && buckets.width == 80)
        buckets.add(at: 500) { $0.value += 1 }  // before the origin: the first
        #expect(buckets.slots[0].value == 5 && buckets.slot(of: 1000 + 170) == 2)
    }

    @Test func textIsCutBeforeACharacterNotInsideIt() {
        #expect(ReportCollector.cut(Array("abcdé".utf8), to: 5) == Array("abcd…".utf8))
        #expect(ReportCollector.cut(Array("abcdé".utf8), to: 6) == Array("abcdé".utf8))
        #expect(ReportCollector.cut(Array("ab".utf8), to: 5) == Array("ab".utf8))
    }
}
