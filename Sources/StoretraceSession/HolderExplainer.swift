import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords
import StoretraceRender

/// Explains "device or resource busy" as it happens: every shown umount2,
/// mount, rmdir or unlinkat that failed with EBUSY queues a scan of the
/// node for who holds its target (`HolderScan`, in every mount namespace);
/// the scan runs on the loop's timer, off the per-event path, and its
/// report joins the timeline (and the capture) as a `holders` event, so
/// replay shows the same lines. Bounded: at most `scansPerSecond` scans a
/// second, one per target and namespace a second, each within the
/// automatic time budget; what is skipped is counted.
public final class HolderExplainer: RecordSource, EventAnalyzer {
    public let kind = SourceKind.holders
    public var pollFDs: [Int32] { [] }
    public var drainEveryMilliseconds: Int? { 50 }

    struct Request {
        var target: HolderTarget
        var key: String
        var explained: HoldersRecordCodec.Explained
        /// When the failed call returned: the holders event sorts right after it.
        var exit: UInt64
    }

    private let filter: EventFilter
    private let scansPerSecond: Int
    private let maxQueued = 16
    private var queue: [Request] = []
    private var lastScanOf: [String: UInt64] = [:]
    private var scansThisSecond: (second: UInt64, count: Int) = (0, 0)
    private var skippedRateLimit: UInt64 = 0
    private var skippedQueueFull: UInt64 = 0
    private var failedScans: UInt64 = 0
    private var scratch: [UInt8] = []

    /// Set where the pipeline has filters that need context (--pod,
    /// --path...): only failures it showed are explained.
    public weak var pipeline: Pipeline?

    public init(filter: EventFilter, scansPerSecond: Int = 4) {
        self.filter = filter
        self.scansPerSecond = scansPerSecond
    }

    // MARK: EventAnalyzer: which failures to explain

    public var observes: EventRoutes { EventRoutes.claim.union(.syscalls) }

    public func observe(_ event: Event, raw: RawRecord) {
        if case .claim(let claim) = event {
            remember(claim)
            return
        }
        guard case .syscall(let record) = event, record.errno == 16 /* EBUSY */,
              pipeline?.lastEventShown ?? filter.accepts(event) else { return }
        let namespace = UInt64(record.mountNamespace)
        let target: HolderTarget
        switch record.kind {
        case .umount, .rmdir, .unlinkat: // string 0 is the path each names
            guard let path = record.string(0) else { return }
            target = .mountPoint(String(decoding: path, as: UTF8.self), mountNamespace: namespace)
        case .mount:
            guard let busy = Self.busyTarget(ofMount: record) else { return }
            target = busy
        default:
            return
        }
        let key: String
        switch target {
        case .mountPoint(let path, let namespace): key = "\(namespace):\(path)"
        case .path(let path): key = path
        case .device(let major, let minor): key = "\(major):\(minor)"
        }
        let now = record.timestamp
        if let last = lastScanOf[key], now &- last < 1_000_000_000 {
            skippedRateLimit &+= 1
            return
        }
        guard queue.count < maxQueued else {
            skippedQueueFull &+= 1
            return
        }
        lastScanOf[key] = now
        if lastScanOf.count > 4096 { lastScanOf.removeAll(keepingCapacity: true) }
        let explained = HoldersRecordCodec.Explained(
            timestamp: record.timestamp, pid: record.pid, tid: record.tid,
            type: Array(record.kind.name.description.utf8), comm: Array(record.comm))
        queue.append(Request(target: target, key: key, explained: explained, exit: record.timestamp &+ record.latency))
    }

    /// What a mount(2) that failed with EBUSY was kept from: its source, a
    /// block device someone holds (fsck, an O_EXCL open), or, for a
    /// remount, bind or move (MS_REMOUNT, MS_BIND, MS_MOVE) or a source that
    /// is not a /dev node, its target mount point (a file open for writing
    /// under `remount,ro`, a mount in the way).
    static func busyTarget(ofMount record: SyscallRecord) -> HolderTarget? {
        let onTheMountPoint: UInt64 = 0x20 /* MS_REMOUNT */ | 0x1000 /* MS_BIND */ | 0x2000 /* MS_MOVE */
        let source = record.string(0).map { String(decoding: $0, as: UTF8.self) }
        if let source, source.hasPrefix("/dev/"), record.arg(3) & onTheMountPoint == 0 {
            return .path(source)
        }
        guard let target = record.string(1), target.first == UInt8(ascii: "/") else { return nil }
        return .mountPoint(String(decoding: target, as: UTF8.self), mountNamespace: UInt64(record.mountNamespace))
    }

    // MARK: Claims: the holder the scan cannot see

    /// The last granted claim of each device (kernel dev_t), as traced.
    struct Claim {
        var pid: Int32
        var comm: String
        var mountNamespace: UInt64
        var timestamp: UInt64
    }

    private var claims: [UInt32: Claim] = [:]

    /// The last granted claim of a device this explainer saw.
    func claim(major: UInt32, minor: UInt32) -> Claim? { claims[major << 20 | minor] }

    private func remember(_ claim: ClaimRecord) {
        guard claim.returnValue == 0 else { return } // refused: nobody got it
        if claims.count >= 1024 && claims[claim.kernelDevice] == nil { claims.removeAll(keepingCapacity: true) }
        claims[claim.kernelDevice] = Claim(pid: Int32(bitPattern: claim.pid), comm: String(decoding: claim.comm, as: UTF8.self),
                                           mountNamespace: UInt64(claim.mountNamespace), timestamp: claim.timestamp)
    }

    /// A device report with the traced claim of it added, when the claimer
    /// still runs and is not the process whose call failed (its own claim
    /// is the one refused). Claims are not traced on release, so a
    /// claimer that has exited is taken to have let go.
    static func adding(_ claim: Claim?, to report: HolderReport, failedPID: UInt32) -> HolderReport {
        guard let claim, report.target.kind == .device, claim.pid != Int32(bitPattern: failedPID),
              access("/proc/\(claim.pid)", F_OK) == 0 else { return report }
        var report = report
        let device = report.target.deviceName.map { "/dev/" + $0 } ?? report.target.given
        report.holders.append(HolderReport.Holder(how: .claim, via: .device, pid: claim.pid, comm: claim.comm,
                                                  mountNamespace: claim.mountNamespace, path: device,
                                                  claimedAtMonotonicNanoseconds: Int64(clamping: claim.timestamp)))
        report.holders.sort(by: HolderReport.Holder.order)
        if !report.namespaces.contains(where: { $0.inode == claim.mountNamespace }) {
            report.namespaces.append(HolderReport.Namespace(inode: claim.mountNamespace,
                                                            isHost: claim.mountNamespace == initialMountNamespaceInode,
                                                            pid: claim.pid, comm: claim.comm, processCount: 1))
        }
        return report
    }

    public func finish(at timestamp: UInt64) {}

    // MARK: RecordSource: the scans, on the loop's timer

    @discardableResult
    public func drain(_ emit: @escaping (RawRecord) -> Void) -> Int {
        var delivered = 0
        while !queue.isEmpty {
            let now = KernelClock.monotonicNow()
            let second = now / 1_000_000_000
            if scansThisSecond.second != second { scansThisSecond = (second, 0) }
            guard scansThisSecond.count < scansPerSecond else { break }
            scansThisSecond.count += 1
            let request = queue.removeFirst()
            var report: HolderReport
            do {
                report = try HolderScan.run(request.target, options: .automatic)
            } catch .notAMountPoint(let path, let namespace) {
                // Unmounted between the EBUSY and the scan: that is the
                // answer (a holder that let go), not a failed scan.
                report = .gone(mountPoint: path, mountNamespace: namespace,
                               scannedAtMonotonicNanoseconds: Int64(clamping: KernelClock.monotonicNow()))
            } catch {
                failedScans &+= 1
                continue
            }
            if let claim = claim(major: report.target.major, minor: report.target.minor),
               claim.timestamp <= request.explained.timestamp {
                report = Self.adding(claim, to: report, failedPID: request.explained.pid)
            }
            scratch = HoldersRecordCodec.encode(request.explained, reportJSON: report.jsonText())
            scratch.withUnsafeBytes { emit(RawRecord(source: .holders, timestamp: request.exit &+ 1, bytes: $0)) }
            delivered += 1
        }
        return delivered
    }

    public var losses: [LossCount] {
        [LossCount(name: "holder scans skipped (one per target a second)", count: skippedRateLimit, kind: .information),
         LossCount(name: "holder scans skipped (queue full)", count: skippedQueueFull, kind: .information),
         LossCount(name: "holder scans failed", count: failedScans, kind: .information)]
    }

    public func close() { queue.removeAll() }
}
