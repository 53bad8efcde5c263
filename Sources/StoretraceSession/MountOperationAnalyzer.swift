import StoretraceAnalyze
import StoretraceDecode
import StoretraceRecords

/// Assembles the mount family's calls into mount operations as mount(8)
/// would say them (`MountOperationTracker`) and puts each back on the
/// timeline as a `mount_op` event, right after the call that ended it.
public final class MountOperationAnalyzer: EventAnalyzer {
    private unowned let pipeline: Pipeline
    private var tracker: MountOperationTracker!

    public init(pipeline: Pipeline) {
        self.pipeline = pipeline
        tracker = MountOperationTracker { [unowned self] operation in
            self.pipeline.deliverDerived(.mountOperation(operation), timestamp: operation.end)
        }
    }

    /// What the tracker had to drop or cut (its state is bounded): shown in the summary.
    public var counters: MountOperationCounters { tracker.counters }

    @inline(__always)
    public var observes: EventRoutes { .mountFamilyCalls }

    public func observe(_ event: Event, raw: RawRecord) {
        if case .syscall(let record) = event { tracker.track(record) }
    }

    public func finish(at timestamp: UInt64) {
        tracker.finish(at: timestamp)
    }
}
