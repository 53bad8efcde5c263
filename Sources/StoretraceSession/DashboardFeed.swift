import StoretraceAnalyze
import StoretraceDecode
import StoretraceRecords
import StoretraceRender

/// Feeds `storetrace top`'s `DashboardModel` from the pipeline: a consumer
/// of the events that passed the filters (the same as `live` prints), and an
/// analyzer for what every event changes whether shown or not (the
/// read-ahead in force, from every queue setting change). Per event it is a
/// table lookup or two; lines of the devices and kernel-errors panes are
/// rendered once, when their (rare) event comes, by the text renderer that
/// `live` uses.
public final class DashboardFeed: EventConsumer, EventAnalyzer {
    public var model: DashboardModel
    public let view: DashboardView
    private let decoder: EventDecoder
    /// The pod of a holder's process (live: its /proc/PID/cgroup), asked once per holders event.
    public var podOfProcess: (Int32) -> PodCgroup? = { _ in nil }

    public init(model: DashboardModel, view: DashboardView, decoder: EventDecoder) {
        self.model = model
        self.view = view
        self.decoder = decoder
    }

    public func consume(_ event: Event, raw: RawRecord) {
        switch event {
        case .syscall(let record):
            model.add(record, pod: decoder.pods.isActive ? decoder.pods.pod(of: record) : nil)
        case .holders(let report, let explains):
            var pods: [Int32: PodCgroup] = [:]
            for holder in report.holders {
                guard let pid = holder.pid, pods[pid] == nil, let pod = podOfProcess(pid) else { continue }
                pods[pid] = pod
            }
            model.addHolders(report, explainingCallOf: explains.tid, at: explains.monotonicNanoseconds, holderPods: pods)
        case .uevent(let message):
            model.addUevent(action: message.action, text: view.ueventLine(message), at: raw.timestamp)
        case .kmsg(let record):
            if record.level.rawValue <= 3 { model.addKernelError(view.kmsgLine(record), at: raw.timestamp) }
        case .queueSetting(let change):
            model.addQueueSettingLine(view.queueSettingLine(change), at: raw.timestamp)
        case .mountHealth(let health):
            model.add(health)
        case .ftrace, .claim, .mountOperation:
            return
        }
    }

    public func consumeDerived(_ event: Event, timestamp: UInt64) {
        if case .mountHealth(let health) = event { model.add(health) }
    }

    public func devicesChanged(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {
        model.devicesChanged(table)
    }

    // MARK: EventAnalyzer

    public var observes: EventRoutes { .queueSetting }

    public func observe(_ event: Event, raw: RawRecord) {
        if case .queueSetting(let change) = event { model.apply(change, at: raw.timestamp) }
    }

    public func finish(at timestamp: UInt64) {}
}
