import Glibc
import StoretraceDecode
import StoretraceFixtures
import StoretraceKernel
import StoretraceRecords
import StoretraceRender
import Testing
@testable import StoretraceSession

/// What the explainer scans for a failed mount, and how a traced claim
/// joins the scan's report: on fixtures, no kernel.
@Suite struct HolderExplainerJoinTests {
    func mount(source: String?, target: String, flags: UInt64) throws -> HolderTarget? {
        var builder = RecordBuilder()
        builder.kind = SyscallKind.mount.rawValue
        builder.args = [0x1000, 0x2000, 0x3000, flags, 0, 0]
        builder.strings = [source, target, "ext4", nil]
        builder.ret = -16
        builder.mntns = 4_026_532_201
        return try builder.bytes.withRecord { HolderExplainer.busyTarget(ofMount: $0) }
    }

    @Test func aDeviceSourceIsScannedUnlessTheMountIsARemountBindOrMove() throws {
        #expect(try mount(source: "/dev/loop0", target: "/mnt/x", flags: 0) == .path("/dev/loop0"))
        let onTarget = HolderTarget.mountPoint("/mnt/x", mountNamespace: 4_026_532_201)
        #expect(try mount(source: "/dev/loop0", target: "/mnt/x", flags: 0x20 | 0x1) == onTarget) // MS_REMOUNT|MS_RDONLY
        #expect(try mount(source: "/srv/a", target: "/mnt/x", flags: 0x1000) == onTarget)         // MS_BIND
        #expect(try mount(source: "/mnt/old", target: "/mnt/x", flags: 0x2000) == onTarget)       // MS_MOVE
        #expect(try mount(source: "tmpfs", target: "/mnt/x", flags: 0) == onTarget)               // not a /dev node
        #expect(try mount(source: nil, target: "/mnt/x", flags: 0x20) == onTarget)                // remount without a source
        #expect(try mount(source: "tmpfs", target: "relative", flags: 0) == nil)
    }

    func deviceReport() -> HolderReport {
        HolderReport(target: .init(given: "/dev/loop0", kind: .device, major: 7, minor: 0, deviceName: "loop0"),
                     scannedAtMonotonicNanoseconds: 5_000_000_000,
                     holders: [.init(how: .open, via: .device, pid: getpid(), comm: "storetrace", mountNamespace: 4_026_531_832,
                                     path: "/dev/loop0", fd: 3, openFlags: 0)],
                     namespaces: [.init(inode: 4_026_531_832, isHost: true, pid: 1, comm: "init", processCount: 80)])
    }

    /// The claimer runs (this test process): named, with when, right after its open fd.
    @Test func aRunningClaimerIsAddedToADeviceReport() throws {
        let claim = HolderExplainer.Claim(pid: getpid(), comm: "python3", mountNamespace: 4_026_532_500,
                                          timestamp: 3_750_000_000)
        let joined = HolderExplainer.adding(claim, to: deviceReport(), failedPID: 1)
        #expect(joined.holders.map(\.how) == [.open, .claim])
        #expect(joined.holders.last == .init(how: .claim, via: .device, pid: getpid(), comm: "python3",
                                             mountNamespace: 4_026_532_500, path: "/dev/loop0",
                                             claimedAtMonotonicNanoseconds: 3_750_000_000))
        #expect(joined.namespace(inode: 4_026_532_500) == .init(inode: 4_026_532_500, isHost: false, pid: getpid(),
                                                                  comm: "python3", processCount: 1))
        var out = OutputBuffer()
        HolderRenderer.renderText(joined, clock: ClockOffset(realtimeMinusMonotonic: 0), into: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self).hasSuffix(
            "  ↳ busy: pid \(getpid()) (python3) in mnt:4026532500, claimed /dev/loop0 exclusively 1.25 s before the scan (traced claim)\n"))
        // Stored in the capture as JSON, and back.
        #expect(try HolderReport(json: joined.jsonText()) == joined)
    }

    @Test func noClaimerWhenGoneTheFailedCallsOwnOrNotADevice() {
        let report = deviceReport()
        var gone = HolderExplainer.Claim(pid: 0, comm: "python3", mountNamespace: 4_026_531_832, timestamp: 1)
        gone.pid = Int32.max // no such process
        #expect(HolderExplainer.adding(gone, to: report, failedPID: 1) == report)
        let own = HolderExplainer.Claim(pid: getpid(), comm: "mount", mountNamespace: 4_026_531_832, timestamp: 1)
        #expect(HolderExplainer.adding(own, to: report, failedPID: UInt32(getpid())) == report)
        #expect(HolderExplainer.adding(nil, to: report, failedPID: 1) == report)
        var path = report
        path.target.kind = .path
        let running = HolderExplainer.Claim(pid: getpid(), comm: "python3", mountNamespace: 4_026_531_832, timestamp: 1)
        #expect(HolderExplainer.adding(running, to: path, failedPID: 1) == path)
    }

    /// Through the analyzer: a granted claim is remembered, a refused one
    /// (the failing mount's own) is not.
    @Test func theExplainerRemembersGrantedClaimsOnly() throws {
        let explainer = HolderExplainer(filter: EventFilter())
        var granted = ClaimBuilder()
        granted.pid = UInt32(getpid())
        granted.timestamp = 10
        var refused = ClaimBuilder()
        refused.pid = 999_999
        refused.comm = "mount"
        refused.ret = -16
        refused.timestamp = 20
        for builder in [granted, refused] {
            try builder.bytes.withUnsafeBytes { bytes in
                let raw = RawRecord(source: .claim, timestamp: builder.timestamp, bytes: bytes)
                explainer.observe(.claim(try ClaimRecord(validating: bytes)), raw: raw)
            }
        }
        #expect(explainer.claim(major: 7, minor: 0)?.pid == getpid())
        #expect(explainer.claim(major: 7, minor: 0)?.timestamp == 10)
    }
}
