import CStoretraceSys
import Dispatch
import Glibc
import StoretraceDecode

/// What to find the holders of.
public enum HolderTarget: Equatable, Sendable {
    /// A path resolved in storetrace's own mount namespace: a mount point,
    /// a file on a mount, or a block device node (`/dev/loop0`).
    case path(String)
    /// A mount point as a process in `mountNamespace` named it (the target
    /// of a failed umount2/rmdir there), looked up in that namespace's mount
    /// table without entering it.
    case mountPoint(String, mountNamespace: UInt64)
    /// A block device by number.
    case device(major: UInt32, minor: UInt32)

    /// A command-line argument: "7:0" is a device number, anything else a path.
    public init(argument: String) {
        if let number = SnapshotText.deviceNumberArgument(argument) {
            self = .device(major: number.major, minor: number.minor)
        } else {
            self = .path(argument)
        }
    }
}

/// Bounds of one scan. What they cut is counted in the report.
public struct HolderScanOptions: Sendable {
    /// Wall time after which the scan stops and says so (`budgetExhausted`).
    public var timeBudgetNanoseconds: Int64
    public var maxProcesses = 200_000
    /// Holders past this many are counted, not listed (a scan of "/").
    public var maxHolders = 10_000
    public var maxMountinfoBytes = 64 << 20
    public var maxMapsBytes = 32 << 20
    /// Mounts listed per pinned namespace through listmount(2).
    public var maxMountsPerNamespace = 100_000
    /// Threads that scan processes, at most; one per `processesPerWorker`
    /// processes. Nearly all of a scan is procfs work in the kernel, which
    /// scales with cores: `holders` uses them, the automatic scans of a
    /// live session keep to one thread beside the event loop.
    public var workers = 1
    public var processesPerWorker = 256

    public init(timeBudgetNanoseconds: Int64) {
        self.timeBudgetNanoseconds = timeBudgetNanoseconds
    }

    /// For a scan run right after a failed call: 200 ms.
    public static let automatic = HolderScanOptions(timeBudgetNanoseconds: 200_000_000)
    /// For `storetrace holders`: 10 s, up to four threads.
    public static let interactive: HolderScanOptions = {
        var options = HolderScanOptions(timeBudgetNanoseconds: 10_000_000_000)
        options.workers = min(4, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        return options
    }()
}

/// A target that cannot be scanned, phrased for one line of output.
public enum HolderScanError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotResolve(path: String, errno: Int32)
    /// The path is in a namespace whose mount table no process gives, or
    /// is not a mount point there.
    case notAMountPoint(path: String, mountNamespace: UInt64)
    case noSuchBlockDevice(major: UInt32, minor: UInt32)
    /// statx(2) gave no mount id (kernel before 5.8) and the path is not
    /// in the mount table by name either.
    case noMountID(path: String)

    public var description: String {
        switch self {
        case .cannotResolve(let path, let errno):
            return "\(path): \(String(cString: strerror(errno)))"
        case .notAMountPoint(let path, let namespace):
            return "\(path): not a mount point in mnt:\(namespace)"
        case .noSuchBlockDevice(let major, let minor):
            return "\(major):\(minor): no such block device (/sys/dev/block/\(major):\(minor) does not exist)"
        case .noMountID(let path):
            return "\(path): this kernel does not report mount ids (statx STATX_MNT_ID, Linux 5.8)"
        }
    }
}

/// Finds everything that keeps a mount or a block device busy, in every
/// mount namespace, by reading /proc and /sys once: cwd, root, exe, fds and
/// memory maps of every process (matched by mount id, which is global across
/// namespaces, through statx(2) on the /proc magic links), each namespace's
/// mount table (read once per namespace), mount namespaces pinned by nsfs
/// bind mounts, and for a block device its open fds, mounts, sysfs
/// `holders/`, loop devices and swap. Never enters another namespace.
///
/// Synchronous and bounded (`HolderScanOptions`); processes that exit
/// during the scan are skipped and counted. Needs root (CAP_SYS_PTRACE to
/// read other users' fds and maps, CAP_SYS_ADMIN for map_files and the
/// tables of pinned namespaces); without them it finds less and counts
/// what it could not read.
public enum HolderScan {
    public static func run(_ target: HolderTarget, options: HolderScanOptions = .automatic) throws(HolderScanError) -> HolderReport {
        var scanner = Scanner(options: options)
        return try scanner.run(target)
    }
}

// MARK: - The scan

private let kernelThreadParent: Int32 = 2

private struct Scanner {
    let options: HolderScanOptions
    var reader = SnapshotFileReader(maxSmallFileBytes: 64 << 10)
    var counts = HolderReport.Counts()
    let started = KernelClock.now(CLOCK_MONOTONIC)
    var budgetExhausted = false
    var holdersOverLimit = 0

    /// Pids by namespace, ascending.
    var members: [UInt64: [Int32]] = [:]
    var namespaceOrder: [UInt64] = []
    var tables: [UInt64: [NodeSnapshot.Mount]] = [:]
    /// One parser for the scan: near-identical tables share their strings.
    var mountinfoParser = MountinfoParser()
    /// Where each pinned namespace is pinned: (mount point, namespace of the nsfs mount).
    var pins: [UInt64: (path: String, in: UInt64, mountID: Int)] = [:]

    /// Mount id → how it relates to the target, which namespace holds it.
    var relations: [Int: (via: HolderReport.Holder.Via, namespace: UInt64, mount: NodeSnapshot.Mount)] = [:]
    /// st_dev of every related mount (major << 32 | minor): the maps prefilter.
    var relatedDevices: Set<UInt64> = []
    /// For a block device target: the device and its partitions.
    var targetDevices: Set<UInt64> = []
    var holders: [HolderReport.Holder] = []

    init(options: HolderScanOptions) {
        self.options = options
    }

    var deadline: Int64 { started + options.timeBudgetNanoseconds }

    mutating func outOfTime() -> Bool {
        if !budgetExhausted, KernelClock.now(CLOCK_MONOTONIC) > deadline { budgetExhausted = true }
        return budgetExhausted
    }

    static func key(_ major: UInt32, _ minor: UInt32) -> UInt64 { UInt64(major) << 32 | UInt64(minor) }

    mutating func run(_ requested: HolderTarget) throws(HolderScanError) -> HolderReport {
        let ownNamespace = readLink("/proc/self/ns/mnt").flatMap { SnapshotText.namespaceInode(link: $0[...]) }

        // A path is resolved before anything else: a bad target fails at once.
        var pending: PendingTarget
        switch requested {
        case .path(let path):
            pending = try Self.resolve(path: path)
        case .mountPoint(let path, let namespace):
            pending = .mountPoint(given: path, path: path, namespace: namespace)
        case .device(let major, let minor):
            pending = .device(given: "\(major):\(minor)", major: major, minor: minor)
        }

        listNamespaces(own: ownNamespace)
        findPinnedNamespaces()

        var target: HolderReport.Target
        switch pending {
        case .mountID(let given, let mountID):
            guard let found = mount(id: mountID) else { throw .noMountID(path: given) }
            target = Self.pathTarget(given: given, mount: found.mount, namespace: found.namespace)
        case .mountPoint(let given, let path, let namespace):
            let normalized = Self.normalized(path)
            guard let found = tables[namespace]?.last(where: { $0.mountPoint == normalized }) else {
                // In our own namespace a path that names the mount point
                // another way (a symlink, `..`) still finds it. Only if it
                // is the mount point: a directory whose mount is gone by now
                // (unmounted since the EBUSY) is not its parent mount.
                if namespace == ownNamespace, case .mountID(_, let id)? = try? Self.resolve(path: path),
                   let own = mount(id: id), let real = realPath(path), own.mount.mountPoint == real {
                    target = Self.pathTarget(given: given, mount: own.mount, namespace: own.namespace)
                    break
                }
                throw .notAMountPoint(path: path, mountNamespace: namespace)
            }
            target = Self.pathTarget(given: given, mount: found, namespace: namespace)
        case .device(let given, let major, let minor):
            target = try deviceTarget(given: given, major: major, minor: minor)
        }

        relate(target)
        scanProcesses(target)
        if target.kind == .device { scanDeviceLinks(target) }
        scanLoopAndSwap(target)

        if holders.count > options.maxHolders {
            holdersOverLimit += holders.count - options.maxHolders
        }
        holders.sort(by: HolderReport.Holder.order)
        if holders.count > options.maxHolders { holders.removeLast(holders.count - options.maxHolders) }
        let namespaces = labels(for: Set(holders.compactMap(\.mountNamespace) + [target.mountNamespace].compactMap { $0 }))
        counts.mountNamespaces = tables.count
        counts.mounts = tables.values.reduce(0) { $0 + $1.count }
        counts.holdersOverLimit = holdersOverLimit
        return HolderReport(target: target, scannedAtMonotonicNanoseconds: started,
                            durationNanoseconds: KernelClock.now(CLOCK_MONOTONIC) - started,
                            holders: holders, namespaces: namespaces, counts: counts,
                            budgetExhausted: budgetExhausted)
    }

    // MARK: Target

    enum PendingTarget {
        case mountID(given: String, mountID: Int)
        case mountPoint(given: String, path: String, namespace: UInt64)
        case device(given: String, major: UInt32, minor: UInt32)
    }

    static func resolve(path: String) throws(HolderScanError) -> PendingTarget {
        var brief = st_file_brief()
        guard st_file_brief(AT_FDCWD, path, 1, &brief) == 0 else { throw .cannotResolve(path: path, errno: errno) }
        if brief.mode & UInt32(S_IFMT) == UInt32(S_IFBLK) {
            return .device(given: path, major: brief.rdev_major, minor: brief.rdev_minor)
        }
        guard brief.has_mnt_id != 0 else { throw .noMountID(path: path) }
        return .mountID(given: path, mountID: Int(brief.mnt_id))
    }

    /// "/a/b/" → "/a/b"; mountinfo never ends a mount point in a slash.
    static func normalized(_ path: String) -> String {
        var path = path
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path
    }

    static func pathTarget(given: String, mount: NodeSnapshot.Mount, namespace: UInt64) -> HolderReport.Target {
        HolderReport.Target(given: given, kind: .path, mountID: mount.mountID, mountNamespace: namespace,
                            mountPoint: mount.mountPoint, root: mount.root, fstype: mount.fstype,
                            source: mount.source, peerGroup: mount.peerGroup, major: mount.major, minor: mount.minor)
    }

    mutating func deviceTarget(given: String, major: UInt32, minor: UInt32) throws(HolderScanError) -> HolderReport.Target {
        let sysfs = "/sys/dev/block/\(major):\(minor)"
        guard let resolved = realPath(sysfs) else { throw .noSuchBlockDevice(major: major, minor: minor) }
        let name = NodeSnapshot.basename(resolved)
        targetDevices.insert(Self.key(major, minor))
        var partitions: [String] = []
        for entry in directoryEntries(of: resolved).sorted() where access(resolved + "/" + entry + "/partition", F_OK) == 0 {
            partitions.append(entry)
            if let number = reader.attribute(resolved + "/" + entry + "/dev").flatMap({ SnapshotText.deviceNumber($0[...]) }) {
                targetDevices.insert(Self.key(number.major, number.minor))
            }
        }
        return HolderReport.Target(given: given, kind: .device, major: major, minor: minor, deviceName: name,
                                   partitions: partitions)
    }

    func mount(id: Int) -> (mount: NodeSnapshot.Mount, namespace: UInt64)? {
        for namespace in namespaceOrder {
            if let found = tables[namespace]?.first(where: { $0.mountID == id }) { return (found, namespace) }
        }
        return nil
    }

    // MARK: Namespaces

    /// Every process's mount namespace (one readlink each), and each
    /// namespace's mount table from one of its processes.
    mutating func listNamespaces(own: UInt64?) {
        var pids = numericEntries(of: "/proc")
        pids.sort()
        if pids.count > options.maxProcesses {
            counts.processesOverLimit = pids.count - options.maxProcesses
            pids.removeLast(pids.count - options.maxProcesses)
        }
        for pid in pids {
            guard let link = readLink("/proc/\(pid)/ns/mnt") else {
                if errno == ENOENT || errno == ESRCH { counts.processesExited += 1 } else { counts.entriesUnreadable += 1 }
                continue
            }
            guard let inode = SnapshotText.namespaceInode(link: link[...]) else { continue }
            if members[inode] == nil { namespaceOrder.append(inode) }
            members[inode, default: []].append(pid)
        }
        // Our own table first, from ourselves: the one a path was resolved in.
        if let own, let text = try? String(contentsOfProcFile: "/proc/self/mountinfo", maxBytes: options.maxMountinfoBytes) {
            tables[own] = parse(mountinfo: text)
        }
        for inode in namespaceOrder where tables[inode] == nil {
            loadTable(inode)
        }
    }

    /// A chrooted process sees only the mounts under its root, so a process
    /// whose root is the namespace's root ("/") is preferred.
    mutating func loadTable(_ inode: UInt64) {
        let candidates = (members[inode] ?? []).prefix(16)
        var fallback: Int32?
        for pid in candidates {
            guard readLink("/proc/\(pid)/root") == "/" else {
                if fallback == nil { fallback = pid }
                continue
            }
            if let text = reader.mountinfo(pid: pid, expectingNamespace: inode, maxBytes: options.maxMountinfoBytes) {
                tables[inode] = parse(mountinfo: text.text)
                return
            }
        }
        if let pid = fallback, let text = reader.mountinfo(pid: pid, expectingNamespace: inode, maxBytes: options.maxMountinfoBytes) {
            tables[inode] = parse(mountinfo: text.text)
            return
        }
        counts.namespacesUnreadable += 1
    }

    mutating func parse(mountinfo text: String) -> [NodeSnapshot.Mount] {
        var malformed = 0
        var overLimit = 0
        return mountinfoParser.mounts(text, malformed: &malformed, overLimit: &overLimit)
    }

    /// nsfs bind mounts of mount namespaces (`lsns --persistent`) in every
    /// table; those with no process are read through listmount(2).
    mutating func findPinnedNamespaces() {
        for namespace in namespaceOrder {
            for mount in tables[namespace] ?? [] where mount.fstype == "nsfs" {
                guard mount.root.hasPrefix("mnt:"), let pinned = SnapshotText.namespaceInode(link: mount.root[...]) else { continue }
                if pins[pinned] == nil { pins[pinned] = (mount.mountPoint, namespace, mount.mountID) }
            }
        }
        let orphans = Set(pins.keys.filter { members[$0] == nil })
        guard !orphans.isEmpty else { return }
        let found = Self.listPinnedTables(orphans, maxMounts: options.maxMountsPerNamespace)
        for inode in orphans.sorted() {
            if let mounts = found[inode] {
                tables[inode] = mounts
                namespaceOrder.append(inode)
            } else {
                counts.namespacesUnreadable += 1
            }
        }
    }

    /// Walks the kernel's list of mount namespaces from ours in both
    /// directions (NS_MNT_GET_NEXT/PREV, Linux 6.12) and reads the tables of
    /// the wanted ones with listmount/statmount: no process is in them, so
    /// no /proc/PID/mountinfo exists. Empty on older kernels.
    static func listPinnedTables(_ wanted: Set<UInt64>, maxMounts: Int) -> [UInt64: [NodeSnapshot.Mount]] {
        var found: [UInt64: [NodeSnapshot.Mount]] = [:]
        for newer in [true, false] {
            var current = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)
            var steps = 0
            while current >= 0, found.count < wanted.count, steps < 100_000 {
                let next = st_mntns_step(current, newer ? 1 : 0)
                close(current)
                current = next
                steps += 1
                guard current >= 0 else { break }
                var info = stat()
                guard fstat(current, &info) == 0, wanted.contains(UInt64(info.st_ino)), found[UInt64(info.st_ino)] == nil else { continue }
                var id: UInt64 = 0
                guard st_mntns_id(current, &id) == 0, let mounts = listMounts(namespaceID: id, maxMounts: maxMounts) else { continue }
                found[UInt64(info.st_ino)] = mounts
            }
            if current >= 0 { close(current) }
        }
        return found
    }

    static func listMounts(namespaceID: UInt64, maxMounts: Int) -> [NodeSnapshot.Mount]? {
        var ids = [UInt64](repeating: 0, count: 1024)
        var count = 0
        while true {
            count = ids.withUnsafeMutableBufferPointer { st_listmount(namespaceID, $0.baseAddress, $0.count) }
            guard count >= 0 else { return nil }
            guard count == ids.count, ids.count < maxMounts else { break }
            ids = [UInt64](repeating: 0, count: min(ids.count * 4, maxMounts))
        }
        var strings = [CChar](repeating: 0, count: 16 << 10)
        var mounts: [NodeSnapshot.Mount] = []
        for id in ids.prefix(count) {
            var brief = st_mount_brief()
            let ok = strings.withUnsafeMutableBufferPointer { st_statmount(id, namespaceID, &brief, $0.baseAddress, $0.count) }
            guard ok == 0 else { continue }
            func text(_ offset: UInt32) -> String {
                guard offset < brief.strings_length else { return "" }
                return strings.withUnsafeBufferPointer { String(cString: $0.baseAddress! + Int(offset)) }
            }
            // MS_SHARED / MS_SLAVE in mnt_propagation, as mountinfo's tags.
            var tags: [String] = []
            if brief.propagation & UInt64(MS_SHARED) != 0 { tags.append("shared:\(brief.peer_group)") }
            if brief.propagation & UInt64(MS_SLAVE) != 0 { tags.append("master:\(brief.master)") }
            if brief.propagation & UInt64(MS_UNBINDABLE) != 0 { tags.append("unbindable") }
            mounts.append(NodeSnapshot.Mount(
                mountID: Int(brief.mnt_id), parentID: Int(brief.parent_id), major: brief.dev_major, minor: brief.dev_minor,
                root: text(brief.root_offset), mountPoint: text(brief.point_offset), options: "",
                optionalFields: tags, fstype: brief.fstype_offset == UInt32.max ? "" : text(brief.fstype_offset),
                source: "", superOptions: ""))
        }
        return mounts
    }

    // MARK: Relations

    /// Which mounts, in every namespace, are the target, copies of it,
    /// mounts of the same filesystem, or mounts below any of these; and
    /// the `mount`/`submount` holders they make.
    mutating func relate(_ target: HolderReport.Target) {
        for namespace in namespaceOrder {
            guard let mounts = tables[namespace] else { continue }
            var direct: [Int: HolderReport.Holder.Via] = [:]
            for mount in mounts {
                if let via = Self.relation(of: mount, to: target, devices: targetDevices) { direct[mount.mountID] = via }
            }
            // Mounts below a related one, breadth first over the parent links.
            var children: [Int: [NodeSnapshot.Mount]] = [:]
            var mountPoints: [Int: String] = [:]
            for mount in mounts {
                mountPoints[mount.mountID] = mount.mountPoint
                if mount.mountID != mount.parentID { children[mount.parentID, default: []].append(mount) }
            }
            var below: [Int: HolderReport.Holder.Via] = [:]
            var queue: [(mount: Int, top: Int)] = direct.keys.sorted().map { ($0, $0) }
            var head = 0
            while head < queue.count {
                let (parent, top) = queue[head]
                head += 1
                for child in children[parent] ?? [] where direct[child.mountID] == nil && below[child.mountID] == nil {
                    below[child.mountID] = .below(mountID: top, onTop: parent == top && mountPoints[parent] == child.mountPoint)
                    queue.append((child.mountID, top))
                }
            }
            // A namespace no process is in, holding a related mount: what
            // keeps it (and so the mount) alive is the nsfs bind mount.
            if members[namespace] == nil, let pin = pins[namespace],
               let first = mounts.first(where: { direct[$0.mountID] != nil }), let via = direct[first.mountID] {
                add(HolderReport.Holder(how: .nsPinned, via: via, mountNamespace: namespace, path: pin.path,
                                        mountID: pin.mountID))
            }
            for mount in mounts {
                guard let via = direct[mount.mountID] ?? below[mount.mountID] else { continue }
                relations[mount.mountID] = (via, namespace, mount)
                relatedDevices.insert(Self.key(mount.major, mount.minor))
                if mount.mountID == target.mountID { continue }
                let how: HolderReport.Holder.How
                if case .below = via { how = .submount } else { how = .mount }
                add(HolderReport.Holder(how: how, via: via, mountNamespace: namespace, path: mount.mountPoint,
                                        mountID: mount.mountID))
            }
        }
    }

    static func relation(of mount: NodeSnapshot.Mount, to target: HolderReport.Target,
                         devices: Set<UInt64>) -> HolderReport.Holder.Via? {
        if target.kind == .device {
            return devices.contains(key(mount.major, mount.minor)) ? .target : nil
        }
        if mount.mountID == target.mountID { return .target }
        if let group = target.peerGroup {
            if mount.peerGroup == group { return .peer(group: group) }
            if mount.master == group { return .slave(group: group) }
        }
        guard mount.major == target.major, mount.minor == target.minor else { return nil }
        return mount.root == target.root ? .sameRoot : .sameDevice(root: mount.root)
    }

    mutating func add(_ holder: HolderReport.Holder) {
        holders.append(holder)
    }

    // MARK: Processes

    mutating func scanProcesses(_ target: HolderReport.Target) {
        let pids = members.values.flatMap { $0 }.sorted()
        let workers = min(options.workers, pids.count / max(1, options.processesPerWorker))
        guard workers > 1 else {
            scan(pids[...], target)
            return
        }
        // Each worker is a copy of the scanner (its own read buffers, counts
        // and holders) over every workers-th pid; the copies only read the
        // shared tables and relations. Merged below; holders are sorted at
        // the end of the run as before.
        var parts = [Scanner](repeating: self, count: workers)
        for index in parts.indices {
            parts[index].holders = []
            parts[index].counts = HolderReport.Counts()
        }
        parts.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: workers) { index in
                let stripe = stride(from: index, to: pids.count, by: workers).map { pids[$0] }
                base[index].scan(stripe[...], target)
            }
        }
        for part in parts {
            holders += part.holders
            // The counts scan(_:_:) moves; the rest are the run's own.
            counts.processes += part.counts.processes
            counts.processesExited += part.counts.processesExited
            counts.entriesUnreadable += part.counts.entriesUnreadable
            budgetExhausted = budgetExhausted || part.budgetExhausted
        }
    }

    mutating func scan(_ pids: ArraySlice<Int32>, _ target: HolderReport.Target) {
        for pid in pids {
            if outOfTime() { break }
            let directory = open("/proc/\(pid)", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard directory >= 0 else {
                counts.processesExited += 1
                continue
            }
            defer { close(directory) }
            counts.processes += 1
            scanProcess(pid: pid, directory: directory, target: target)
        }
    }

    mutating func scanProcess(pid: Int32, directory: Int32, target: HolderReport.Target) {
        let namespace = reader.readLink("ns/mnt", at: directory).flatMap { SnapshotText.namespaceInode(link: $0[...]) }
        guard let namespace else {
            counts.processesExited += 1
            return
        }
        var found: [HolderReport.Holder] = []
        var exe: (dev: UInt64, ino: UInt64)?
        for (link, how) in [("cwd", HolderReport.Holder.How.cwd), ("root", .root), ("exe", .exe)] {
            var brief = st_file_brief()
            guard st_file_brief(directory, link, 1, &brief) == 0 else {
                // Kernel threads have no exe; a process gone mid-scan has nothing.
                if errno == EACCES || errno == EPERM { counts.entriesUnreadable += 1 }
                continue
            }
            if how == .exe { exe = (Self.key(brief.dev_major, brief.dev_minor), brief.ino) }
            guard brief.has_mnt_id != 0, let relation = relations[Int(brief.mnt_id)] else { continue }
            found.append(HolderReport.Holder(how: how, via: relation.via, pid: pid, mountNamespace: namespace,
                                             path: reader.readLink(link, at: directory), mountID: Int(brief.mnt_id)))
        }
        scanFileDescriptors(pid: pid, directory: directory, namespace: namespace, target: target, into: &found)
        if !relatedDevices.isEmpty {
            scanMaps(pid: pid, directory: directory, namespace: namespace, exe: exe, into: &found)
        }
        guard !found.isEmpty else { return }
        let processName = reader.withContents("comm", at: directory) { bytes, _ in bytes.trimmedString }
        for var holder in found {
            holder.comm = processName
            add(holder)
        }
    }

    mutating func scanFileDescriptors(pid: Int32, directory: Int32, namespace: UInt64, target: HolderReport.Target,
                                      into found: inout [HolderReport.Holder]) {
        let fdDirectory = openat(directory, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fdDirectory >= 0 else {
            if errno == EACCES || errno == EPERM { counts.entriesUnreadable += 1 }
            return
        }
        // fdopendir owns the descriptor from here on; closedir closes it.
        guard let listing = fdopendir(fdDirectory) else {
            close(fdDirectory)
            return
        }
        defer { closedir(listing) }
        var seen = 0
        while let entry = readdir(listing) {
            let number = numericName(entry)
            guard let number else { continue }
            seen += 1
            if seen & 255 == 0, outOfTime() { return }
            var brief = st_file_brief()
            let name = String(number)
            guard st_file_brief(fdDirectory, name, 1, &brief) == 0 else {
                if errno != ENOENT { counts.entriesUnreadable += 1 } // ENOENT: closed since the listing
                continue
            }
            let isBlock = brief.mode & UInt32(S_IFMT) == UInt32(S_IFBLK)
            if target.kind == .device, isBlock, targetDevices.contains(Self.key(brief.rdev_major, brief.rdev_minor)) {
                found.append(HolderReport.Holder(how: .open, via: .device, pid: pid, mountNamespace: namespace,
                                                 path: reader.readLink(name, at: fdDirectory), fd: number,
                                                 openFlags: fileDescriptorInfo(directory: directory, fd: name).flags))
                continue
            }
            guard brief.has_mnt_id != 0, let relation = relations[Int(brief.mnt_id)] else { continue }
            found.append(HolderReport.Holder(how: .fd, via: relation.via, pid: pid, mountNamespace: namespace,
                                             path: reader.readLink(name, at: fdDirectory), mountID: Int(brief.mnt_id),
                                             fd: number,
                                             openFlags: fileDescriptorInfo(directory: directory, fd: name).flags))
        }
    }

    mutating func fileDescriptorInfo(directory: Int32, fd: String) -> SnapshotText.FileDescriptorInfo {
        reader.withContents("fdinfo/" + fd, at: directory) { bytes, _ in SnapshotText.fileDescriptorInfo(bytes) }
            ?? SnapshotText.FileDescriptorInfo()
    }

    mutating func scanMaps(pid: Int32, directory: Int32, namespace: UInt64, exe: (dev: UInt64, ino: UInt64)?,
                           into found: inout [HolderReport.Holder]) {
        var mappings: [SnapshotText.Mapping] = []
        let devices = relatedDevices
        let read = reader.withContents("maps", at: directory, maxBytes: options.maxMapsBytes) { bytes, _ in
            var seen: Set<UInt64> = []
            return SnapshotText.forEachMapping(bytes, wanted: { devices.contains(Self.key($0, $1)) }) { mapping in
                // One holder per file, however many times it is mapped; the
                // executable is already named as `exe`.
                let device = Self.key(mapping.major, mapping.minor)
                if let exe, exe.dev == device, exe.ino == mapping.inode { return }
                guard seen.insert(mapping.inode ^ device &* 0x9E37_79B9_7F4A_7C15).inserted else { return }
                mappings.append(mapping)
            }
        }
        if read == nil, reader.lastErrno == EACCES || reader.lastErrno == EPERM { counts.entriesUnreadable += 1 }
        for mapping in mappings {
            // map_files names the mount (CAP_SYS_ADMIN); else the first
            // related mount of that device in the process's namespace.
            var brief = st_file_brief()
            var mountID: Int?
            if st_file_brief(directory, "map_files/" + mapping.range, 1, &brief) == 0, brief.has_mnt_id != 0 {
                mountID = Int(brief.mnt_id)
            } else {
                mountID = relations.filter { $0.value.namespace == namespace && $0.value.mount.major == mapping.major
                    && $0.value.mount.minor == mapping.minor }.keys.min()
            }
            guard let mountID, let relation = relations[mountID] else { continue }
            found.append(HolderReport.Holder(how: .map, via: relation.via, pid: pid, mountNamespace: namespace,
                                             path: mapping.path, mountID: mountID))
        }
    }

    // MARK: Devices, loop devices, swap

    mutating func scanDeviceLinks(_ target: HolderReport.Target) {
        guard let name = target.deviceName else { return }
        for device in [name] + target.partitions {
            let base = device == name ? "/sys/class/block/\(name)" : "/sys/class/block/\(name)/\(device)"
            for holder in directoryEntries(of: base + "/holders").sorted() {
                add(HolderReport.Holder(how: .stacked, via: .device, path: "/dev/" + holder, device: holder))
            }
        }
    }

    mutating func scanLoopAndSwap(_ target: HolderReport.Target) {
        for name in directoryEntries(of: "/sys/block").sorted() where name.hasPrefix("loop") {
            guard let backing = reader.attribute("/sys/block/\(name)/loop/backing_file"), !backing.isEmpty else { continue }
            if let via = fileRelation(backing, target: target) {
                add(HolderReport.Holder(how: .loopBacking, via: via.via, path: backing, mountID: via.mountID, device: name))
            }
        }
        guard let swaps = try? String(contentsOfProcFile: "/proc/swaps", maxBytes: 1 << 20) else { return }
        for file in SnapshotText.swapFiles(swaps[...]) {
            var brief = st_file_brief()
            if target.kind == .device, st_file_brief(AT_FDCWD, file, 1, &brief) == 0,
               brief.mode & UInt32(S_IFMT) == UInt32(S_IFBLK),
               targetDevices.contains(Self.key(brief.rdev_major, brief.rdev_minor)) {
                add(HolderReport.Holder(how: .swap, via: .device, path: file))
            } else if let via = fileRelation(file, target: target) {
                add(HolderReport.Holder(how: .swap, via: via.via, path: file, mountID: via.mountID))
            }
        }
    }

    /// How a file named by a path in our namespace (a loop device's backing
    /// file, a swap file) relates to the target, by the mount it is on.
    func fileRelation(_ path: String, target: HolderReport.Target) -> (via: HolderReport.Holder.Via, mountID: Int)? {
        var brief = st_file_brief()
        guard st_file_brief(AT_FDCWD, Self.withoutDeletedSuffix(path), 1, &brief) == 0, brief.has_mnt_id != 0,
              let relation = relations[Int(brief.mnt_id)]
        else { return nil }
        return (relation.via, Int(brief.mnt_id))
    }

    static func withoutDeletedSuffix(_ path: String) -> String {
        path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    // MARK: Namespace labels

    /// `host` for the initial namespace (the fixed inode of 6.x kernels, or
    /// kthreadd's, pid 2); else the lowest pid that is not a
    /// kernel thread stands for it.
    mutating func labels(for inodes: Set<UInt64>) -> [HolderReport.Namespace] {
        var kernelThreadNamespace: UInt64?
        if let status = reader.withContents("/proc/2/status", { bytes, _ in SnapshotText.processStatus(bytes) }),
           status.kernelThread == true || (status.kernelThread == nil && status.ppid == 0 && status.name == "kthreadd") {
            kernelThreadNamespace = members.first { $0.value.contains(kernelThreadParent) }?.key
        }
        var labels: [HolderReport.Namespace] = []
        for inode in inodes.sorted() {
            let pids = members[inode] ?? []
            var label = HolderReport.Namespace(inode: inode,
                                               isHost: inode == initialMountNamespaceInode || inode == kernelThreadNamespace,
                                               processCount: pids.count, pinnedAt: pids.isEmpty ? pins[inode]?.path : nil)
            for pid in pids.prefix(1024) {
                guard let status = reader.withContents("/proc/\(pid)/status", { bytes, _ in SnapshotText.processStatus(bytes) })
                else { continue }
                if SnapshotText.isKernelThread(status, pid: pid) { continue }
                label.pid = pid
                label.comm = status.name
                break
            }
            labels.append(label)
        }
        return labels
    }
}

extension String {
    /// A whole procfs file, up to `maxBytes`; throws when it cannot be read.
    init(contentsOfProcFile path: String, maxBytes: Int) throws(HolderScanError) {
        var reader = SnapshotFileReader(maxSmallFileBytes: maxBytes)
        guard let text = reader.withContents(path, { bytes, _ in String(decoding: bytes, as: UTF8.self) }) else {
            throw .cannotResolve(path: path, errno: reader.lastErrno)
        }
        self = text
    }
}
