/// Where a record came from. The values are part of the capture format
/// (a capture names its types; `CaptureRecordTypes` binds each kind to one):
/// never renumber, only append.
public enum SourceKind: UInt16, CaseIterable, Sendable {
    /// A BPF syscall record (struct st_syscall_event).
    case syscall = 1
    /// An ftrace event from a tracefs instance (function tracer or tracepoint),
    /// as the per-CPU ring delivered it: the event payload, common fields first.
    case ftrace = 2
    /// A NETLINK_KOBJECT_UEVENT message as received.
    case uevent = 3
    /// One /dev/kmsg record as read.
    case kmsg = 4
    /// Who held a mount or device when a traced call failed with EBUSY: a
    /// scan of the node right after the failure (`HoldersRecordCodec`).
    case holders = 5
    /// An exclusive claim of a block device (struct st_claim_event), where
    /// the kernel allows fexit or kprobes (`ClaimTracer`).
    case claim = 6
    /// A block queue setting that changed (`QueueSettingSampler`): the disk,
    /// the setting, old and new value (`QueueSettingCodec`).
    case queueSetting = 8

    public var name: String {
        switch self {
        case .syscall: "syscall"
        case .ftrace: "ftrace"
        case .uevent: "uevent"
        case .kmsg: "kmsg"
        case .holders: "holders"
        case .claim: "claim"
        case .queueSetting: "queue_setting"
        }
    }

    /// Index for per-kind counters (`rawValue - 1`; arrays of
    /// `indexCount` entries: raw values may have gaps).
    @inline(__always)
    public var index: Int { Int(rawValue) - 1 }

    /// The size of an array indexed by `index`.
    public static let indexCount = Int(allCases.map(\.rawValue).max()!)
}

/// One record as a source delivered it, viewed in place: `bytes` is only
/// valid during the callback that receives it.
public struct RawRecord {
    public var source: SourceKind
    /// CLOCK_MONOTONIC nanoseconds (every source is brought to this clock).
    public var timestamp: UInt64
    /// The CPU it was recorded on, where the source knows it (ftrace), else 0.
    public var cpu: UInt32
    public var bytes: UnsafeRawBufferPointer

    public init(source: SourceKind, timestamp: UInt64, cpu: UInt32 = 0, bytes: UnsafeRawBufferPointer) {
        self.source = source
        self.timestamp = timestamp
        self.cpu = cpu
        self.bytes = bytes
    }
}

/// A producer of records that joins the event loop: the loop polls
/// `pollFDs` and calls `drain` when one is readable. Sources never block.
public protocol RecordSource: AnyObject {
    var kind: SourceKind { get }
    var pollFDs: [Int32] { get }
    /// A source with nothing to poll (it works from what other events
    /// asked of it) is drained on a timer this often. nil: never.
    var drainEveryMilliseconds: Int? { get }
    /// Some sources do not signal every record on `pollFDs` (the BPF ring
    /// buffer batches wake-ups): the loop drains them again this many
    /// milliseconds after every drain that delivered records. nil: never.
    var redrainMilliseconds: Int? { get }
    /// Reads everything available now and hands each record to `emit`, in
    /// place (no copy). Returns the number of records. `emit` is escaping
    /// only so that a source fed by C callbacks (the BPF ring buffer) can
    /// reach it while it drains; no source keeps it after returning. Pass
    /// one closure made once (`SourceDriver` does): a closure literal per
    /// drain costs a context allocation.
    @discardableResult
    func drain(_ emit: @escaping (RawRecord) -> Void) -> Int
    /// Every way this source lost or skipped data, cumulative.
    var losses: [LossCount] { get }
    /// Stops and releases everything it holds; safe to call twice.
    func close()
}

extension RecordSource {
    public var redrainMilliseconds: Int? { nil }
    public var drainEveryMilliseconds: Int? { nil }
}
