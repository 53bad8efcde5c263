import StoretraceDecode
import StoretraceKernel
import StoretraceRecords

/// The pod and container of a syscall event's process: cgroup id (and, on
/// cgroup v1 and hybrid hosts, process id) to `PodCgroup`. Per event it is a
/// lookup in two tables; a cgroup id or process not yet known is resolved
/// once (live: `resolveCgroup`/`resolveProcess`, which `CgroupResolver`
/// bounds; replay: never, the capture's `storetrace.cgroup` records filled
/// the tables), and `onResolved` lets the recorder store each path found.
/// Processes outside pods are kept (and shown): they map to no pod.
public final class PodTable {
    /// Live: the cgroup v2 path of a cgroup id (`CgroupResolver.path(ofCgroup:)`).
    public var resolveCgroup: ((UInt64) -> CgroupResolver.Lookup)? {
        didSet { if resolveCgroup != nil { isActive = true } }
    }
    /// Live on cgroup v1 and hybrid hosts: the path /proc/PID/cgroup gives.
    public var resolveProcess: ((UInt32) -> [UInt8]?)? {
        didSet { if resolveProcess != nil { isActive = true } }
    }
    /// Called once for each path resolved (the recorder writes it).
    public var onResolved: ((CgroupPathCodec.Entry, _ timestamp: UInt64) -> Void)?
    /// Syscall events whose process's cgroup could not be found (the process
    /// exited before its first event was read, or a rate bound): shown in
    /// the summary, since --pod and --container cannot keep them.
    public private(set) var unresolvedEvents: UInt64 = 0

    /// Index into `pods`, or `notPod`.
    private var byCgroup: [UInt64: Int32] = [:]
    private var byProcess: [UInt32: Int32] = [:]
    private var pods: [PodCgroup] = []
    private var podIndex: [PodCgroup: Int32] = [:]
    private static let notPod: Int32 = -1
    /// Cgroup ids and processes are reused; tables this large start over.
    static let capacity = 65536
    // The last answer: a process's events come in runs.
    private var lastCgroup: UInt64 = 0
    private var lastPID: UInt32 = 0
    private var lastIndex: Int32 = notPod
    private var lastValid = false

    public init() {}

    /// Live: resolve through `resolver` (the cgroup2 index, and on cgroup v1
    /// and hybrid hosts /proc/PID/cgroup).
    public func resolve(with resolver: CgroupResolver) {
        resolveCgroup = { resolver.path(ofCgroup: $0) }
        resolveProcess = resolver.method.readsProcesses ? { resolver.path(ofProcess: $0) } : nil
    }

    /// The pod of a syscall event's process; nil for a host process (or one
    /// that could not be resolved).
    @inline(__always)
    public func pod(of record: SyscallRecord) -> PodCgroup? {
        let index = podIndex(cgroupID: record.cgroupID, pid: record.pid, timestamp: record.timestamp, counting: false)
        return index == Self.notPod ? nil : pods[Int(index)]
    }

    /// Whether the table can name any pod: it has a resolver (live) or
    /// paths from a capture. Captures without cgroup records skip it.
    /// Stored, not computed: it is read for every event.
    public private(set) var isActive = false

    /// Resolves the event's process if it is not known yet (once), so that
    /// its path is recorded before the event.
    @inline(__always)
    public func prepare(_ record: SyscallRecord) {
        _ = podIndex(cgroupID: record.cgroupID, pid: record.pid, timestamp: record.timestamp, counting: true)
    }

    /// `counting`: an event that cannot be resolved adds to `unresolvedEvents`
    /// (once per event: `prepare` counts, later lookups do not).
    /// The last answer inline: a call (and the retain of the table around
    /// it) was most of the cost of the two lookups per event.
    @inline(__always)
    func podIndex(cgroupID: UInt64, pid: UInt32, timestamp: UInt64, counting: Bool) -> Int32 {
        if lastValid && lastCgroup == cgroupID && lastPID == pid { return lastIndex }
        return lookUp(cgroupID: cgroupID, pid: pid, timestamp: timestamp, counting: counting)
    }

    private func lookUp(cgroupID: UInt64, pid: UInt32, timestamp: UInt64, counting: Bool) -> Int32 {
        var resolved = true
        var index = Self.notPod
        if let known = byCgroup[cgroupID] {
            index = known
        } else if let resolveCgroup {
            switch resolveCgroup(cgroupID) {
            case .path(let path):
                onResolved?(CgroupPathCodec.Entry(cgroupID: cgroupID, pid: 0, source: .cgroupID, path: path), timestamp)
                index = remember(cgroupID: cgroupID, path: path)
            case .gone:
                index = remember(cgroupID: cgroupID, path: nil)
            case .later:
                resolved = false
            }
        }
        if index == Self.notPod {
            if let found = byProcess[pid] {
                index = found
            } else if let resolveProcess {
                if let path = resolveProcess(pid) {
                    onResolved?(CgroupPathCodec.Entry(cgroupID: cgroupID, pid: pid, source: .process, path: path), timestamp)
                    index = remember(pid: pid, path: path)
                    resolved = true
                } else {
                    resolved = false
                }
            }
        }
        if !resolved {
            if counting { unresolvedEvents &+= 1 }
            return index // not cached: asked again at the process's next event
        }
        lastCgroup = cgroupID
        lastPID = pid
        lastIndex = index
        lastValid = true
        return index
    }

    /// A path from the capture (replay) or a resolver.
    public func insert(_ entry: CgroupPathCodec.Entry) {
        switch entry.source {
        case .cgroupID: _ = remember(cgroupID: entry.cgroupID, path: entry.path)
        case .process: _ = remember(pid: entry.pid, path: entry.path)
        }
    }

    private func remember(cgroupID: UInt64, path: [UInt8]?) -> Int32 {
        startOverIfFull()
        let index = intern(path)
        byCgroup[cgroupID] = index
        isActive = true
        lastValid = false
        return index
    }

    private func remember(pid: UInt32, path: [UInt8]) -> Int32 {
        startOverIfFull()
        let index = intern(path)
        byProcess[pid] = index
        isActive = true
        lastValid = false
        return index
    }

    private func intern(_ path: [UInt8]?) -> Int32 {
        guard let path, let pod = path.withUnsafeBytes({ PodCgroup(path: $0) }) else { return Self.notPod }
        if let known = podIndex[pod] { return known }
        let index = Int32(pods.count)
        pods.append(pod)
        podIndex[pod] = index
        return index
    }

    private func startOverIfFull() {
        guard byCgroup.count + byProcess.count >= Self.capacity || pods.count >= Self.capacity else { return }
        byCgroup.removeAll(keepingCapacity: true)
        byProcess.removeAll(keepingCapacity: true)
        pods.removeAll(keepingCapacity: true)
        podIndex.removeAll(keepingCapacity: true)
        lastValid = false
    }
}
