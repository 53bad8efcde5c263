import StoretraceDecode

/// The process a live thread belongs to, and its name, from /proc.
public enum ProcTask {
    /// /proc/TID/status (Tgid) and /proc/TID/comm; nil once the thread is gone.
    public static func identity(of tid: Int32) -> TaskIdentity? {
        guard let status = try? readFile("/proc/\(tid)/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }),
              let tgid = Int32(line.dropFirst(5).filter { $0 != " " && $0 != "\t" }),
              let comm = try? readFile("/proc/\(tid)/comm") else { return nil }
        // At most 15 bytes, as the kernel's comm (TASK_COMM_LEN) and the
        // capture's task record hold it: /proc shows a kworker's workqueue
        // after its name ("kworker/u8:4-loop0"), which replay could not show.
        return TaskIdentity(tgid: tgid, comm: Array(comm.utf8.prefix { $0 != UInt8(ascii: "\n") }.prefix(15)))
    }
}

/// Threads that exited before /proc could name them, from the kernel's
/// saved_tgids and saved_cmdlines (filled because the instance turns on
/// record-tgid; see TracefsInstance). Both files are read again for each
/// thread /proc does not know, since the thread's entry is written at its
/// last context switch, before its /proc entry goes; each thread is asked
/// once (TaskTable remembers the unknown ones), and the files are bounded by
/// the kernel's saved_cmdlines_size.
public struct SavedTasks {
    public let tracefsPath: String

    public init(tracefs: TracefsMount) {
        tracefsPath = tracefs.path
    }

    public func identity(of tid: Int32) -> TaskIdentity? {
        guard case .success(let tgids) = TracefsFiles.read(tracefsPath + "/saved_tgids"),
              case .success(let cmdlines) = TracefsFiles.read(tracefsPath + "/saved_cmdlines") else { return nil }
        return SavedTaskList.identity(of: tid, tgids: SavedTaskList.parse(tgids), cmdlines: SavedTaskList.parse(cmdlines))
    }

    /// /proc while the thread lives, else what the kernel saved.
    public func resolve(_ tid: Int32) -> TaskIdentity? {
        ProcTask.identity(of: tid) ?? identity(of: tid)
    }
}
