import StoretraceAnalyze
import StoretraceDecode
import StoretraceFixtures
import StoretraceRecords
import StoretraceSession
import Testing

/// Keeps the derived events.
final class DerivedHealth: EventConsumer {
    var events: [(timestamp: UInt64, health: MountHealth)] = []
    func consume(_ event: Event, raw: RawRecord) {}
    func consumeDerived(_ event: Event, timestamp: UInt64) {
        if case .mountHealth(let health) = event { events.append((timestamp, health)) }
    }
}

/// `mount_health` from records, as live and replay derive it: kmsg lines,
/// block uevents and device-table changes against the table in force.
@Suite struct MountHealthAnalyzerTests {
    static func table(gone: Bool = false, autoclear: Bool = false) -> (DeviceTable, [UInt8]) {
        mountHealthTable(gone: gone, autoclear: autoclear)
    }

    func pipeline() -> (Pipeline, DerivedHealth) {
        let sink = DerivedHealth()
        let pipeline = Pipeline(filter: EventFilter(), consumers: [sink], merging: false)
        pipeline.add(MountHealthAnalyzer(pipeline: pipeline))
        let (table, json) = Self.table()
        pipeline.updateDevices(table, json: json, timestamp: 1)
        return (pipeline, sink)
    }

    func submit(_ pipeline: Pipeline, _ source: SourceKind, _ text: String, at timestamp: UInt64) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { pipeline.process(RawRecord(source: source, timestamp: timestamp, bytes: $0)) }
    }

    @Test func ioErrorThenRemovalOfTheDisk() {
        let (pipeline, sink) = pipeline()
        submit(pipeline, .kmsg, "3,10,100,-;blk_update_request: I/O error, dev vde, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n", at: 100)
        submit(pipeline, .kmsg, "3,11,101,-;I/O error, dev vde, sector 4096 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n", at: 101)
        submit(pipeline, .uevent, "remove@/devices/pci0000:00/0000:00:06.0/virtio4/block/vde\0ACTION=remove\0DEVPATH=/devices/pci0000:00/0000:00:06.0/virtio4/block/vde\0SUBSYSTEM=block\0MAJOR=252\0MINOR=64\0DEVNAME=vde\0DEVTYPE=disk\0SEQNUM=5120\0", at: 200)
        submit(pipeline, .kmsg, "3,12,300,-;EXT4-fs error (device vde): ext4_find_entry:1463: inode #2: comm kubelet: reading directory lblock 0\n", at: 300)
        #expect(sink.events.map(\.health.cause) == [.ioError, .deviceRemoved, .filesystemError])
        #expect(sink.events.map(\.timestamp) == [100, 200, 300])
        let removed = sink.events[1].health
        #expect(removed.mount.mountPoint == "/var/lib/kubelet/pods/p/volumes/v/mount")
        #expect(removed.detail == "uevent remove /devices/pci0000:00/0000:00:06.0/virtio4/block/vde seq=5120")
        #expect(removed.ioErrors == 2 && removed.firstProblem == 100)
        #expect(sink.events[2].health.causes == [.ioError, .deviceRemoved, .filesystemError])
        // A line that names no problem, and a uevent of another kind, change nothing.
        submit(pipeline, .kmsg, "6,13,400,-;EXT4-fs (vde): unmounting filesystem.\n", at: 400)
        submit(pipeline, .uevent, "change@/devices/virtual/block/loop3\0ACTION=change\0DEVPATH=/devices/virtual/block/loop3\0SUBSYSTEM=block\0MAJOR=7\0MINOR=3\0SEQNUM=5121\0", at: 401)
        #expect(sink.events.count == 3)
    }

    @Test func tableChangesDetachAndDeviceGone() {
        let (pipeline, sink) = pipeline()
        let (detached, json) = Self.table(gone: true, autoclear: true)
        pipeline.updateDevices(detached, json: json, timestamp: 500)
        #expect(sink.events.map(\.health.cause) == [.deviceRemoved, .detachPending])
        #expect(sink.events.map(\.health.mount.mountPoint) == ["/var/lib/kubelet/pods/p/volumes/v/mount", "/mnt/l"])
        #expect(sink.events[0].health.detail == "vde left /sys/block while mounted")
        #expect(sink.events[1].health.detail == "loop3 detached while mounted (autoclear): it goes at the last unmount")
    }

    /// Live, a table taken while the merge still holds older records waits for them.
    @Test func scheduledTablesApplyInTimeOrder() {
        let sink = DerivedHealth()
        let pipeline = Pipeline(filter: EventFilter(), consumers: [sink], merging: true)
        pipeline.add(MountHealthAnalyzer(pipeline: pipeline))
        let (table, json) = Self.table()
        pipeline.updateDevices(table, json: json, timestamp: 1)
        let (detached, json2) = Self.table(gone: true)
        pipeline.scheduleDevices(detached, json: json2, timestamp: 250)
        #expect(sink.events.isEmpty, "held until the records before it are released")
        submit(pipeline, .kmsg, "3,10,100,-;I/O error, dev vde, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n", at: 100)
        pipeline.release(upTo: 300)
        #expect(sink.events.map(\.health.cause) == [.ioError, .deviceRemoved])
        #expect(sink.events.map(\.timestamp) == [100, 250])
    }
}
