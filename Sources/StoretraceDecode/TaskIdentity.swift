/// The process a thread belongs to and its name. ftrace records carry only
/// the thread id (common_pid) of the task that was running; the session
/// resolves the rest (see StoretraceSession.TaskTable).
public struct TaskIdentity: Equatable, Sendable {
    /// Thread group id: what `ps` calls the pid.
    public var tgid: Int32
    /// The thread's comm, as /proc/TID/comm holds it (at most 15 bytes).
    public var comm: [UInt8]

    public init(tgid: Int32, comm: [UInt8]) {
        self.tgid = tgid
        self.comm = comm
    }
}
