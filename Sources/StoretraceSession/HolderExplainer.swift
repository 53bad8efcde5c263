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

    public init(filter: EventFilter, scansPerSecond: Int = 4) {
        self.filter = filter
        self.scansPerSecond = scansPerSecond
    }

    // MARK: EventAnalyzer: which failures to explain

    public func observe(_ event: Event, raw: RawRecord) {
        guard case .syscall(let record) = event, record.errno == 16 /* EBUSY */, filter.accepts(event) else { return }
        let target: HolderTarget
        switch record.kind {
        case .umount, .rmdir, .unlinkat: // string 0 is the path each names
            guard let path = record.string(0) else { return }
            target = .mountPoint(String(decoding: path, as: UTF8.self), mountNamespace: UInt64(record.mountNamespace))
        case .mount:
            // The source, when it is a path: a block device someone holds
            // (fsck, an O_EXCL open). A busy target is not scanned yet.
            guard let source = record.string(0), source.first == UInt8(ascii: "/") else { return }
            target = .path(String(decoding: source, as: UTF8.self))
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
            let report: HolderReport
            do {
                report = try HolderScan.run(request.target, options: .automatic)
            } catch {
                failedScans &+= 1
                continue
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
