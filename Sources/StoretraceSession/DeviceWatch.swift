import Glibc
import StoretraceDecode
import StoretraceKernel
import StoretraceRecords

/// Keeps the pipeline's device table fresh in `live` and `record`, off the
/// per-event path: block devices (a few sysfs reads each: loop backing
/// files, autoclear, ext4 error counts) once a second, the mount tables of
/// every namespace when a block uevent or a mount-family call was seen, and
/// at least every `mountRescanSeconds`. A table that differs from the last
/// is handed to `Pipeline.updateDevices` (the recorder stores it) exactly as
/// it will be read back from the capture, so replay resolves the same.
public final class DeviceWatch: EventAnalyzer {
    private unowned let pipeline: Pipeline
    private var current: NodeSnapshot?
    private var mountsDirty = true
    private var lastMountScan: Int64 = 0
    public var mountRescanSeconds: Int64 = 10
    /// Scans done and tables that changed, for the cost in BENCHMARKS.md.
    public private(set) var scans: UInt64 = 0
    public private(set) var changes: UInt64 = 0
    public private(set) var scanNanoseconds: UInt64 = 0

    /// Where kubelet keeps its volumes: their vol_data.json records go
    /// into the table (`NodeSnapshot.takeDevices`), so a volume staged
    /// while recording is completed from then on, live and in replay.
    private let kubeletRoot: String?

    public init(pipeline: Pipeline, kubeletRoot: String? = nil) {
        self.pipeline = pipeline
        self.kubeletRoot = kubeletRoot
    }

    /// Takes a table now and hands it on if it changed.
    public func refresh() {
        let started = KernelClock.now(CLOCK_MONOTONIC)
        let rescan = mountsDirty || started - lastMountScan >= mountRescanSeconds * 1_000_000_000
        let snapshot = NodeSnapshot.takeDevices(previous: current, rescanMounts: rescan, kubeletRoot: kubeletRoot)
        if rescan {
            mountsDirty = false
            lastMountScan = started
        }
        scans &+= 1
        defer { scanNanoseconds &+= UInt64(max(0, KernelClock.now(CLOCK_MONOTONIC) - started)) }
        // Compared and applied without the time it was taken.
        var comparable = snapshot
        comparable.takenAt = current?.takenAt ?? snapshot.takenAt
        if let current, comparable == current { return }
        let first = current == nil
        current = snapshot
        let json = Array(snapshot.jsonText(.compact).utf8)
        // Resolve from the table as stored, as replay will.
        guard let stored = try? NodeSnapshot(json: json) else { return }
        changes &+= 1
        let timestamp = UInt64(snapshot.takenAt.monotonicNanoseconds)
        // The first, before any event, at once; later ones in time order.
        if first {
            pipeline.updateDevices(DeviceTable(stored), json: json, timestamp: timestamp)
        } else {
            pipeline.scheduleDevices(DeviceTable(stored), json: json, timestamp: timestamp)
        }
    }

    /// After a batch: a rescan right away if a mount or block uevent was
    /// seen, at most every 100 ms (a burst of CSI mounts costs ten scans a
    /// second, not one per mount).
    public func refreshIfDirty() {
        guard mountsDirty, KernelClock.now(CLOCK_MONOTONIC) - lastMountScan >= 100_000_000 else { return }
        refresh()
    }

    /// A block uevent or a mount-family call that succeeded: the mount
    /// tables may have changed; the next refresh reads them.
    @inline(__always)
    public var observes: EventRoutes { EventRoutes.uevent.union(.mountFamilyCalls) }

    public func observe(_ event: Event, raw: RawRecord) {
        switch event {
        case .uevent(let message):
            if message.subsystem.equalsASCII("block") { mountsDirty = true }
        case .syscall(let record):
            if record.kind.isMountFamily && record.errno == nil { mountsDirty = true }
        default:
            return
        }
    }

    public func finish(at timestamp: UInt64) {}
}
