import Glibc
import StoretraceDecode

/// Finds the cgroup path of an event's process, live, off the per-event
/// path: `PodTable` asks once per cgroup id (and, on cgroup v1 and hybrid
/// hosts, once per process) and keeps the answer.
///
/// A BPF cgroup id (`bpf_get_current_cgroup_id`) is the inode of the
/// process's directory in the cgroup v2 (unified) hierarchy. The mount of
/// that hierarchy is found once in /proc/self/mountinfo, and its directory
/// tree is indexed, inode to path (bounded: `indexLimit` directories); a
/// cgroup id the index does not know refreshes it, at most once a second.
/// On a host that also mounts cgroup v1 hierarchies (hybrid, or v1 only) the
/// id is the unified hierarchy's, usually its root, while kubelet's pod
/// cgroups are in the v1 controllers': there the process's own
/// /proc/PID/cgroup is read (at most `processReadsPerSecond` a second).
public final class CgroupResolver {
    /// How a process's cgroup is found on this host (`storetrace doctor`).
    public enum Method: Equatable, Sendable {
        /// cgroup v2 only: the BPF cgroup id says it all.
        case unified(mountPoint: String)
        /// cgroup2 beside v1 hierarchies: the id, then /proc/PID/cgroup.
        case hybrid(mountPoint: String)
        /// No cgroup2 mount: /proc/PID/cgroup only.
        case v1
        /// No cgroup hierarchy mounted at all.
        case none

        public var description: String {
            switch self {
            case .unified(let mount): "cgroup v2: BPF cgroup ids, the directories of \(mount) indexed"
            case .hybrid(let mount): "hybrid: BPF cgroup ids (unified hierarchy \(mount)), then /proc/PID/cgroup (v1 hierarchies)"
            case .v1: "cgroup v1: /proc/PID/cgroup"
            case .none: "no cgroup hierarchy mounted: pods cannot be told"
            }
        }

        /// Whether /proc/PID/cgroup can say more than the cgroup id.
        public var readsProcesses: Bool {
            switch self {
            case .hybrid, .v1: true
            case .unified, .none: false
            }
        }
    }

    public enum Lookup: Equatable {
        case path([UInt8])
        /// Not in a fresh index: a cgroup already removed.
        case gone
        /// Not known, and the index was refreshed less than a second ago.
        case later
    }

    public let method: Method
    /// The cgroup2 mount point, if there is one.
    public let unifiedMount: String?
    public static let indexLimit = 65536
    public static let processReadsPerSecond = 256
    /// Directories left out of the index because it was full (last refresh).
    public private(set) var indexOverflow = 0
    public private(set) var refreshes = 0
    /// Directories in the index (the last refresh).
    public var indexedCount: Int { index.count }
    /// /proc/PID/cgroup reads refused by the rate bound.
    public private(set) var processReadsDeferred: UInt64 = 0
    private var index: [UInt64: [UInt8]] = [:]
    private var lastRefresh: Int64 = .min
    private var readsThisSecond = 0
    private var second: Int64 = .min
    private let now: () -> Int64

    /// The method from `mountinfo` (this process's /proc/self/mountinfo by default).
    public init(mountinfo: String = "/proc/self/mountinfo", now: @escaping () -> Int64 = { KernelClock.now(CLOCK_MONOTONIC) }) {
        self.now = now
        var unified: String?
        var hasV1 = false
        if case .success(let text) = TracefsFiles.readText(mountinfo) {
            var parser = MountinfoParser()
            var malformed = 0, overLimit = 0
            for mount in parser.mounts(text, malformed: &malformed, overLimit: &overLimit) {
                if mount.fstype == "cgroup2" && unified == nil { unified = mount.mountPoint }
                if mount.fstype == "cgroup" { hasV1 = true }
            }
        }
        unifiedMount = unified
        switch (unified, hasV1) {
        case (let mount?, false): method = .unified(mountPoint: mount)
        case (let mount?, true): method = .hybrid(mountPoint: mount)
        case (nil, true): method = .v1
        case (nil, false): method = .none
        }
    }

    /// The path (relative to the unified mount, "/" its root) of cgroup `id`.
    public func path(ofCgroup id: UInt64) -> Lookup {
        guard unifiedMount != nil else { return .gone }
        if let found = index[id] { return .path(found) }
        let time = now()
        guard lastRefresh == .min || time - lastRefresh >= 1_000_000_000 else { return .later }
        refresh(at: time)
        return index[id].map { .path($0) } ?? .gone
    }

    /// Indexes the unified hierarchy again: inode (= cgroup id) to path.
    public func refresh() { refresh(at: now()) }

    private func refresh(at time: Int64) {
        guard let mount = unifiedMount else { return }
        lastRefresh = time
        refreshes += 1
        index.removeAll(keepingCapacity: true)
        indexOverflow = 0
        var rootStat = stat()
        if stat(mount, &rootStat) == 0 { index[UInt64(rootStat.st_ino)] = Array("/".utf8) }
        // Depth-first, directories only; readdir's d_ino is the kernfs node id.
        var pending: [[UInt8]] = [[]]
        while let relative = pending.popLast() {
            guard let directory = opendir(mount + String(decoding: relative, as: UTF8.self)) else { continue }
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    Array(raw.prefix { $0 != 0 })
                }
                if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
                guard index.count < Self.indexLimit else {
                    indexOverflow += 1
                    continue
                }
                let path = relative + [UInt8(ascii: "/")] + name
                index[UInt64(entry.pointee.d_ino)] = path
                pending.append(path)
            }
        }
    }

    /// The cgroup path /proc/PID/cgroup says most about (`ProcCgroupFile`);
    /// nil once the process is gone, or beyond the rate bound (counted).
    public func path(ofProcess pid: UInt32) -> [UInt8]? {
        let time = now() / 1_000_000_000
        if time != second {
            second = time
            readsThisSecond = 0
        }
        guard readsThisSecond < Self.processReadsPerSecond else {
            processReadsDeferred &+= 1
            return nil
        }
        readsThisSecond += 1
        guard case .success(let bytes) = TracefsFiles.read("/proc/\(pid)/cgroup") else { return nil }
        return bytes.withUnsafeBytes { ProcCgroupFile.bestPath($0) }
    }
}
