import CStoretraceSys
import Foundation
import Glibc
import CAllocCounter
import StoretraceDecode
import StoretraceRecords
import StoretraceRender
import StoretraceSession
import Testing
@testable import StoretraceKernel

/// The io.Copy case, built for real: an ext4 on a loop device backed by a
/// file in /tmp, a file on it copied with copy_file_range (dropped from the
/// page cache first, so read-ahead does the reading) with read_ahead_kb 4,
/// then read_ahead_kb set to 128 and the copy made again. Everything is
/// undone in `deinit`, whatever failed: the setting restored, the
/// filesystem unmounted, the loop device detached.
final class ReadAheadStage {
    let scratch = Scratch()
    let device: String
    let name: String
    let mountPoint: String
    let source: String
    let original: String
    static let copyBytes = 16 << 20

    init() throws {
        let image = scratch.path + "/disk.img"
        let fd = try check(open(image, O_CREAT | O_RDWR | O_CLOEXEC, 0o600), "create \(image)")
        try check(ftruncate(fd, 96 << 20), "ftruncate")
        close(fd)
        try runCommand("/sbin/mkfs.ext4", ["-q", "-F", image])
        device = try runCommand("/usr/sbin/losetup", ["-f", "--show", image])
        name = URL(fileURLWithPath: device).lastPathComponent
        original = (try? String(contentsOfFile: "/sys/block/\(name)/queue/read_ahead_kb", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "128"
        mountPoint = scratch.dir("mnt")
        try check(mount(device, mountPoint, "ext4", 0, nil), "mount \(device)")
        source = mountPoint + "/src.bin"
        var bytes = [UInt8](repeating: 0, count: Self.copyBytes)
        for index in stride(from: 0, to: bytes.count, by: 4096) { bytes[index] = UInt8(truncatingIfNeeded: index >> 12) }
        try Data(bytes).write(to: URL(fileURLWithPath: source))
    }

    var readAheadPath: String { "/sys/block/\(name)/queue/read_ahead_kb" }

    func setReadAhead(_ kilobytes: Int) throws {
        try "\(kilobytes)".write(toFile: readAheadPath, atomically: false, encoding: .utf8)
    }

    /// The whole source copied into `name` with copy_file_range, from a cold cache.
    func copy(to target: String) throws {
        sync()
        try? "3".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)
        let input = try check(open(source, O_RDONLY | O_CLOEXEC), "open source")
        defer { close(input) }
        let output = try check(open(mountPoint + "/" + target, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644), "open target")
        defer { close(output) }
        var left = Self.copyBytes
        while left > 0 {
            let copied = st_copy_file_range(input, nil, output, nil, left, 0)
            guard copied > 0 else { throw SyscallFailed(description: "copy_file_range returned \(copied), errno \(errno)") }
            left -= copied
        }
    }

    deinit {
        try? original.write(toFile: readAheadPath, atomically: false, encoding: .utf8)
        umount2(mountPoint, 0)
        _ = try? runCommand("/usr/sbin/losetup", ["-d", device])
    }
}

extension KernelTests {
@Suite struct QueueSettingTests {
    /// What the events say of the stage's two copies and the change between them.
    static func checkEvents(_ events: [[String: Any]], stage: ReadAheadStage) throws {
        let changes = events.filter { $0["type"] as? String == "queue_setting" && $0["device"] as? String == stage.name }
        let change = try #require(changes.first { $0["setting"] as? String == "read_ahead_kb" }, "\(events)")
        #expect(change["old"] as? Int == 4 && change["new"] as? Int == 128, "\(change)")
        var number = stat()
        #expect(stat(stage.device, &number) == 0)
        let rdev = number.st_rdev
        #expect(change["dev"] as? String == "\((rdev >> 8) & 0xfff):\((rdev & 0xff) | ((rdev >> 12) & 0xfff00))")
        #expect(change["pid"] is NSNull)

        let copies = events.filter { $0["type"] as? String == "copy_file_range" }
        let first = copies.filter { ($0["file_out"] as? [String: Any])?["name"] as? String == "first.bin" }
        let second = copies.filter { ($0["file_out"] as? [String: Any])?["name"] as? String == "second.bin" }
        #expect(!first.isEmpty && !second.isEmpty, "\(copies)")
        for (calls, readAhead) in [(first, 4), (second, 128)] {
            for call in calls {
                let fileIn = try #require(call["file_in"] as? [String: Any])
                #expect(fileIn["block_device"] as? String == stage.name, "\(call)")
                #expect(fileIn["read_ahead_kb"] as? Int == readAhead, "\(call)")
            }
            #expect(calls.map { $0["ret"] as? Int ?? 0 }.reduce(0, +) == ReadAheadStage.copyBytes)
        }
        // On the timeline between the two copies.
        let order = events.compactMap { event -> String? in
            if event["type"] as? String == "queue_setting" { return event["device"] as? String == stage.name ? "change" : nil }
            return (event["file_out"] as? [String: Any])?["name"] as? String
        }
        #expect(order.firstIndex(of: "change")! > order.lastIndex(of: "first.bin")!, "\(order)")
        #expect(order.firstIndex(of: "change")! < order.firstIndex(of: "second.bin")!, "\(order)")
    }

    /// The summary of the same: the two read-ahead periods of the device, side by side.
    static func checkSummary(_ summary: [String: Any], stage: ReadAheadStage) throws {
        #expect(summary["type"] as? String == "summary")
        let copies = try #require(summary["copies"] as? [[String: Any]])
        let device = try #require(copies.first { $0["device"] as? String == stage.name }, "\(copies)")
        let periods = try #require(device["periods"] as? [[String: Any]])
        #expect(periods.map { $0["read_ahead_kb"] as? Int } == [4, 128], "\(periods)")
        for period in periods {
            #expect(period["bytes"] as? Int == ReadAheadStage.copyBytes, "\(period)")
            #expect((period["mib_per_s"] as? Double ?? 0) > 0, "\(period)")
            let latency = try #require(period["latency"] as? [String: Any])
            #expect((latency["p50_ns"] as? Int ?? 0) > 0)
            #expect(!(latency["log2_buckets"] as? [Any] ?? []).isEmpty)
        }
        let settings = try #require(summary["queue_settings"] as? [[String: Any]])
        #expect(settings.contains { $0["device"] as? String == stage.name && $0["old"] as? Int == 4 && $0["new"] as? Int == 128 })
        // Analyzed (mount health): an array, without the healthy stage device.
        let unhealthy = try #require(summary["unhealthy_mounts"] as? [String])
        #expect(!unhealthy.contains { $0.contains(" on \(stage.name) (") })
    }

    /// record (filtered to the copies of this process: the change is shown
    /// with them), then replay --json and summary, text and JSON.
    @Test func readAheadChangedDuringARecording() throws {
        let stage = try ReadAheadStage()
        try stage.setReadAhead(4)
        let capture = stage.scratch.path + "/copies.stcap"
        let recorder = try RunningCLI(["record", "-o", capture, "--type", "copy_file_range", "--pid", "\(getpid())"])
        #expect(recorder.waitUntilReady())
        try stage.copy(to: "first.bin")
        try stage.setReadAhead(128)
        usleep(1_500_000) // the sampler reads every disk each second
        try stage.copy(to: "second.bin")
        usleep(300_000)
        let stopped = recorder.stop()
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(!stopped.stderr.contains("queue setting reads failed"), "\(stopped.stderr)")

        let replay = try CLI.run(["replay", capture, "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        try Self.checkEvents(jsonLines(replay.stdout), stage: stage)

        let text = try CLI.run(["replay", capture])
        #expect(text.stdout.contains("queue_setting \(stage.name) "), "\(text.stdout)")
        #expect(text.stdout.contains(" read_ahead_kb 4 -> 128\n"), "\(text.stdout)")
        #expect(text.stdout.contains("<src.bin on \(stage.name) read_ahead_kb=4>"), "\(text.stdout)")
        #expect(text.stdout.contains("<src.bin on \(stage.name) read_ahead_kb=128>"), "\(text.stdout)")
        #expect(text.stdout.contains(" MiB/s)\n"), "\(text.stdout)")

        let summary = try CLI.run(["summary", capture, "--json"])
        #expect(summary.status == 0, "\(summary.stderr)")
        let object = try #require(jsonLines(summary.stdout).first, "\(summary.stdout)")
        try Self.checkSummary(object, stage: stage)

        let summaryText = try CLI.run(["summary", capture])
        #expect(summaryText.status == 0, "\(summaryText.stderr)")
        let lines = summaryText.stdout.split(separator: "\n")
        #expect(lines.contains { $0.contains("read_ahead_kb 4") && $0.contains("read_ahead_kb 128") }, "\(summaryText.stdout)")
        #expect(lines.contains { $0.hasPrefix("    throughput") && $0.components(separatedBy: "MiB/s").count == 3 }, "\(summaryText.stdout)")
    }

    /// The same live, with --json and --summary: the copies show the value in
    /// force without any capture, and the summary comes last.
    @Test func readAheadChangedWhileLive() throws {
        let stage = try ReadAheadStage()
        try stage.setReadAhead(4)
        let live = try RunningCLI(["live", "--json", "--summary", "--type", "copy_file_range", "--pid", "\(getpid())"])
        #expect(live.waitUntilReady())
        try stage.copy(to: "first.bin")
        try stage.setReadAhead(128)
        usleep(1_500_000)
        try stage.copy(to: "second.bin")
        usleep(300_000)
        let stopped = live.stop()
        #expect(stopped.status == 0, "\(stopped.stderr)")
        let lines = jsonLines(stopped.stdout)
        try Self.checkEvents(lines, stage: stage)
        let summary = try #require(lines.last)
        try Self.checkSummary(summary, stage: stage)
    }

    /// The sampler on its own: a change between two samples is one record,
    /// old and new, and a setting that did not change is none.
    @Test func samplerReportsOneChange() throws {
        let stage = try ReadAheadStage()
        try stage.setReadAhead(64)
        let sampler = QueueSettingSampler(baseline: NodeSnapshot.takeBlockDevices(), intervalNanoseconds: 0)
        defer { sampler.close() }
        var changes: [QueueSettingChange] = []
        let collect: (RawRecord) -> Void = { raw in
            if let change = QueueSettingCodec.decode(raw.bytes) { changes.append(change) }
        }
        sampler.drain(collect)
        #expect(!changes.contains { $0.device == Array(stage.name.utf8) }, "\(changes)")
        try stage.setReadAhead(256)
        sampler.drain(collect)
        let mine = changes.filter { $0.device == Array(stage.name.utf8) }
        #expect(mine.map(\.setting) == [.readAheadKB])
        #expect(mine.first?.old == Array("64".utf8) && mine.first?.new == Array("256".utf8))
        #expect(sampler.readsFailed == 0)
        #expect(sampler.samples == 2)
    }

    /// Copies rendered with their device, read-ahead and throughput (the
    /// enrichment live builds, the follower that keeps it current) allocate
    /// nothing per event, as text and as JSON.
    @Test func enrichedCopiesAllocateNothingPerEvent() throws {
        let stage = try ReadAheadStage()
        let output = try check(open(stage.mountPoint + "/sink.bin", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644), "open sink")
        defer { close(output) }
        let input = try check(open(stage.source, O_RDONLY | O_CLOEXEC), "open source")
        defer { close(input) }
        var options = TracerOptions()
        options.targetPID = UInt32(getpid())
        options.kinds = [.copyFileRange]
        let tracefs = try TracefsMount()
        defer { tracefs.release() }
        let null = open("/dev/null", O_WRONLY)
        defer { close(null) }
        let clock = KernelClock.measureOffset()
        for format in OutputFormat.allCases {
            let decoder = EventDecoder()
            let printer = EventPrinter(format: format, text: TextRenderer(color: true, utcOffsetSeconds: 0, clock: clock),
                                       json: JSONRenderer(clock: clock), sink: OutputSink(fd: null), decoder: decoder)
            printer.enrichment = SnapshotEnrichment(devices: BlockDevicesInForce(NodeSnapshot.takeBlockDevices()))
            let pipeline = Pipeline(filter: EventFilter(), decoder: decoder, consumers: [printer], merging: false)
            pipeline.add(QueueSettingFollower(printer: printer, sampler: nil))
            let tracer = try SyscallTracer(options: options, tracefs: tracefs)
            defer { tracer.close() }
            let submit = { (raw: RawRecord) in pipeline.submit(raw) }
            func burst(_ count: Int) {
                for index in 0..<count {
                    var offset = Int64(index % 4096)
                    _ = st_copy_file_range(input, &offset, output, nil, 1, 0)
                }
            }
            let (events, allocations) = countAllocations(tracer: tracer, pipeline: pipeline, submit: submit, burst: burst)
            #expect(events >= 5_000, "\(format): \(events) events")
            #expect(allocations == 0, "\(format): \(allocations) allocations for \(events) events, the first of \(st_alloc_first_size()) bytes")
        }
    }

    /// A disk that appears is read as soon as its uevent says so, not at the
    /// next full sample (here: never), and reported with no old values. The
    /// uevent is the kernel's own (LOOP_CTL_ADD of a new loop device), read
    /// from the netlink socket and fed through the follower as live does.
    @Test func aDiskThatAppearsIsReadOnItsUevent() throws {
        let control = try check(open("/dev/loop-control", O_RDWR | O_CLOEXEC), "open /dev/loop-control")
        defer { close(control) }
        var number: Int32 = 240
        while number < 1000, access("/sys/block/loop\(number)", F_OK) == 0 { number += 1 }
        let uevents = try UeventSource()
        defer { uevents.close() }
        let sampler = QueueSettingSampler(baseline: [], intervalNanoseconds: 3_600_000_000_000)
        defer { sampler.close() }
        let follower = QueueSettingFollower(printer: nil, sampler: sampler)
        let decoder = EventDecoder()
        try check(ioctl(control, 0x4C80 /* LOOP_CTL_ADD */, number), "LOOP_CTL_ADD \(number)")
        defer { _ = ioctl(control, 0x4C81 /* LOOP_CTL_REMOVE */, number) }
        let name = "loop\(number)"
        var changes: [QueueSettingChange] = []
        let collect: (RawRecord) -> Void = { raw in
            if let change = QueueSettingCodec.decode(raw.bytes) { changes.append(change) }
        }
        let deadline = Date().addingTimeInterval(3)
        while changes.isEmpty, Date() < deadline {
            uevents.drain { raw in
                if let event = try? decoder.decode(raw) { follower.observe(event, raw: raw) }
            }
            sampler.drain(collect)
            usleep(20_000)
        }
        let mine = changes.filter { $0.device == Array(name.utf8) }
        #expect(Set(mine.map(\.setting)).isSuperset(of: [.readAheadKB, .maxSectorsKB, .rotational]), "\(changes)")
        #expect(mine.allSatisfy { $0.old == nil && $0.major == 7 && $0.minor == UInt32(number) }, "\(mine)")
        let readAhead = try String(contentsOfFile: "/sys/block/\(name)/queue/read_ahead_kb", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(mine.first { $0.setting == .readAheadKB }?.new == Array(readAhead.utf8))
        #expect(sampler.samples == 0, "no full sample ran: the uevent did it")
    }
}
}
