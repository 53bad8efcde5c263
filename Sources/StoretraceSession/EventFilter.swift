import StoretraceDecode

/// The filters of `live` (and later `record` and `replay`). Checking a
/// record reads its fields in place and allocates nothing.
public struct EventFilter: Sendable {
    public var pids: [UInt32] = []
    /// Exact comm names (as the kernel truncates them: at most 15 bytes).
    public var comms: [[UInt8]] = []
    public var kinds: Set<SyscallKind> = []
    public var failedOnly = false
    public var minLatencyNanoseconds: UInt64 = 0

    public init() {}

    /// Calls to trace: the kinds asked for, or all.
    public var tracedKinds: [SyscallKind] {
        kinds.isEmpty ? SyscallKind.allCases : SyscallKind.allCases.filter { kinds.contains($0) }
    }

    public func accepts(_ record: SyscallRecord) -> Bool {
        if !kinds.isEmpty && !kinds.contains(record.kind) { return false }
        if failedOnly && record.errno == nil { return false }
        if record.latency < minLatencyNanoseconds { return false }
        if !pids.isEmpty && !pids.contains(record.pid) { return false }
        if !comms.isEmpty {
            let comm = record.comm
            if !comms.contains(where: { $0.elementsEqual(comm) }) { return false }
        }
        return true
    }
}
