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
        let path = temporaryPath(".pftrace")
        defer { unlink(path) }
        let file = try AtomicFile(path: path)
        let sink = OutputSink(fd: file.fd)
        let exporter = exporter(sink)
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
        exporter.finish()
        try file.commit()

        let trace = try DecodedTrace(path: path)
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
        #expect(exporter.counts.flows == 1)
    }
}
