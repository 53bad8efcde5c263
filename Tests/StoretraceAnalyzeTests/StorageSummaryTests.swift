import StoretraceFixtures
import Testing
import StoretraceAnalyze
import StoretraceDecode
import StoretraceRender

@Suite struct Log2HistogramTests {
    @Test func bucketsArePowersOfTwo() {
        #expect(Log2Histogram.bucket(of: 0) == 0)
        #expect(Log2Histogram.bucket(of: 1) == 1)
        #expect(Log2Histogram.bucket(of: 2) == 2)
        #expect(Log2Histogram.bucket(of: 3) == 2)
        #expect(Log2Histogram.bucket(of: 4) == 3)
        #expect(Log2Histogram.bucket(of: 1023) == 10)
        #expect(Log2Histogram.bucket(of: 1024) == 11)
        #expect(Log2Histogram.bucket(of: .max) == 64)
        #expect(Log2Histogram.range(ofBucket: 0) == (0, 0))
        #expect(Log2Histogram.range(ofBucket: 1) == (1, 1))
        #expect(Log2Histogram.range(ofBucket: 10) == (512, 1023))
        #expect(Log2Histogram.range(ofBucket: 64) == (1 << 63, .max))
    }

    @Test func countsSumMinMaxAndOccupiedBuckets() {
        var histogram = Log2Histogram()
        for value: UInt64 in [0, 1, 2, 3, 4, 1000] { histogram.add(value) }
        #expect(histogram.count == 6 && histogram.sum == 1010 && histogram.min == 0 && histogram.max == 1000)
        #expect(histogram.occupied.map(\.bucket) == Array(0...10))
        #expect(histogram.occupied.map(\.count) == [1, 1, 2, 1, 0, 0, 0, 0, 0, 0, 1])
        var saturated = Log2Histogram()
        saturated.add(.max)
        saturated.add(.max)
        #expect(saturated.sum == .max && saturated.count == 2)
    }

    /// Nearest rank ⌈p × n⌉, interpolated inside its bucket, kept within min and max.
    @Test func percentilesAreExact() {
        var histogram = Log2Histogram()
        #expect(histogram.percentile(50) == nil)
        for value: UInt64 in [0, 1, 2, 3, 4, 1000] { histogram.add(value) }
        #expect(histogram.percentile(0) == 0)    // rank 1: bucket 0
        #expect(histogram.percentile(50) == 2)   // rank 3: first of the two in [2, 3]
        #expect(histogram.percentile(67) == 7)   // rank 5: [4, 7], one of one: its top
        #expect(histogram.percentile(90) == 1000) // rank 6: [512, 1023] clamped to the max
        #expect(histogram.percentile(100) == 1000)

        var spread = Log2Histogram()
        for value: UInt64 in [600, 700, 800, 900] { spread.add(value) }
        #expect(spread.percentile(25) == 639)  // 512 + 511 × 1/4
        #expect(spread.percentile(50) == 767)  // 512 + 511 × 2/4
        #expect(spread.percentile(75) == 895)  // 512 + 511 × 3/4
        #expect(spread.percentile(100) == 900) // 1023 clamped to the max

        var same = Log2Histogram()
        for _ in 0..<100 { same.add(250_000_000) }
        for percent in [1, 50, 99, 100] { #expect(same.percentile(percent) == 250_000_000) }
    }
}

/// The io.Copy case on fixture events: loop0 (7:0) starts with read_ahead_kb
/// 4 (the snapshot), two 128 MiB copies take 0.25 s each, read_ahead_kb goes
/// to 128, two more take 0.2 s; a tmpfs copy, a failed one and a mount.
@Suite struct StorageSummaryTests {
    static let devices = BlockDevicesInForce([
        NodeSnapshot.BlockDevice(name: "loop0", major: 7, minor: 0, readAheadKB: 4),
        NodeSnapshot.BlockDevice(name: "loop0p1", parent: "loop0", partitionNumber: 1, major: 259, minor: 0),
    ])
    static let change = QueueSettingChange(major: 7, minor: 0, device: Array("loop0".utf8), setting: .readAheadKB,
                                           old: Array("4".utf8), new: Array("128".utf8))

    static func copy(at seconds: UInt64, latency: UInt64, bytes: Int64, device: UInt64 = 7 << 20, pid: UInt32 = 500) -> RecordBuilder {
        var builder = RecordBuilder.copyCall(bytes: bytes, device: device, latency: latency)
        builder.pid = pid
        builder.timestamp = seconds * 1_000_000_000
        return builder
    }

    static func summary() throws -> StorageSummary {
        var summary = StorageSummary(devices: devices)
        let mib128: Int64 = 128 << 20
        for builder in [copy(at: 1, latency: 250_000_000, bytes: mib128), copy(at: 2, latency: 0, bytes: 0),
                        copy(at: 3, latency: 250_000_000, bytes: mib128)] {
            try builder.bytes.withRecord { summary.add($0) }
        }
        summary.add(change, at: 4_000_000_000)
        var failed = copy(at: 5, latency: 3_000, bytes: -9, device: (259 << 20) | 0) // EBADF, on the partition
        failed.ret = -9
        var tmpfs = copy(at: 5, latency: 1_000_000, bytes: 4096, device: 60)
        tmpfs.pid = 501
        var mount = RecordBuilder.mountCall("/dev/loop0", "/mnt", "ext4", flags: 0, ret: -16)
        mount.timestamp = 6_000_000_000
        for builder in [copy(at: 5, latency: 200_000_000, bytes: mib128), failed, tmpfs,
                        copy(at: 6, latency: 200_000_000, bytes: mib128), mount] {
            try builder.bytes.withRecord { summary.add($0) }
        }
        return summary
    }

    @Test func copiesAreSplitByTheReadAheadInForce() throws {
        let summary = try Self.summary()
        let byDevice = summary.periodsByDevice
        #expect(byDevice.count == 3)
        let loop0 = byDevice[0]
        #expect(loop0.map(\.readAheadKB) == [4, 128])
        #expect(loop0.map(\.calls) == [3, 2])
        #expect(loop0.map(\.empty) == [1, 0])
        #expect(loop0.map(\.bytes) == [256 << 20, 256 << 20])
        #expect(loop0.map(\.latency.sum) == [500_000_000, 400_000_000])
        #expect(loop0.map(\.mebibytesPerSecond) == [512, 640])
        #expect(loop0[0].first == 1_000_000_000 && loop0[0].last == 3_000_000_000)
        #expect(loop0[1].latency.percentile(50) == 200_000_000)
        // The partition's copies run with its disk's read-ahead.
        #expect(byDevice[1].map(\.readAheadKB) == [128])
        #expect(byDevice[1].first?.device == Array("loop0p1".utf8))
        #expect(byDevice[1].first?.failed == 1)
        #expect(byDevice[2].first?.device == nil && byDevice[2].first?.readAheadKB == nil)
    }

    @Test func callsErrnosSlowestAndChanges() throws {
        let summary = try Self.summary()
        let calls = summary.callsByType
        #expect(calls.map(\.kind) == [.mount, .copyFileRange])
        #expect(calls.map(\.calls) == [1, 7])
        #expect(calls[0].errnos.map(\.errno) == [16] && calls[1].errnos.map(\.errno) == [9])
        #expect(summary.slowest.map(\.latency).prefix(4) == [250_000_000, 250_000_000, 200_000_000, 200_000_000])
        #expect(summary.slowest.first?.readAheadKB == 4)
        #expect(summary.slowest[2].readAheadKB == 128 && summary.slowest[2].device == Array("loop0".utf8))
        #expect(summary.settingChanges.map(\.timestamp) == [4_000_000_000])
        #expect(summary.span?.first == 1_000_000_000 && summary.span?.last == 6_000_000_000)
        #expect(summary.unhealthyMounts == nil)
    }

    @Test func boundedLists() throws {
        var limits = StorageSummaryLimits()
        limits.slowestCalls = 2
        limits.maxSettingChanges = 1
        limits.maxPeriods = 1
        var summary = StorageSummary(devices: Self.devices, limits: limits)
        for seconds: UInt64 in 1...3 {
            try Self.copy(at: seconds, latency: seconds * 1000, bytes: 10).bytes.withRecord { summary.add($0) }
        }
        try Self.copy(at: 4, latency: 1, bytes: 10, device: 60).bytes.withRecord { summary.add($0) }
        summary.add(Self.change, at: 5)
        summary.add(Self.change, at: 6)
        #expect(summary.slowest.map(\.latency) == [3000, 2000])
        #expect(summary.periods.count == 1 && summary.copiesLeftOut == 1)
        #expect(summary.settingChanges.count == 1 && summary.settingChangesLeftOut == 1)
    }

    /// The two read-ahead periods of loop0 side by side, with their throughput.
    @Test func textShowsThePeriodsSideBySide() throws {
        let text = SummaryRenderer.renderText(try Self.summary(), clock: clock, utcOffsetSeconds: 0)
        #expect(text.hasPrefix("summary: 14:07:31.123456 to 14:07:36.123456 (5.0s)\n"), "\(text)")
        #expect(text.contains("""
              loop0 (7:0)
                             read_ahead_kb 4  read_ahead_kb 128
                from         14:07:31.123456  14:07:35.123456
            """), "\(text)")
        #expect(text.contains("    bytes        256.0 MiB        256.0 MiB\n"), "\(text)")
        #expect(text.contains("    throughput   512.0 MiB/s      640.0 MiB/s\n"), "\(text)")
        #expect(text.contains("    latency p50  250ms            200ms\n"), "\(text)")
        #expect(text.contains("      134ms .. 268ms  2 |********************************|\n"), "\(text)")
        #expect(text.contains("  copy_file_range  7      1       "), "\(text)")
        #expect(text.contains("EBADF 1"), "\(text)")
        #expect(text.contains("  14:07:34.123456  loop0 (7:0)  read_ahead_kb  4 -> 128\n"), "\(text)")
        #expect(text.contains("unhealthy mounts\n  not analyzed by this storetrace\n"), "\(text)")
    }

    @Test func jsonHasBothPeriods() throws {
        var out = OutputBuffer()
        SummaryRenderer.renderJSON(try Self.summary(), clock: clock, into: &out)
        let line = String(decoding: out.bytes, as: UTF8.self)
        #expect(line.hasPrefix(#"{"type":"summary","start":"2026-11-23T14:07:31.123456789Z","end":"2026-11-23T14:07:36.123456789Z","copies":[{"device":"loop0","dev":"7:0","periods":[{"read_ahead_kb":4,"first":"2026-11-23T14:07:31.123456789Z","last":"2026-11-23T14:07:33.123456789Z","calls":3,"moved_data":2,"returned_zero":1,"failed":0,"bytes":268435456,"mib_per_s":512.0,"latency":{"count":2,"sum_ns":500000000,"min_ns":250000000,"p50_ns":250000000,"p90_ns":250000000,"p99_ns":250000000,"max_ns":250000000,"log2_buckets":[[134217728,2]]}},{"read_ahead_kb":128,"#), "\(line)")
        #expect(line.contains(#""mib_per_s":640.0"#))
        #expect(line.contains(#"{"type":"copy_file_range","calls":7,"failed":1,"errnos":{"EBADF":1}"#), "\(line)")
        #expect(line.contains(#""queue_settings":[{"time":"2026-11-23T14:07:34.123456789Z","device":"loop0","dev":"7:0","setting":"read_ahead_kb","old":4,"new":128}]"#), "\(line)")
        #expect(line.hasSuffix(#","queue_settings_left_out":0,"copies_left_out":0,"unhealthy_mounts":null}"# + "\n"))
        #expect(line.filter { $0 == "\n" }.count == 1)
    }
}
