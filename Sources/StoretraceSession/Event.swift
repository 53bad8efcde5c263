import StoretraceAnalyze
import StoretraceDecode
import StoretraceRecords
import StoretraceRender

/// A record decoded into what it says: the typed events every consumer
/// takes. Each is a view into the record's bytes, valid only while the
/// consumer's `consume` runs.
public enum Event {
    case syscall(SyscallRecord)
    case uevent(UeventMessage)
    case kmsg(KmsgRecord)
    /// `task`: the process and name of the thread, where known (the record
    /// holds only the thread id).
    case ftrace(FtraceEventView, task: TaskIdentity?)
    /// Who held what a failed call needed (a scan right after it), and the call.
    /// Indirect, as `mountOperation`: a rare event's large payload must not
    /// make every event a large value copied on the hot path.
    indirect case holders(HolderReport, explains: HolderRenderer.Explains)
    /// An exclusive claim of a block device (`ClaimTracer`).
    case claim(ClaimRecord)
    /// A block queue setting that changed (`QueueSettingSampler`), stamped when sampled.
    indirect case queueSetting(QueueSettingChange)
    /// Derived by an analyzer from the events before it (never recorded:
    /// replay derives it again, also from captures made before it existed).
    indirect case mountOperation(MountOperation)
    /// Derived (`MountHealthAnalyzer`): a mount's device failed or went away.
    indirect case mountHealth(MountHealth)
}

/// Takes the events that passed the filters, in time order.
public protocol EventConsumer: AnyObject {
    /// `raw` is the record the event was decoded from (what a capture stores).
    func consume(_ event: Event, raw: RawRecord)
    /// A batch of records ended (a drain, a merge release): write out what
    /// waits, so a line shows up promptly.
    func batchEnded()
    /// Why the session must stop, once it must (a closed output, a full
    /// disk); nil while all is well.
    var stopReason: StopReason? { get }
    /// An event an analyzer derived (a mount operation), stamped `timestamp`.
    /// Consumers of what the kernel delivered (the recorder) ignore them.
    func consumeDerived(_ event: Event, timestamp: UInt64)
    /// The device table changed (`Pipeline.updateDevices`); `json` is the
    /// record a capture stores (the recorder writes it).
    func devicesChanged(_ table: DeviceTable, json: [UInt8], timestamp: UInt64)
}

extension EventConsumer {
    public func batchEnded() {}
    public var stopReason: StopReason? { nil }
    public func consumeDerived(_ event: Event, timestamp: UInt64) {}
    public func devicesChanged(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {}
}

/// Sees every decoded event, whether or not it passed the filters (an
/// operation's first calls matter even under --failed), after the consumers
/// did, and may derive new events from them (`Pipeline.deliverDerived`).
public protocol EventAnalyzer: AnyObject {
    func observe(_ event: Event, raw: RawRecord)
    /// The events `observe` does something with; it is called for those
    /// only (asked once, when the analyzer is added). All by default.
    var observes: EventRoutes { get }
    /// The session stops at `timestamp`: report what is still open.
    func finish(at timestamp: UInt64)
    /// The device table changed from `old` (now `decoder.devices`).
    func devicesChanged(from old: DeviceTable, timestamp: UInt64)
}

extension EventAnalyzer {
    public var observes: EventRoutes { .all }
    public func devicesChanged(from old: DeviceTable, timestamp: UInt64) {}
}

/// Turns raw records into events: validates them and holds what decoding
/// needs beyond the bytes (ftrace formats, thread names, kernel symbols).
public final class EventDecoder {
    /// Decodes ftrace payloads; set when an ftrace source is on (or a capture holds formats).
    public var ftraceCatalog: FtraceEventCatalog?
    /// Process and name of the thread of an ftrace event.
    public var tasks = TaskTable()
    /// The pod and container of syscall events' processes (cgroup paths).
    public let pods = PodTable()
    /// The block devices and their mounts in force (`Pipeline.updateDevices`).
    public internal(set) var devices = DeviceTable.empty
    /// Kernel address to `symbol+0xoff`.
    public var describeAddress: (UInt64) -> String = { "0x" + String($0, radix: 16) }

    public init() {}

    public enum Failure: Error, CustomStringConvertible {
        case syscall(RecordError)
        case uevent(UeventParseError)
        case kmsg(KmsgParseError)
        case ftrace(FtraceViewError)
        case ftraceWithoutFormats
        case holders(String)
        case claim(ClaimRecordError)
        case queueSetting

        public var description: String {
            switch self {
            case .syscall(let error): "\(error)"
            case .uevent(let error): "uevent: \(error)"
            case .kmsg(let error): "kmsg: \(error)"
            case .ftrace(let error): "ftrace: \(error)"
            case .ftraceWithoutFormats: "ftrace record without formats"
            case .holders(let why): "holders: \(why)"
            case .claim(let error): "\(error)"
            case .queueSetting: "queue_setting: malformed record"
            }
        }
    }

    @inline(__always)
    public func decode(_ raw: RawRecord) throws(Failure) -> Event {
        switch raw.source {
        case .syscall:
            do { return .syscall(try SyscallRecord(validating: raw.bytes)) } catch { throw .syscall(error) }
        case .uevent:
            do { return .uevent(try UeventMessage(parsing: raw.bytes)) } catch { throw .uevent(error) }
        case .kmsg:
            do { return .kmsg(try KmsgRecord(parsing: raw.bytes)) } catch { throw .kmsg(error) }
        case .ftrace:
            guard let catalog = ftraceCatalog else { throw .ftraceWithoutFormats }
            let view: FtraceEventView
            do { view = try catalog.view(raw.bytes) } catch { throw .ftrace(error) }
            return .ftrace(view, task: tasks.identity(of: view.pid))
        case .claim:
            do { return .claim(try ClaimRecord(validating: raw.bytes)) } catch { throw .claim(error) }
        case .holders:
            guard let (explained, json) = HoldersRecordCodec.decode(raw.bytes) else { throw .holders("shorter than its header") }
            let report: HolderReport
            do { report = try HolderReport(json: Array(json)) } catch { throw .holders(error.description) }
            let explains = HolderRenderer.Explains(
                type: String(decoding: explained.type, as: UTF8.self), pid: Int32(bitPattern: explained.pid),
                tid: Int32(bitPattern: explained.tid), comm: String(decoding: explained.comm, as: UTF8.self),
                monotonicNanoseconds: explained.timestamp)
            return .holders(report, explains: explains)
        case .queueSetting:
            guard let change = QueueSettingCodec.decode(raw.bytes) else { throw .queueSetting }
            return .queueSetting(change)
        }
    }
}
