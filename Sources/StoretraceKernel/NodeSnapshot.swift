import Glibc
import StoretraceCapture
import StoretraceDecode

/// Caps that keep a snapshot of a huge or hostile node bounded in time and
/// memory. What they cut is counted in the snapshot (`omitted`,
/// `mountsOverLimit`), never dropped silently.
public struct NodeSnapshotLimits: Sendable {
    public var maxProcesses = 100_000
    public var maxMountNamespaces = 10_000
    public var maxMountsPerNamespace = 100_000
    /// Largest /proc/PID/mountinfo read (a node with 100k mounts writes ~15 MiB).
    public var maxMountinfoBytes = 64 << 20
    /// Largest other file read (status, cgroup, sysfs attributes).
    public var maxSmallFileBytes = 64 << 10
    /// How many pids of one namespace to try before giving up on its mounts.
    public var mountinfoAttempts = 16
    /// Most kubelet `vol_data.json` files read.
    public var maxKubeletVolumes = 10_000

    public init() {}
}

extension NodeSnapshot {
    /// Takes a snapshot of this node from /proc and /sys. Never fails: what
    /// cannot be read is left absent, a process that exits mid-scan is
    /// skipped and counted. Needs root (or CAP_SYS_PTRACE and
    /// CAP_DAC_READ_SEARCH) to see other users' namespaces and mounts.
    /// `kubeletRoot`: where kubelet keeps its volumes (`--kubelet-root`);
    /// their `vol_data.json` files are read from there.
    public static func take(limits: NodeSnapshotLimits = NodeSnapshotLimits(),
                            kubeletRoot: String = KubeletPath.defaultRoot) -> NodeSnapshot {
        var reader = SnapshotFileReader(maxSmallFileBytes: limits.maxSmallFileBytes)
        let takenAt = TakenAt(monotonicNanoseconds: KernelClock.now(CLOCK_MONOTONIC),
                              realtimeNanoseconds: KernelClock.now(CLOCK_REALTIME))
        // One sample for both; CLOCK_BOOTTIME cannot trail CLOCK_MONOTONIC,
        // so a reading a few ns below is the bracket's error, not a suspend.
        let clocks = CaptureClockSample.measure()
        let offsets = ClockOffsets(realtimeMinusMonotonic: clocks.realtimeOffsetNs,
                                   boottimeMinusMonotonic: max(0, clocks.boottimeOffsetNs))

        var names = utsname()
        let hasNames = uname(&names) == 0
        var snapshot = NodeSnapshot(
            takenAt: takenAt,
            clockOffsets: offsets,
            kernelRelease: hasNames ? withUnsafeBytes(of: &names.release, cStringField) : nil,
            hostname: hasNames ? withUnsafeBytes(of: &names.nodename, cStringField) : nil,
            bootID: reader.attribute("/proc/sys/kernel/random/boot_id"),
            onlineCPUs: reader.attribute("/sys/devices/system/cpu/online").flatMap { SnapshotText.cpuCount(list: $0[...]) }
                ?? onlineCPUsFromSysconf())

        scanProcesses(into: &snapshot, reader: &reader, limits: limits)
        scanMountNamespaces(into: &snapshot, reader: &reader, limits: limits)
        snapshot.blockDevices = scanBlockDevices(reader: &reader)
        snapshot.pciFunctions = scanPCIStorage(reader: &reader)
        snapshot.virtioDevices = scanVirtio(reader: &reader)
        snapshot.clockSync = readClockSync()
        if let found = scanKubeletVolumes(root: kubeletRoot, reader: &reader, limit: limits.maxKubeletVolumes) {
            snapshot.kubeletVolumes = found.volumes
            snapshot.omitted.kubeletVolumesOverLimit = found.omitted
        }
        return snapshot
    }

    /// The device table (`DeviceTable`): block devices and the mounts of
    /// block-backed filesystems in every namespace, nothing else (no
    /// processes, no process counts: what changes with every fork would
    /// make every refresh look new). `previous` (the last table) gives the
    /// mounts when `rescanMounts` is false (block devices alone are a few
    /// sysfs reads each), and the devices that left /sys/block while still
    /// mounted: kept, marked `gone`.
    /// With `kubeletRoot`, the table also holds kubelet's vol_data.json
    /// records, read again whenever the mounts are (a CSI volume is staged
    /// with a mount), else kept from `previous`.
    public static func takeDevices(previous: NodeSnapshot?, rescanMounts: Bool,
                                   limits: NodeSnapshotLimits = NodeSnapshotLimits(),
                                   kubeletRoot: String? = nil) -> NodeSnapshot {
        var reader = SnapshotFileReader(maxSmallFileBytes: limits.maxSmallFileBytes)
        var snapshot = NodeSnapshot(
            takenAt: TakenAt(monotonicNanoseconds: KernelClock.now(CLOCK_MONOTONIC),
                             realtimeNanoseconds: KernelClock.now(CLOCK_REALTIME)),
            clockOffsets: previous?.clockOffsets ?? ClockOffsets(realtimeMinusMonotonic: CaptureClockSample.measure().realtimeOffsetNs))
        if rescanMounts || previous == nil {
            scanProcesses(into: &snapshot, reader: &reader, limits: limits)
            scanMountNamespaces(into: &snapshot, reader: &reader, limits: limits)
            snapshot.processes = []
            for index in snapshot.mountNamespaces.indices {
                snapshot.mountNamespaces[index].processCount = 0
                snapshot.mountNamespaces[index].mounts = snapshot.mountNamespaces[index].mounts?.filter {
                    $0.major != 0 || $0.source.hasPrefix("/dev/")
                }
            }
        } else {
            snapshot.mountNamespaces = previous!.mountNamespaces
            snapshot.omitted = previous!.omitted
        }
        // The same disks as before and no uevent: only what changes without
        // one (sizes, loop backing files, autoclear, ext4 error counts).
        let disks = Set(directoryEntries(of: "/sys/block"))
        if !rescanMounts, let previous, Set(previous.blockDevices.filter { $0.parent == nil && $0.gone != true }.map(\.name)) == disks {
            snapshot.blockDevices = previous.blockDevices.filter { $0.gone != true }.map { old in
                var device = old
                let path = old.parent.map { "/sys/block/\($0)/\(old.name)" } ?? "/sys/block/\(old.name)"
                refreshVolatile(&device, path: path, reader: &reader)
                return device
            }
        } else {
            snapshot.blockDevices = scanBlockDevices(reader: &reader)
        }
        // A device gone from /sys/block whose filesystem is still mounted
        // (a disk detached under its mount): kept, so later errors and the
        // mount's health still name it.
        for old in previous?.blockDevices ?? [] {
            guard let major = old.major, let minor = old.minor,
                  !snapshot.blockDevices.contains(where: { $0.major == major && $0.minor == minor }),
                  snapshot.mountNamespaces.contains(where: { $0.mounts?.contains { $0.major == major && $0.minor == minor } ?? false })
            else { continue }
            var kept = old
            kept.gone = true
            snapshot.blockDevices.append(kept)
        }
        if let kubeletRoot {
            if rescanMounts || previous == nil {
                if let found = scanKubeletVolumes(root: kubeletRoot, reader: &reader, limit: limits.maxKubeletVolumes) {
                    snapshot.kubeletVolumes = found.volumes
                    snapshot.omitted.kubeletVolumesOverLimit = found.omitted
                }
            } else {
                snapshot.kubeletVolumes = previous?.kubeletVolumes
            }
        }
        return snapshot
    }

    /// Only the block devices, as `take` reads them: what `live` (which
    /// takes no full snapshot) starts its copy enrichment and queue setting
    /// sampler from.
    public static func takeBlockDevices(limits: NodeSnapshotLimits = NodeSnapshotLimits()) -> [BlockDevice] {
        var reader = SnapshotFileReader(maxSmallFileBytes: limits.maxSmallFileBytes)
        return scanBlockDevices(reader: &reader)
    }

    static func onlineCPUsFromSysconf() -> Int? {
        let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return count > 0 ? count : nil
    }

    // MARK: Processes

    static func scanProcesses(into snapshot: inout NodeSnapshot, reader: inout SnapshotFileReader,
                              limits: NodeSnapshotLimits) {
        var processes: [ProcessEntry] = []
        for pid in numericEntries(of: "/proc") {
            guard processes.count < limits.maxProcesses else {
                snapshot.omitted.processesOverLimit += 1
                continue
            }
            // Every file is read relative to one open /proc/PID so that all
            // fields come from the same process even if the pid is reused.
            let directory = open("/proc/\(pid)", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard directory >= 0 else {
                snapshot.omitted.processesExited += 1
                continue
            }
            defer { close(directory) }
            var entry = ProcessEntry(pid: pid)
            let status = reader.withContents("status", at: directory) { bytes, _ in SnapshotText.processStatus(bytes) }
            if let status {
                entry.comm = status.name
                entry.ppid = status.ppid
                entry.uid = status.uid
                entry.kernelThread = SnapshotText.isKernelThread(status, pid: pid)
            } else if reader.lastErrno == ENOENT || reader.lastErrno == ESRCH {
                snapshot.omitted.processesExited += 1
                continue
            }
            if let link = reader.readLink("ns/mnt", at: directory) {
                entry.mountNamespace = SnapshotText.namespaceInode(link: link[...])
            }
            if let cgroups = reader.withContents("cgroup", at: directory, { bytes, _ in SnapshotText.cgroups(bytes) }) {
                (entry.cgroup, entry.cgroupV1) = cgroups
            }
            processes.append(entry)
        }
        processes.sort { $0.pid < $1.pid }
        snapshot.processes = processes
    }

    // MARK: Mount namespaces

    static func scanMountNamespaces(into snapshot: inout NodeSnapshot, reader: inout SnapshotFileReader,
                                    limits: NodeSnapshotLimits) {
        var members: [UInt64: [Int]] = [:] // indexes into processes, ascending pid
        for (index, process) in snapshot.processes.enumerated() {
            guard let inode = process.mountNamespace else { continue }
            members[inode, default: []].append(index)
        }

        var namespaces: [MountNamespace] = []
        for (inode, indexes) in members {
            // The owner is the lowest pid that is not a kernel thread
            // (kthreadd stands for nothing a user started). The initial
            // namespace is kthreadd's (not any kernel thread's: kdevtmpfs
            // has a namespace of its own).
            let ownerIndex = indexes.first { snapshot.processes[$0].kernelThread != true } ?? indexes[0]
            let owner = snapshot.processes[ownerIndex]
            let hasKthreadd = indexes.contains { snapshot.processes[$0].pid == 2 && snapshot.processes[$0].kernelThread == true }
            namespaces.append(MountNamespace(inode: inode, processCount: indexes.count,
                                             ownerPID: owner.pid, ownerComm: owner.comm,
                                             isHost: inode == initialMountNamespaceInode || hasKthreadd))
        }
        namespaces.sort { ($0.isHost ? 0 : 1, $0.ownerPID ?? .max, $0.inode) < ($1.isHost ? 0 : 1, $1.ownerPID ?? .max, $1.inode) }
        if namespaces.count > limits.maxMountNamespaces {
            snapshot.omitted.namespacesOverLimit = namespaces.count - limits.maxMountNamespaces
            namespaces.removeLast(namespaces.count - limits.maxMountNamespaces)
        }

        // One parser for the scan: the namespaces' near-identical tables share their strings.
        var parser = MountinfoParser()
        for index in namespaces.indices {
            let inode = namespaces[index].inode
            var candidates: [Int32] = namespaces[index].ownerPID.map { [$0] } ?? []
            for member in members[inode] ?? [] where candidates.count < limits.mountinfoAttempts {
                let pid = snapshot.processes[member].pid
                if pid != namespaces[index].ownerPID { candidates.append(pid) }
            }
            for pid in candidates {
                guard let text = reader.mountinfo(pid: pid, expectingNamespace: inode, maxBytes: limits.maxMountinfoBytes)
                else { continue }
                // A file cut at the byte cap may end in a partial line:
                // drop it and count it as cut rather than malformed.
                var body = text.text
                if text.cut { body = String(body[..<(body.utf8.lastIndex(of: UInt8(ascii: "\n")) ?? body.startIndex)]) }
                var malformed = 0
                var overLimit = text.cut ? 1 : 0
                let mounts = parser.mounts(body, limit: limits.maxMountsPerNamespace, malformed: &malformed,
                                           overLimit: &overLimit)
                namespaces[index].mounts = mounts
                namespaces[index].mountinfoPID = pid
                namespaces[index].malformedLines = malformed
                namespaces[index].mountsOverLimit = overLimit
                break
            }
            if namespaces[index].mounts == nil { snapshot.omitted.namespacesWithoutMounts += 1 }
        }
        snapshot.mountNamespaces = namespaces
    }

    // MARK: Block devices

    static func scanBlockDevices(reader: inout SnapshotFileReader) -> [BlockDevice] {
        var disks: [(disk: BlockDevice, partitions: [BlockDevice])] = []
        for name in directoryEntries(of: "/sys/block") {
            let path = "/sys/block/" + name
            var disk = blockDevice(name: name, path: path, reader: &reader)
            disk.readAheadKB = reader.attribute(path + "/queue/read_ahead_kb").flatMap { UInt64($0) }
            disk.rotational = reader.attribute(path + "/queue/rotational").flatMap(flag)
            disk.scheduler = reader.attribute(path + "/queue/scheduler").flatMap { SnapshotText.activeScheduler($0[...]) }
            disk.serial = nonEmpty(reader.attribute(path + "/serial")) ?? nonEmpty(reader.attribute(path + "/device/serial"))
            refreshLoop(&disk, path: path, reader: &reader)
            disk.driver = readLink(path + "/device/driver").map(basename)

            var partitions: [BlockDevice] = []
            for entry in directoryEntries(of: path) where access(path + "/" + entry + "/partition", F_OK) == 0 {
                var partition = blockDevice(name: entry, path: path + "/" + entry, reader: &reader)
                partition.parent = name
                partition.partitionNumber = reader.attribute(path + "/" + entry + "/partition").flatMap { Int($0) }
                partitions.append(partition)
            }
            partitions.sort(by: deviceOrder)
            disks.append((disk, partitions))
        }
        disks.sort { deviceOrder($0.disk, $1.disk) }
        return disks.flatMap { [$0.disk] + $0.partitions }
    }

    /// What disks and partitions have alike: number, size, PCI parent.
    static func blockDevice(name: String, path: String, reader: inout SnapshotFileReader) -> BlockDevice {
        var device = BlockDevice(name: name)
        if let number = reader.attribute(path + "/dev").flatMap({ SnapshotText.deviceNumber($0[...]) }) {
            device.major = number.major
            device.minor = number.minor
        }
        if let sectors = reader.attribute(path + "/size").flatMap({ UInt64($0) }) {
            // `size` counts 512-byte sectors whatever the logical block size.
            let (bytes, overflow) = sectors.multipliedReportingOverflow(by: 512)
            device.sizeBytes = overflow ? nil : bytes
        }
        device.readOnly = reader.attribute(path + "/ro").flatMap(flag)
        device.filesystemErrors = ext4Errors(name: name, reader: &reader)
        if let resolved = realPath(path), let address = SnapshotText.pciAddress(inDevicePath: resolved[...]) {
            device.pciAddress = address
            device.pciDriver = readLink("/sys/bus/pci/devices/\(address)/driver").map(basename)
        }
        return device
    }

    /// A loop device's backing file, offset, autoclear, and the file's size now.
    static func refreshLoop(_ disk: inout BlockDevice, path: String, reader: inout SnapshotFileReader) {
        disk.loopBackingFile = nonEmpty(reader.attribute(path + "/loop/backing_file"))
        disk.loopOffset = nil
        disk.loopAutoclear = nil
        disk.loopBackingFileSize = nil
        guard let backing = disk.loopBackingFile else { return }
        disk.loopOffset = reader.attribute(path + "/loop/offset").flatMap { UInt64($0) }
        disk.loopAutoclear = reader.attribute(path + "/loop/autoclear").flatMap(flag)
        var status = stat()
        if stat(backing, &status) == 0 { disk.loopBackingFileSize = UInt64(status.st_size) }
    }

    /// What a device table refreshes each second without a full scan.
    static func refreshVolatile(_ device: inout BlockDevice, path: String, reader: inout SnapshotFileReader) {
        if let sectors = reader.attribute(path + "/size").flatMap({ UInt64($0) }) {
            let (bytes, overflow) = sectors.multipliedReportingOverflow(by: 512)
            device.sizeBytes = overflow ? nil : bytes
        }
        if device.parent == nil { refreshLoop(&device, path: path, reader: &reader) }
        device.filesystemErrors = ext4Errors(name: device.name, reader: &reader)
    }

    /// /sys/fs/ext4/NAME/ (present while an ext4 filesystem on the device is mounted).
    static func ext4Errors(name: String, reader: inout SnapshotFileReader) -> FilesystemErrors? {
        let path = "/sys/fs/ext4/" + name
        guard let count = reader.attribute(path + "/errors_count").flatMap({ UInt64($0) }) else { return nil }
        // A time of 0 and an empty function: no such error yet.
        func time(_ file: String) -> UInt64? { reader.attribute(path + file).flatMap { UInt64($0) }.flatMap { $0 == 0 ? nil : $0 } }
        let first = time("/first_error_time")
        let last = time("/last_error_time")
        return FilesystemErrors(errorsCount: count, firstErrorTime: first,
                                firstErrorFunction: nonEmpty(reader.attribute(path + "/first_error_func")),
                                lastErrorTime: last, lastErrorFunction: nonEmpty(reader.attribute(path + "/last_error_func")))
    }

    static func deviceOrder(_ a: BlockDevice, _ b: BlockDevice) -> Bool {
        (a.major ?? .max, a.minor ?? .max, a.name) < (b.major ?? .max, b.minor ?? .max, b.name)
    }

    // MARK: PCI and virtio

    static func scanPCIStorage(reader: inout SnapshotFileReader) -> [PCIFunction] {
        var functions: [PCIFunction] = []
        for address in directoryEntries(of: "/sys/bus/pci/devices") {
            let path = "/sys/bus/pci/devices/" + address
            guard let pciClass = reader.attribute(path + "/class"), pciClass.hasPrefix("0x01") else { continue }
            let override = reader.attribute(path + "/driver_override")
            functions.append(PCIFunction(
                address: address,
                vendor: reader.attribute(path + "/vendor"),
                device: reader.attribute(path + "/device"),
                pciClass: pciClass,
                driver: readLink(path + "/driver").map(basename),
                driverOverride: override == "(null)" ? nil : nonEmpty(override)))
        }
        return functions.sorted { $0.address < $1.address }
    }

    static func scanVirtio(reader: inout SnapshotFileReader) -> [VirtioDevice] {
        var devices: [VirtioDevice] = []
        for name in directoryEntries(of: "/sys/bus/virtio/devices") {
            let path = "/sys/bus/virtio/devices/" + name
            devices.append(VirtioDevice(
                name: name,
                deviceID: reader.attribute(path + "/device"),
                driver: readLink(path + "/driver").map(basename),
                pciAddress: realPath(path).flatMap { SnapshotText.pciAddress(inDevicePath: $0[...]) }))
        }
        // virtio2 before virtio10.
        return devices.sorted { ($0.name.count, $0.name) < ($1.name.count, $1.name) }
    }

    // MARK: Small helpers

    static func flag(_ text: String) -> Bool? {
        switch text {
        case "0": return false
        case "1": return true
        default: return nil
        }
    }

    static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }

    static func basename(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func cStringField(_ raw: UnsafeRawBufferPointer) -> String {
        let bytes = raw.prefix(while: { $0 != 0 })
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Names in a directory, without "." and "..". Empty when it cannot be read.
public func directoryEntries(of path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != ".", name != ".." { names.append(name) }
    }
    return names
}

/// The pids in /proc (numeric entries), without building a String for the rest.
func numericEntries(of path: String) -> [Int32] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var pids: [Int32] = []
    while let entry = readdir(directory) {
        if let pid = numericName(entry), pid > 0 { pids.append(pid) }
    }
    return pids
}

/// A directory entry's name as a number ("812" in /proc, "3" in fd/), or
/// nil for any other name; no String is built.
func numericName(_ entry: UnsafeMutablePointer<dirent>) -> Int32? {
    withUnsafeBytes(of: &entry.pointee.d_name) { raw -> Int32? in
        var value: Int32 = 0
        var digits = 0
        for byte in raw {
            if byte == 0 { break }
            guard byte >= 0x30, byte <= 0x39, digits < 9 else { return nil }
            value = value * 10 + Int32(byte - 0x30)
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}

/// readlink(2) as a String; nil when it fails.
func readLink(_ path: String) -> String? {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX))
    let count = buffer.withUnsafeMutableBufferPointer { pointer in
        pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) {
            readlink(path, $0, pointer.count)
        }
    }
    guard count > 0 else { return nil }
    return String(decoding: buffer[..<count], as: UTF8.self)
}

/// realpath(3); nil when it fails.
func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// Reads procfs and sysfs files through one reused buffer (a snapshot
/// reads a few files per process; allocating for each was most of its
/// user time). A failure leaves `lastErrno` set and returns nil; callers
/// leave the field absent.
struct SnapshotFileReader {
    let maxSmallFileBytes: Int
    private var buffer: [UInt8]
    private var linkBuffer: [UInt8]
    private(set) var lastErrno: Int32 = 0

    init(maxSmallFileBytes: Int) {
        self.maxSmallFileBytes = maxSmallFileBytes
        buffer = [UInt8](repeating: 0, count: 16 << 10)
        linkBuffer = [UInt8](repeating: 0, count: Int(PATH_MAX))
    }

    /// A one-value sysfs attribute, trimmed of its newline and spaces.
    mutating func attribute(_ path: String) -> String? {
        withContents(path) { bytes, _ in bytes.trimmedString }
    }

    /// readlinkat(2) as a String; nil when it fails.
    mutating func readLink(_ path: String, at directory: Int32) -> String? {
        let count = linkBuffer.withUnsafeMutableBufferPointer { pointer in
            pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) {
                readlinkat(directory, path, $0, pointer.count)
            }
        }
        guard count > 0 else {
            lastErrno = errno
            return nil
        }
        return String(decoding: linkBuffer[..<count], as: UTF8.self)
    }

    /// /proc/PID/mountinfo, but only if PID is still in `namespace`: the
    /// pid may have exited and been reused since the process scan.
    mutating func mountinfo(pid: Int32, expectingNamespace namespace: UInt64, maxBytes: Int) -> (text: String, cut: Bool)? {
        let directory = open("/proc/\(pid)", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { return nil }
        defer { close(directory) }
        guard let link = readLink("ns/mnt", at: directory),
              SnapshotText.namespaceInode(link: link[...]) == namespace
        else { return nil }
        return withContents("mountinfo", at: directory, maxBytes: maxBytes) { bytes, cut in
            (String(decoding: bytes, as: UTF8.self), cut)
        }
    }

    /// Reads up to `maxBytes` (default: the small-file cap) of a file into
    /// the reused buffer and passes a view of it, and whether the file had
    /// more, to `body`. nil when the file cannot be opened or read.
    mutating func withContents<Result>(_ path: String, at directory: Int32 = AT_FDCWD, maxBytes: Int? = nil,
                                       _ body: (UnsafeRawBufferPointer, _ cut: Bool) -> Result) -> Result? {
        let limit = maxBytes ?? maxSmallFileBytes
        let fd = openat(directory, path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            lastErrno = errno
            return nil
        }
        defer { close(fd) }
        var used = 0
        while true {
            // One byte past the limit tells a file of exactly `limit` bytes
            // from a longer one.
            if used == buffer.count {
                guard buffer.count <= limit else { break }
                buffer.append(contentsOf: repeatElement(0, count: min(buffer.count, limit + 1 - buffer.count)))
            }
            let count = buffer.withUnsafeMutableBytes { raw in
                Glibc.read(fd, raw.baseAddress! + used, raw.count - used)
            }
            if count < 0 {
                if errno == EINTR { continue }
                lastErrno = errno
                return nil
            }
            if count == 0 { break }
            used += count
        }
        let cut = used > limit
        return buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[..<min(used, limit)]), cut) }
    }
}

extension UnsafeRawBufferPointer {
    var trimmedString: String {
        var lower = 0
        var upper = count
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A }
        while lower < upper, isSpace(self[lower]) { lower += 1 }
        while upper > lower, isSpace(self[upper - 1]) { upper -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: self[lower..<upper]), as: UTF8.self)
    }
}
