import Foundation
import Glibc
import StoretraceDecode
import StoretraceFixtures
import StoretraceRecords
import StoretraceRender
import StoretraceSession
import Testing
@testable import StoretraceExport

/// A failed umount2 and the holders event that explains it, made here and
/// handed to the exporter as the pipeline hands them: the flow from the one
/// to the other, read back with Perfetto's protos.
@Suite struct FlowExportTests {
    func exporter(_ sink: OutputSink) -> TimelineExporter {
        let exporter = TimelineExporter(writer: PerfettoTraceWriter(sink: sink))
        let clock = ClockOffset(realtimeMinusMonotonic: 1_800_000_000_000_000_000)
        let decoder = EventDecoder()
        let printer = EventPrinter(format: .json, text: TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock),
                                   json: JSONRenderer(clock: clock), sink: sink, decoder: decoder)
        exporter.captureStarted(CaptureStart(clock: clock, startMonotonic: 500, snapshot: nil, printer: printer, decoder: decoder))
        return exporter
    }

    /// What `body` hands the exporter, written and read back.
    func exported(_ body: (TimelineExporter) throws -> Void) throws -> (DecodedTrace, ExportCounts) {
        let path = temporaryPath(".pftrace")
        defer { unlink(path) }
        let file = try AtomicFile(path: path)
        let exporter = exporter(OutputSink(fd: file.fd))
        try body(exporter)
        exporter.finish()
        try file.commit()
        return (try DecodedTrace(path: path), exporter.counts)
    }

    func umount(target: String, tid: UInt32, at timestamp: UInt64, errno: Int64) -> [UInt8] {
        var builder = RecordBuilder()
        builder.kind = SyscallKind.umount.rawValue
        builder.pid = 812
        builder.tid = tid
        builder.comm = "umount"
        builder.timestamp = timestamp
        builder.latency = 2_000
        builder.ret = -errno
        builder.strings = [target]
        return builder.bytes
    }

    func consume(_ exporter: TimelineExporter, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            let record = try SyscallRecord(validating: raw)
            exporter.consume(.syscall(record), raw: RawRecord(source: .syscall, timestamp: record.timestamp, bytes: raw))
        }
    }

    @Test func theHoldersInstantEndsAFlowFromTheFailureItExplains() throws {
        let (trace, counts) = try exported { exporter in
            // Failed with EBUSY: explained later. Failed otherwise: never.
            try consume(exporter, umount(target: "/var/lib/kubelet/plugins/kubernetes.io/csi/pv/pvc-1/globalmount", tid: 813,
                                         at: 1_000_000, errno: 16))
            try consume(exporter, umount(target: "/mnt/other", tid: 814, at: 1_500_000, errno: 22))
            let report = HolderReport(target: .init(given: "/var/lib/kubelet/plugins/kubernetes.io/csi/pv/pvc-1/globalmount",
                                                    kind: .path, major: 0, minor: 45),
                                      scannedAtMonotonicNanoseconds: 3_000_000,
                                      holders: [.init(how: .cwd, via: .target, pid: 900, comm: "sleep", mountNamespace: 4_026_531_832,
                                                      path: "/var/lib/kubelet/plugins/kubernetes.io/csi/pv/pvc-1/globalmount")],
                                      namespaces: [.init(inode: 4_026_531_832, isHost: true, pid: 1, comm: "init", processCount: 80)])
            let explains = HolderRenderer.Explains(type: "umount", pid: 812, tid: 813, comm: "umount", monotonicNanoseconds: 1_000_000)
            let empty: [UInt8] = [0]
            empty.withUnsafeBytes { raw in
                exporter.consume(.holders(report, explains: explains), raw: RawRecord(source: .holders, timestamp: 1_002_001, bytes: raw))
            }
        }
        #expect(trace.errors == [])
        #expect(trace.slices.map { $0["name"] as? String } == ["umount2 /var/lib/…/globalmount = -1 EBUSY", "umount2 /mnt/other = -1 EINVAL"])
        #expect(trace.slices.map { ($0["flow_ids"] as? [Any])?.count } == [1, 0])
        let findings = trace.on(trace.uuid(trace.track(named: "findings (holders, mount health)")), trace.instants)
        #expect(findings.map { $0["name"] as? String } == ["holders /var/lib/…/globalmount: 1 holder"])
        let args = try #require(findings.first?["args"] as? [String: Any])
        #expect(args["explanation"] as? [String] == ["busy: pid 900 (sleep) in host, cwd /var/lib/kubelet/plugins/kubernetes.io/csi/pv/pvc-1/globalmount, on it"])
        #expect((args["explains"] as? [String: Any])?["tid"] as? Int == 813)
        #expect(trace.flows.map { "\($0["from"]!) @\($0["from_ts"]!) → \($0["to"]!) @\($0["to_ts"]!)" } == [
            "umount2 /var/lib/…/globalmount = -1 EBUSY @1000000 → holders /var/lib/…/globalmount: 1 holder @1002001",
        ])
        #expect(counts.flows == 1)
    }

    /// A kernel log line and a uevent that make a mount unhealthy: each
    /// `mount_health` instant ends a flow from the one it was derived from,
    /// through the pipeline with its analyzer, as in replay.
    @Test func aMountHealthInstantEndsAFlowFromItsCause() throws {
        let (trace, _) = try exported { exporter in
            let pipeline = Pipeline(filter: EventFilter(), consumers: [exporter], merging: false)
            pipeline.add(MountHealthAnalyzer(pipeline: pipeline))
            let (table, json) = mountHealthTable()
            pipeline.updateDevices(table, json: json, timestamp: 1)
            func submit(_ source: SourceKind, _ text: String, at timestamp: UInt64) {
                Array(text.utf8).withUnsafeBytes { pipeline.process(RawRecord(source: source, timestamp: timestamp, bytes: $0)) }
            }
            submit(.kmsg, "3,10,100,-;I/O error, dev vde, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n", at: 100)
            submit(.kmsg, "6,11,150,-;EXT4-fs (vde): unmounting filesystem.\n", at: 150)
            submit(.uevent, "remove@/devices/virtual/block/vde\0ACTION=remove\0DEVPATH=/devices/virtual/block/vde\0SUBSYSTEM=block\0MAJOR=252\0MINOR=64\0DEVNAME=vde\0DEVTYPE=disk\0SEQNUM=5120\0", at: 200)
            pipeline.finish()
        }
        #expect(trace.errors == [])
        #expect(trace.on(trace.uuid(trace.track(named: "kernel log")), trace.instants).map { $0["name"] as? String } == [
            "I/O error, dev vde, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0", "EXT4-fs (vde): unmounting filesystem.",
        ])
        #expect(trace.flows.map { "\($0["from"]!) @\($0["from_ts"]!) → \($0["to"]!) @\($0["to_ts"]!)" } == [
            "I/O error, dev vde, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0 @100 → mount_health io_error /var/lib/…/mount @100",
            "remove block vde @200 → mount_health device_removed /var/lib/…/mount @200",
        ])
        let health = trace.on(trace.uuid(trace.track(named: "findings (holders, mount health)")), trace.instants)
        #expect(health.map { $0["categories"] as? [String] } == [["mount_health", "failed"], ["mount_health", "failed"]])
        #expect(health.map { ($0["args"] as? [String: Any])?["cause"] as? String } == ["io_error", "device_removed"])
    }
}
