import StoretraceAnalyze
import StoretraceDecode
import StoretraceRecords

/// Follows the health of every mount of a block device (`MountHealthTracker`)
/// from the kernel log, block uevents and device-table changes, and puts
/// each first cause back on the timeline as a `mount_health` event. Derived
/// live and in replay from the same records (the kmsg and uevent records and
/// the device tables a capture holds), so both print the same.
public final class MountHealthAnalyzer: EventAnalyzer {
    private unowned let pipeline: Pipeline
    private var tracker: MountHealthTracker!
    /// Deliver what the tracker reports (false: collect only, for `info`).
    private let deliver: Bool

    public init(pipeline: Pipeline, deliver: Bool = true) {
        self.pipeline = pipeline
        self.deliver = deliver
        tracker = MountHealthTracker { [unowned self] health in
            if self.deliver { self.pipeline.deliverDerived(.mountHealth(health), timestamp: health.timestamp) }
        }
    }

    /// Every mount that was unhealthy, in the order it first was, with its counts.
    public var unhealthy: [MountHealth] { tracker.unhealthy }
    public var overLimit: UInt64 { tracker.overLimit }

    @inline(__always)
    public var observes: EventRoutes { [.kmsg, .uevent] }

    public func observe(_ event: Event, raw: RawRecord) {
        switch event {
        case .kmsg(let record):
            let message = record.message
            guard let mention = KmsgDevicePatterns.find(in: message, severe: record.level.rawValue <= 3),
                  let problem = mention.problem else { return }
            let table = pipeline.decoder.devices
            guard let index = table.resolve(mention, in: message) else { return }
            tracker.logged(problem, device: index, table: table, timestamp: raw.timestamp) { Self.text(of: message) }
        case .uevent(let message):
            guard message.actionName.equalsASCII("remove"), message.subsystem.equalsASCII("block"),
                  let major = message.major, let minor = message.minor else { return }
            let table = pipeline.decoder.devices
            guard let index = table.index(major: UInt32(truncatingIfNeeded: major), minor: UInt32(truncatingIfNeeded: minor)) else { return }
            tracker.problem(.deviceRemoved, device: index, table: table, timestamp: raw.timestamp) {
                "uevent remove " + String(decoding: message.devpath, as: UTF8.self)
                    + (message.sequenceNumber.map { " seq=\($0)" } ?? "")
            }
        default:
            return
        }
    }

    public func devicesChanged(from old: DeviceTable, timestamp: UInt64) {
        tracker.tableChanged(from: old, to: pipeline.decoder.devices, timestamp: timestamp)
    }

    public func finish(at timestamp: UInt64) {}

    /// The kmsg text with the kernel's \xNN escapes undone (rendering escapes it again).
    static func text(of message: UnsafeRawBufferPointer) -> String {
        var bytes = [UInt8](repeating: 0, count: max(message.count, 1))
        let count = bytes.withUnsafeMutableBytes { KmsgRecord.unescape(message, into: $0) } ?? 0
        return String(decoding: bytes[..<count], as: UTF8.self)
    }
}

extension UnsafeRawBufferPointer {
    /// Byte equality with an ASCII literal, no allocation.
    func equalsASCII(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { $0.elementsEqual(self) }
    }
}
