import StoretraceDecode

/// Thread id -> process and name, for ftrace events (their records hold only
/// the thread id). Live, a thread is looked up in /proc the first time it is
/// seen (`resolve` = `SavedTasks.resolve`: /proc, or
/// the kernel's saved_tgids/saved_cmdlines for a thread that already exited), and `onResolved` lets the recorder store the answer in the capture,
/// so that replay, on another machine, names the same threads the same way.
/// Replay fills the table from those records (and the node snapshot).
public final class TaskTable {
    /// How a thread id not yet in the table is resolved (nil: unknown).
    public var resolve: (Int32) -> TaskIdentity?
    /// Called once per thread resolved by `resolve`.
    public var onResolved: ((Int32, TaskIdentity) -> Void)?
    private var known: [Int32: TaskIdentity] = [:]
    /// Threads `resolve` could not name (exited): asked once, not per event.
    private var unknown: Set<Int32> = []
    /// Events of a thread (not the idle task) that could not be named:
    /// shown in the summary, since --comm and --pid cannot keep them.
    public private(set) var eventsWithoutTask: UInt64 = 0
    /// Thread ids are reused; a table this large is started over.
    static let capacity = 65536

    public init(resolve: @escaping (Int32) -> TaskIdentity? = { _ in nil }) {
        self.resolve = resolve
    }

    public func identity(of tid: Int32) -> TaskIdentity? {
        if let found = known[tid] { return found }
        guard tid > 0 else { return nil } // 0: the idle task, interrupt context
        guard !unknown.contains(tid) else {
            eventsWithoutTask &+= 1
            return nil
        }
        if known.count + unknown.count >= Self.capacity {
            known.removeAll(keepingCapacity: true)
            unknown.removeAll(keepingCapacity: true)
        }
        guard let found = resolve(tid) else {
            unknown.insert(tid)
            eventsWithoutTask &+= 1
            return nil
        }
        known[tid] = found
        onResolved?(tid, found)
        return found
    }

    /// A thread named by the capture (replay).
    public func insert(tid: Int32, _ identity: TaskIdentity) {
        known[tid] = identity
        unknown.remove(tid)
    }
}
