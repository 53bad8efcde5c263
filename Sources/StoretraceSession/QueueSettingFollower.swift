import StoretraceDecode
import StoretraceKernel
import StoretraceRecords

/// Keeps the read-ahead shown with copies the one in force: every
/// `queue_setting` event, shown or filtered out, updates the printer's
/// enrichment before the events after it render. Live, it also points the
/// sampler at a disk a uevent announced (`add`, `change`) or removed, so
/// its settings are read at once rather than within the second. Nothing
/// here touches sysfs: the sampler reads on the loop's timer.
public final class QueueSettingFollower: EventAnalyzer {
    private let printer: EventPrinter?
    private let sampler: QueueSettingSampler?

    public init(printer: EventPrinter?, sampler: QueueSettingSampler?) {
        self.printer = printer
        self.sampler = sampler
    }

    public var observes: EventRoutes { [.queueSetting, .uevent] }

    @inline(__always)
    public func observe(_ event: Event, raw: RawRecord) {
        switch event {
        case .queueSetting(let change):
            printer?.applyQueueSetting(change)
        case .uevent(let message):
            guard let sampler, message.subsystem.elementsEqual("block".utf8),
                  let type = message.devtype, type.elementsEqual("disk".utf8), let name = message.devname else { return }
            let action = message.actionName
            if action.elementsEqual("remove".utf8) {
                sampler.deviceRemoved(name: String(decoding: name, as: UTF8.self))
            } else if action.elementsEqual("add".utf8) || action.elementsEqual("change".utf8) {
                sampler.deviceAppeared(name: String(decoding: name, as: UTF8.self))
            }
        default:
            return
        }
    }

    public func finish(at timestamp: UInt64) {}
}
