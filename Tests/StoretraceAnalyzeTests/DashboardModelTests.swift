import StoretraceAnalyze
import StoretraceDecode
import StoretraceFixtures
import Testing

/// `storetrace top`'s model on fixture records: what is counted as the same
/// failure, which scan explains which, rates, and the bounds.
@Suite struct DashboardModelTests {
    static func record(_ kind: SyscallKind, path: String, ret: Int64, at timestamp: UInt64, tid: UInt32 = 10,
                       mntns: UInt32 = 4_026_531_832) -> [UInt8] {
        var builder = RecordBuilder(kind, at: timestamp, pid: tid, strings: kind == .mount ? ["/dev/vdb", path, "ext4", nil] : [path], ret: ret)
        builder.mntns = mntns
        return builder.bytes
    }

    static func add(_ model: inout DashboardModel, _ bytes: [UInt8], pod: PodCgroup? = nil) throws {
        try bytes.withRecord { model.add($0, pod: pod) }
    }

    @Test func failuresAreTheSameCallErrnoAndPath() throws {
        var model = DashboardModel()
        try Self.add(&model, Self.record(.umount, path: "/a", ret: -16, at: 1))
        try Self.add(&model, Self.record(.umount, path: "/a", ret: -16, at: 2, tid: 11))
        try Self.add(&model, Self.record(.umount, path: "/a", ret: -22, at: 3)) // another errno
        try Self.add(&model, Self.record(.umount, path: "/b", ret: -16, at: 4)) // another path
        try Self.add(&model, Self.record(.rmdir, path: "/a", ret: -16, at: 5))  // another call
        try Self.add(&model, Self.record(.umount, path: "/a", ret: 0, at: 6))   // not a failure
        #expect(model.failedCalls == 5 && model.failures.count == 4)
        let busy = try #require(model.failures.values.first { $0.count == 2 })
        #expect(busy.first == 1 && busy.last == 2 && busy.recent.map(\.pid) == [10, 11])
        // mount(2)'s subject is its target; its source is kept for the device's health.
        try Self.add(&model, Self.record(.mount, path: "/mnt/x", ret: -16, at: 7))
        let mount = try #require(model.failures.values.first { $0.kind == .mount })
        #expect(String(decoding: mount.subject, as: UTF8.self) == "/mnt/x" && mount.source == Array("/dev/vdb".utf8))
    }

    /// A scan explains the EBUSY call it names (entry stamp and thread), and
    /// the newest scan of a failure wins over one that arrives late.
    @Test func holdersJoinTheCallTheyExplain() throws {
        var model = DashboardModel()
        try Self.add(&model, Self.record(.umount, path: "/a", ret: -16, at: 100, tid: 10))
        try Self.add(&model, Self.record(.umount, path: "/a", ret: -16, at: 200, tid: 12))
        try Self.add(&model, Self.record(.umount, path: "/c", ret: -22, at: 300, tid: 13))
        func report(_ pid: Int32) -> HolderReport {
            HolderReport(target: .init(given: "/a", kind: .path, major: 0, minor: 40), scannedAtMonotonicNanoseconds: 1000,
                         holders: [.init(how: .cwd, via: .target, pid: pid, comm: "sleep", mountNamespace: 1, path: "/a")])
        }
        model.addHolders(report(1), explainingCallOf: 99, at: 100) // another thread: not this call
        model.addHolders(report(2), explainingCallOf: 13, at: 300) // EINVAL is never scanned
        #expect(model.failures.values.allSatisfy { $0.holders == nil })
        model.addHolders(report(3), explainingCallOf: 12, at: 200)
        model.addHolders(report(4), explainingCallOf: 10, at: 100) // older, later: kept out
        let busy = try #require(model.failures.values.first { $0.errno == 16 })
        #expect(busy.holders?.holders.first?.pid == 3 && busy.holdersExplain == 200)
    }

    @Test func ratesAreTenthsPerSecondOfTheLastInterval() {
        var counter = RateCounter()
        counter.add(15)
        counter.tick(intervalNanoseconds: 1_000_000_000)
        #expect(counter.tenthsPerSecond == 150 && counter.total == 15)
        counter.add(3)
        counter.tick(intervalNanoseconds: 2_000_000_000)
        #expect(counter.tenthsPerSecond == 15)
        counter.tick(intervalNanoseconds: 1_000_000_000)
        #expect(counter.tenthsPerSecond == 0 && counter.total == 18)
        // No interval to speak of, or more than 64 bits of rate: no trap.
        counter.add(5)
        counter.tick(intervalNanoseconds: 0)
        #expect(counter.tenthsPerSecond == 0)
        counter.add(.max / 2)
        counter.tick(intervalNanoseconds: 1_000_000)
        #expect(counter.tenthsPerSecond == .max)
    }

    @Test func latencyWindowForgetsTheOldestTick() {
        var window = LatencyWindow(seconds: 2)
        window.add(1000)
        window.tick()
        window.add(8000)
        #expect(window.histogram.count == 2 && window.histogram.max == 8000)
        window.tick()
        #expect(window.histogram.count == 1 && window.histogram.min == 8000)
        window.tick()
        #expect(window.histogram.count == 0 && window.histogram.percentile(99) == nil)
    }

    /// Beyond the limits the least recent goes, counted.
    @Test func boundsDropTheLeastRecentAndCountIt() throws {
        var limits = DashboardLimits()
        limits.failures = 2
        limits.occurrencesPerFailure = 3
        limits.activityRows = 1
        limits.recentLines = 2
        var model = DashboardModel(limits: limits)
        for index in 0..<5 { try Self.add(&model, Self.record(.umount, path: "/a", ret: -16, at: UInt64(index))) }
        try Self.add(&model, Self.record(.umount, path: "/b", ret: -16, at: 10, mntns: 7))
        try Self.add(&model, Self.record(.umount, path: "/c", ret: -16, at: 11))
        #expect(model.failures.values.map { String(decoding: $0.subject, as: UTF8.self) }.sorted() == ["/b", "/c"])
        #expect(model.failuresDropped == 1 && model.failedCalls == 7)
        #expect(model.activity.count == 1 && model.activityDropped == 2)
        // A dropped kind counts from one again when it comes back.
        try Self.add(&model, Self.record(.umount, path: "/a", ret: -16, at: 12))
        #expect(model.failures.values.first { $0.subject == Array("/a".utf8) }?.count == 1)
        for index in 0..<3 { model.addKernelError("e\(index)", at: UInt64(index)) }
        #expect(model.kernelErrors.map(\.text) == ["e1", "e2"] && model.kernelErrorCount == 3)
        var kept = DashboardModel(limits: limits)
        for index in 0..<5 { try Self.add(&kept, Self.record(.umount, path: "/a", ret: -16, at: UInt64(index))) }
        #expect(kept.failures.values.first?.recent.map(\.timestamp) == [2, 3, 4])
    }

    /// A disk that appears is not a change; a value set back to where it
    /// was is no change either.
    @Test func readAheadChangesWhileTracing() throws {
        var model = DashboardModel(devices: BlockDevicesInForce([.init(name: "vda", major: 254, minor: 0, readAheadKB: 128)]))
        func change(_ old: String?, _ new: String, minor: UInt32 = 0) -> QueueSettingChange {
            QueueSettingChange(major: 254, minor: minor, device: Array("vda".utf8), setting: .readAheadKB,
                               old: old.map { Array($0.utf8) }, new: Array(new.utf8))
        }
        var builder = RecordBuilder(.copyFileRange, at: 1, strings: ["a", "b"], ret: 4096)
        builder.detail = [1, 254 << 20, 2, 254 << 20, 0, 0]
        try builder.bytes.withRecord { model.add($0, pod: nil) }
        let vda = try #require(model.copies.values.first)
        #expect(vda.readAheadKB == 128 && model.readAheadChange(of: vda) == nil)
        model.apply(change("128", "4096"), at: 5)
        #expect(model.readAheadChange(of: model.copies.values.first!).map { [$0.before, $0.now] } == [128, 4096])
        #expect(model.copies.values.first?.readAheadKB == 4096)
        model.apply(change("4096", "128"), at: 6)
        #expect(model.readAheadChange(of: model.copies.values.first!) == nil)
        model.apply(change(nil, "512", minor: 16), at: 7)
        #expect(model.readAheadChanges.isEmpty)
    }
}
