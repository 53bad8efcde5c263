/// Track uuids, unique in a trace and stable: a process's and a thread's
/// carry their pid and tid, so a writer can tell them from the uuid alone
/// and no table of every process seen is needed (the Trace Event JSON's
/// pid and tid). pids and tids fit in 30 bits (the kernel's PID_MAX_LIMIT
/// is 2^22).
public enum TrackIDs {
    static let processTag: UInt64 = 1 << 62
    static let threadTag: UInt64 = 2 << 62
    /// Named and counter tracks: a number given in the order they appear.
    static let otherTag: UInt64 = 3 << 62
    static let idMask: UInt64 = (1 << 30) - 1

    public static func process(_ pid: UInt32) -> UInt64 { processTag | UInt64(pid) & idMask }

    public static func thread(pid: UInt32, tid: UInt32) -> UInt64 {
        threadTag | (UInt64(pid) & idMask) << 30 | UInt64(tid) & idMask
    }

    public static func other(_ number: UInt64) -> UInt64 { otherTag | number }

    /// The pid and tid a process or thread track stands for (a process's tid is its pid).
    public static func task(of uuid: UInt64) -> (pid: UInt32, tid: UInt32)? {
        switch uuid & (3 << 62) {
        case processTag: return (UInt32(uuid & idMask), UInt32(uuid & idMask))
        case threadTag: return (UInt32(uuid >> 30 & idMask), UInt32(uuid & idMask))
        default: return nil
        }
    }

    public static func isProcess(_ uuid: UInt64) -> Bool { uuid & (3 << 62) == processTag }
}
