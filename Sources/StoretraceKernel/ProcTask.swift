import StoretraceDecode

/// The process a live thread belongs to, and its name, from /proc.
public enum ProcTask {
    /// /proc/TID/status (Tgid) and /proc/TID/comm; nil once the thread is gone.
    public static func identity(of tid: Int32) -> TaskIdentity? {
        guard let status = try? readFile("/proc/\(tid)/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }),
              let tgid = Int32(line.dropFirst(5).filter { $0 != " " && $0 != "\t" }),
              let comm = try? readFile("/proc/\(tid)/comm") else { return nil }
        return TaskIdentity(tgid: tgid, comm: Array(comm.utf8.prefix { $0 != UInt8(ascii: "\n") }))
    }
}
