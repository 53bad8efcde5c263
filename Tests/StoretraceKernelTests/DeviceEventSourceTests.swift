import CAllocCounter
import CStoretraceSys
import Foundation
import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import StoretraceSession
import Testing

private let loopControlAdd: UInt = 0x4C80     // LOOP_CTL_ADD
private let loopControlRemove: UInt = 0x4C81  // LOOP_CTL_REMOVE
private let loopMajor: UInt32 = 7

/// A loop device made through /dev/loop-control at an index nothing uses,
/// removed at deinit if the test did not remove it.
final class ScratchLoopDevice {
    let control: Int32
    let index: Int32
    private(set) var removed = false

    init() throws {
        control = try check(open("/dev/loop-control", O_RDWR | O_CLOEXEC), "open /dev/loop-control")
        var candidate = Int32.random(in: 200..<400)
        while access("/sys/block/loop\(candidate)", F_OK) == 0 { candidate += 1 }
        index = candidate
        let added = ioctl(control, loopControlAdd, index)
        if added != index {
            Glibc.close(control)
            throw SyscallFailed(description: "LOOP_CTL_ADD \(index): \(added), \(String(cString: strerror(errno)))")
        }
    }

    var name: String { "loop\(index)" }

    func remove() throws {
        // Whoever probes a new disk (udev, blkid) may hold it for a moment.
        for _ in 0..<100 {
            if ioctl(control, loopControlRemove, index) == 0 {
                removed = true
                return
            }
            guard errno == EBUSY else { break }
            usleep(10_000)
        }
        throw SyscallFailed(description: "LOOP_CTL_REMOVE \(index): \(String(cString: strerror(errno)))")
    }

    deinit {
        if !removed { try? remove() }
        Glibc.close(control)
    }
}

/// Writes one line to /dev/kmsg through a fresh descriptor: the kernel rate
/// limits writes per open file (printk_devkmsg=ratelimit: 10 per 5 s).
func writeKernelLog(_ line: String) throws {
    let fd = try check(open("/dev/kmsg", O_WRONLY | O_CLOEXEC), "open /dev/kmsg")
    defer { Glibc.close(fd) }
    let bytes = Array(line.utf8)
    let written = write(fd, bytes, bytes.count)
    if written != bytes.count { throw SyscallFailed(description: "write /dev/kmsg: \(written)") }
}

extension KernelTests {
@Suite struct DeviceEventSourceTests {
    struct SeenUevent: Equatable {
        var action: UeventAction
        var subsystem: String
        var devname: String?
        var major: UInt32?
        var minor: UInt32?
    }

    func uevents(_ records: [CopiedRecord], devpathSuffix: String) throws -> [(SeenUevent, CopiedRecord)] {
        try records.compactMap { record in
            try record.bytes.withUnsafeBytes { bytes in
                let message = try UeventMessage(parsing: bytes)
                guard String(decoding: message.devpath, as: UTF8.self).hasSuffix(devpathSuffix) else { return nil }
                let seen = SeenUevent(
                    action: message.action, subsystem: String(decoding: message.subsystem, as: UTF8.self),
                    devname: message.devname.map { String(decoding: $0, as: UTF8.self) },
                    major: message.major, minor: message.minor)
                return (seen, record)
            }
        }
    }

    @Test func loopDeviceAddChangeRemoveArriveAsUevents() throws {
        let source = try UeventSource()
        defer { source.close() }
        #expect(source.pollFDs.count == 1)
        #expect(source.receiveBufferBytes >= 4 << 20)  // SO_RCVBUFFORCE as root (reported doubled)

        let start = UInt64(KernelClock.now(CLOCK_MONOTONIC))
        let loop = try ScratchLoopDevice()
        let ueventFile = "/sys/block/\(loop.name)/uevent"
        let fd = try check(open(ueventFile, O_WRONLY | O_CLOEXEC), "open \(ueventFile)")
        #expect(write(fd, "change", 6) == 6)
        Glibc.close(fd)
        try loop.remove()

        let records = drainUntil(source) { records in
            (try? uevents(records, devpathSuffix: "/" + loop.name).contains { $0.0.action == .remove }) == true
        }
        let seen = try uevents(records, devpathSuffix: "/" + loop.name)
        let expected = { (action: UeventAction) in
            SeenUevent(action: action, subsystem: "block", devname: loop.name, major: loopMajor, minor: UInt32(loop.index))
        }
        #expect(seen.map(\.0) == [expected(.add), expected(.change), expected(.remove)])
        for (_, record) in seen {
            #expect(record.source == .uevent)
            #expect(record.timestamp >= start && record.timestamp <= UInt64(KernelClock.now(CLOCK_MONOTONIC)))
        }
        // Stamped at receipt (the message has no time of its own), in order.
        #expect(seen.map(\.1.timestamp) == seen.map(\.1.timestamp).sorted())
        #expect(source.losses.allSatisfy { $0.count == 0 }, "\(source.losses)")
        #expect(source.losses.map(\.name) == [
            "uevent overrun", "uevents lost in overruns", "uevent seqnums not received (sent to other network namespaces)",
            "uevent context lookups skipped (over 64 a second)",
            "uevent truncated", "uevent not from kernel", "uevent receive errors",
        ])
        // A loop device without a file: its add and change say so (read from sysfs at receipt).
        for (event, record) in seen where event.action != .remove {
            let detached = try record.bytes.withUnsafeBytes { bytes in
                let context = try UeventMessage(parsing: bytes).loopContext
                return context != nil && context?.backingFile == nil
            }
            #expect(detached, "\(event)")
        }
    }

    /// The source delivers every kernel uevent; the pipeline keeps the
    /// subsystems asked for and counts the rest as filtered out.
    @Test func subsystemFilterKeepsOnlyTheNamedSubsystems() throws {
        let source = try UeventSource()
        defer { source.close() }
        let loop = try ScratchLoopDevice()
        try loop.remove()
        let records = drainUntil(source) { records in
            records.contains { $0.bytes.withUnsafeBytes {
                (try? UeventMessage(parsing: $0)).map { $0.action == .remove && String(decoding: $0.devpath, as: UTF8.self).hasSuffix(loop.name) } == true
            } }
        }
        func passing(_ subsystems: [String]?) -> (subsystems: Set<String>, counts: PipelineCounts) {
            final class Subsystems: EventConsumer {
                var seen: Set<String> = []
                func consume(_ event: Event, raw: RawRecord) {
                    if case .uevent(let message) = event { seen.insert(String(decoding: message.subsystem, as: UTF8.self)) }
                }
            }
            var filter = EventFilter()
            filter.ueventSubsystems = subsystems.map { $0.map { Array($0.utf8) } }
            let consumer = Subsystems()
            let pipeline = Pipeline(filter: filter, consumers: [consumer], merging: false)
            for record in records {
                record.bytes.withUnsafeBytes { pipeline.process(RawRecord(source: .uevent, timestamp: record.timestamp, bytes: $0)) }
            }
            return (consumer.seen, pipeline.counts)
        }
        let bdi = passing(["bdi"]), everything = passing(nil)
        #expect(bdi.subsystems == ["bdi"])
        #expect(everything.subsystems.isSuperset(of: ["bdi", "block"]))
        #expect(everything.counts.shown == UInt64(records.count))
        #expect(bdi.counts.filteredOut == UInt64(records.count) - bdi.counts.shown)
        #expect(bdi.counts.filteredOut >= 2, "the loop device's add and remove are block uevents")
        // Every one left out is a uevent of another subsystem, counted as such.
        #expect(bdi.counts.ueventsOtherSubsystems == bdi.counts.filteredOut)
        #expect(everything.counts.ueventsOtherSubsystems == 0)
    }

    @Test func lineWrittenToDevKmsgIsReadAsAKmsgRecord() throws {
        let marker = "storetrace-test-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let offset = try #require(KmsgSource.measurePrintkClockOffset())
        #expect(abs(offset) < 1_000_000_000)  // the same time base, apart by less than a second
        try writeKernelLog("<5>\(marker)-before\n")
        let source = try KmsgSource(clockOffset: offset)  // from the end: the line above is history
        defer { source.close() }
        let start = UInt64(KernelClock.now(CLOCK_MONOTONIC))
        try writeKernelLog("<5>\(marker)\n")
        let end = UInt64(KernelClock.now(CLOCK_MONOTONIC))

        func messages(_ records: [CopiedRecord]) -> [String] {
            records.compactMap { record in
                record.bytes.withUnsafeBytes { (try? KmsgRecord(parsing: $0)).map { String(decoding: $0.message, as: UTF8.self) } }
            }
        }
        let records = drainUntil(source) { messages($0).contains(marker) }
        #expect(messages(records).filter { $0.hasPrefix(marker) } == [marker])
        let record = try #require(records.first { messages([$0]) == [marker] })
        #expect(record.source == .kmsg)
        try record.bytes.withUnsafeBytes { bytes in
            let parsed = try KmsgRecord(parsing: bytes)
            #expect(parsed.level == .notice)
            #expect(parsed.facility == 1)  // a line from user space is LOG_USER
            #expect(parsed.flag == UInt8(ascii: "-"))
            #expect(Int64(record.timestamp) == Int64(parsed.timestampMicroseconds * 1000) + offset)
        }
        // Brought onto CLOCK_MONOTONIC, the stamp lies within our readings,
        // give or take the µs rounding and the offset's error (half its tightest bracket); uncalibrated it is ~330 µs off here.
        #expect(record.timestamp + 100_000 >= start && record.timestamp <= end + 100_000,
                "start \(start) record \(record.timestamp) end \(end) offset \(offset)")
        #expect(source.losses.allSatisfy { $0.count == 0 }, "\(source.losses)")

        let withBacklog = try KmsgSource(backlog: true)
        defer { withBacklog.close() }
        let history = messages(drainUntil(withBacklog) { messages($0).contains(marker) })
        #expect(history.filter { $0.hasPrefix(marker) } == [marker + "-before", marker])
    }

    @Test func drainLoopsAllocateNothing() throws {
        // kmsg
        let kmsg = try KmsgSource()
        defer { kmsg.close() }
        for number in 0..<40 { try writeKernelLog("<7>storetrace-alloc-test \(number)\n") }
        var kmsgRecords = 0
        st_alloc_counting_begin()
        kmsg.drain { _ in kmsgRecords += 1 }
        let kmsgAllocations = st_alloc_counting_end()
        #expect(kmsgRecords >= 40)
        #expect(kmsgAllocations == 0)

        // uevents
        let uevents = try UeventSource()
        defer { uevents.close() }
        let loop = try ScratchLoopDevice()
        for _ in 0..<40 {
            let fd = try check(open("/sys/block/\(loop.name)/uevent", O_WRONLY | O_CLOEXEC), "open uevent")
            _ = write(fd, "change", 6)
            Glibc.close(fd)
        }
        usleep(50_000)
        var ueventRecords = 0
        st_alloc_counting_begin()
        uevents.drain { _ in ueventRecords += 1 }
        let ueventAllocations = st_alloc_counting_end()
        #expect(ueventRecords >= 41)
        #expect(ueventAllocations == 0)
        try loop.remove()

        // ftrace pages
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        var options = TracefsInstanceOptions()
        options.events = ["syscalls:sys_enter_mkdirat"]
        options.functions = []
        let ftrace = try FtraceSource(instance: TracefsInstance(tracefs: tracefs, options: options))
        defer { ftrace.close() }
        let scratch = Scratch()
        for number in 0..<500 { mkdirat(AT_FDCWD, scratch.path + "/\(number)", 0o700) }
        var ftraceRecords = 0
        st_alloc_counting_begin()
        ftrace.drain { _ in ftraceRecords += 1 }
        let ftraceAllocations = st_alloc_counting_end()
        #expect(ftraceRecords >= 500)
        #expect(ftraceAllocations == 0)
    }
}
}
