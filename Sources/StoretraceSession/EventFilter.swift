import StoretraceAnalyze
import StoretraceDecode

/// The event types beside the syscalls, as `--type` names them: those of
/// the kernel-side sources, and `mount_op`, derived from the mount calls.
public enum KernelEventType: String, CaseIterable, Sendable {
    case uevent, kmsg, function, tracepoint
    /// Exclusive claims of block devices (`ClaimTracer`).
    case claim
    case mountOperation = "mount_op"
    case mountHealth = "mount_health"
    case queueSetting = "queue_setting"
}

/// The filters of `live`, `record` and `replay`. Checking a record reads its
/// fields in place and allocates nothing.
public struct EventFilter: Sendable {
    public var pids: [UInt32] = []
    /// Exact comm names (as the kernel truncates them: at most 15 bytes).
    public var comms: [[UInt8]] = []
    /// Syscalls asked for with --type; with `kernelTypes`, empty means all.
    public var kinds: Set<SyscallKind> = [] {
        didSet { updateKindMask() }
    }
    public var kernelTypes: Set<KernelEventType> = [] {
        didSet { updateKindMask() }
    }
    public var failedOnly = false
    public var minLatencyNanoseconds: UInt64 = 0
    /// `--pod`: pod UIDs (with dashes) whose processes' syscall events pass.
    public var podUIDs: [[UInt8]] = []
    /// `--container`: container ids, or prefixes of them.
    public var containerPrefixes: [[UInt8]] = []
    /// `--path`: events with a path at or under one of these.
    public var pathPrefixes: [[UInt8]] = []
    /// `--device`: events resolved to one of these block devices.
    public var devices: [DeviceSelector] = []
    /// Uevents of these SUBSYSTEM values only (as bytes, for a comparison
    /// that allocates nothing); nil keeps every one.
    public var ueventSubsystems: [[UInt8]]?
    /// Bit `kind.rawValue` set: that syscall passes. `accepts` runs per
    /// event: a mask test instead of hashing into `kinds`.
    private var kindMask: UInt64 = ~0

    public init() {}

    var typesRestricted: Bool { !kinds.isEmpty || !kernelTypes.isEmpty }

    private mutating func updateKindMask() {
        kindMask = typesRestricted ? kinds.reduce(0) { $0 | (1 << UInt64($1.rawValue)) } : ~0
    }

    /// Calls to trace: the kinds asked for, all if no type was named, none
    /// if only kernel-side types were.
    public var tracedKinds: [SyscallKind] {
        if !typesRestricted { return SyscallKind.allCases }
        // mount_op is made of the mount family's calls: trace them all.
        let operations = kernelTypes.contains(.mountOperation)
        return SyscallKind.allCases.filter { kinds.contains($0) || (operations && $0.isMountFamily) }
    }

    /// Whether events of this kernel-side type can pass at all (so a source
    /// nobody asked for is not even opened).
    public func wants(_ type: KernelEventType) -> Bool {
        if typesRestricted && !kernelTypes.contains(type) { return false }
        // --failed, --min-latency, --pid and --comm apply to operations and claims as to calls.
        if type == .mountOperation || type == .claim { return true }
        // --failed and --min-latency are about syscalls; they exclude the rest.
        if failedOnly || minLatencyNanoseconds > 0 { return false }
        return true
    }

    @inline(__always)
    public func accepts(_ record: SyscallRecord) -> Bool {
        if kindMask & (1 << UInt64(record.kind.rawValue)) == 0 { return false }
        if failedOnly && record.errno == nil { return false }
        if record.latency < minLatencyNanoseconds { return false }
        if !pids.isEmpty && !pids.contains(record.pid) { return false }
        if !comms.isEmpty {
            let comm = record.comm
            if !comms.contains(where: { $0.elementsEqual(comm) }) { return false }
        }
        return true
    }

    /// One decoded event, by its type.
    @inline(__always)
    public func accepts(_ event: Event) -> Bool {
        switch event {
        case .syscall(let record):
            return accepts(record)
        case .uevent(let message):
            return acceptsKernel(.uevent) && keepsSubsystem(message.subsystem)
        case .kmsg:
            return acceptsKernel(.kmsg)
        case .ftrace(let view, let task):
            let type: KernelEventType = view.isFunctionEvent ? .function : .tracepoint
            guard let task else { return acceptsFtrace(type, pid: nil, comm: nil) }
            return task.comm.withUnsafeBytes { acceptsFtrace(type, pid: task.tgid, comm: $0) }
        case .mountOperation(let operation):
            return accepts(operation)
        case .mountHealth:
            return acceptsKernel(.mountHealth)
        case .claim(let record):
            return accepts(record)
        case .holders:
            // Scanned only for a failure that was shown: shown with it.
            return true
        case .queueSetting:
            // The node's context for copies: shown (and recorded) with them,
            // whatever the process filters say.
            return wants(.queueSetting) || kinds.contains(where: \.movesData)
        }
    }

    /// Claims are filtered like calls: by process and name, and under
    /// --failed only the refused ones; --min-latency (they have none) drops them.
    public func accepts(_ claim: ClaimRecord) -> Bool {
        if typesRestricted && !kernelTypes.contains(.claim) { return false }
        if failedOnly && claim.errno == nil { return false }
        if minLatencyNanoseconds > 0 { return false }
        if !pids.isEmpty && !pids.contains(claim.pid) { return false }
        if !comms.isEmpty {
            let comm = claim.comm
            if !comms.contains(where: { $0.elementsEqual(comm) }) { return false }
        }
        return true
    }

    public func accepts(_ operation: MountOperation) -> Bool {
        guard wants(.mountOperation) else { return false }
        if failedOnly, case .succeeded = operation.outcome { return false }
        if operation.latency < minLatencyNanoseconds { return false }
        if !pids.isEmpty && !pids.contains(operation.pid) { return false }
        if !comms.isEmpty && !comms.contains(operation.comm) { return false }
        return true
    }

    public func keepsSubsystem(_ subsystem: UnsafeRawBufferPointer) -> Bool {
        guard let ueventSubsystems else { return true }
        return ueventSubsystems.contains { $0.elementsEqual(subsystem) }
    }

    /// Events without a process (uevents, kmsg) pass only when no process filter is set.
    public func acceptsKernel(_ type: KernelEventType) -> Bool {
        wants(type) && pids.isEmpty && comms.isEmpty
    }

    /// ftrace events: the process and name of their thread, where known.
    public func acceptsFtrace(_ type: KernelEventType, pid: Int32?, comm: UnsafeRawBufferPointer?) -> Bool {
        guard wants(type) else { return false }
        if !pids.isEmpty {
            guard let pid, pids.contains(UInt32(bitPattern: pid)) else { return false }
        }
        if !comms.isEmpty {
            guard let comm, comms.contains(where: { $0.elementsEqual(comm) }) else { return false }
        }
        return true
    }
}
