import StoretraceAnalyze
import StoretraceDecode
import StoretraceRecords

/// Builds the `StorageSummary` of a session (`--summary`, `storetrace
/// summary`): the calls that pass the filters, and every queue setting
/// change (the read-ahead in force matters whatever is shown).
public final class SummaryAnalyzer: EventAnalyzer {
    public private(set) var summary: StorageSummary
    private let filter: EventFilter

    public init(devices: BlockDevicesInForce, filter: EventFilter) {
        summary = StorageSummary(devices: devices)
        self.filter = filter
    }

    /// The start snapshot of a capture, read with its first record.
    public func start(devices: BlockDevicesInForce) { summary.start(devices: devices) }

    /// Set where the pipeline has filters that need context (--pod,
    /// --path...): whether it showed the event being observed.
    public weak var pipeline: Pipeline?

    public func observe(_ event: Event, raw: RawRecord) {
        switch event {
        case .syscall(let record):
            if pipeline?.lastEventShown ?? filter.accepts(record) { summary.add(record) }
        case .queueSetting(let change):
            summary.add(change, at: raw.timestamp)
        default:
            if pipeline?.lastEventShown ?? filter.accepts(event) { summary.see(raw.timestamp) }
        }
    }

    /// Fills the summary's unhealthy mounts when set.
    public var mountHealth: MountHealthAnalyzer?

    public func finish(at timestamp: UInt64) {
        if let mountHealth { summary.unhealthyMounts = mountHealth.unhealthy.map(\.summaryText) }
    }
}
