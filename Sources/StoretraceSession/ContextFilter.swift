import StoretraceAnalyze
import StoretraceDecode

/// A block device as `--device` names it: `vdb` (or `/dev/vdb`) or `254:16`.
public enum DeviceSelector: Equatable, Sendable {
    case name([UInt8])
    case number(major: UInt32, minor: UInt32)

    /// nil with the reason for text that is neither a device name nor MAJ:MIN.
    public static func parse(_ text: String) -> Result<DeviceSelector, DeviceSelectorError> {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2 {
            guard let major = UInt32(parts[0]), let minor = UInt32(parts[1]), major < 4096, minor < 1 << 20 else {
                return .failure(DeviceSelectorError(text: text, why: "MAJ:MIN takes two decimal numbers (major below 4096, minor below 1048576), e.g. 7:0"))
            }
            return .success(.number(major: major, minor: minor))
        }
        var name = Substring(text)
        if name.hasPrefix("/dev/") { name = name.dropFirst(5) }
        guard !name.isEmpty, name.utf8.count <= 32, !name.contains("/"), !name.contains(":"),
              name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(DeviceSelectorError(text: text, why: "write a block device's name as /sys/block shows it (vdb, loop0, nvme0n1p1) or MAJ:MIN (254:16)"))
        }
        return .success(.name(Array(name.utf8)))
    }

    /// Whether the device `major:minor` is this one, or a partition of it
    /// (the table names a partition's disk).
    func matches(major: UInt32, minor: UInt32, in table: DeviceTable) -> Bool {
        if case .number(major, minor) = self { return true }
        guard let index = table.index(major: major, minor: minor) else { return false }
        return matches(table.devices[index], in: table)
    }

    /// Whether the device named `name` (bytes of a message) is this one, or a partition of it.
    func matches(name: UnsafeRawBufferPointer, in table: DeviceTable) -> Bool {
        if case .name(let wanted) = self, wanted.elementsEqual(name) { return true }
        guard let index = table.index(named: name) else { return false }
        return matches(table.devices[index], in: table)
    }

    private func matches(_ device: DeviceTable.Device, in table: DeviceTable) -> Bool {
        switch self {
        case .name(let wanted):
            return device.nameBytes == wanted || device.info.parent?.utf8.elementsEqual(wanted) == true
        case .number(let major, let minor):
            if device.major == major && device.minor == minor { return true }
            guard let parent = device.info.parent, let index = table.index(major: major, minor: minor) else { return false }
            return table.devices[index].name == parent
        }
    }

    /// Whether `path` is a mount point of this device (or of one of its
    /// partitions) in any namespace the table knows.
    func isMountPoint(_ path: UnsafeRawBufferPointer, in table: DeviceTable) -> Bool {
        for device in table.devices where matches(device, in: table) {
            for mount in device.mounts where mount.mountPoint.utf8.elementsEqual(path) { return true }
        }
        return false
    }
}

public struct DeviceSelectorError: Error, CustomStringConvertible, Sendable {
    public var text: String
    public var why: String
    public var description: String { "'\(text)': \(why)" }
}

/// `--pod`, `--container`, `--path` and `--device`: filters that need more
/// than the event's bytes (the pod table, the device table). Checked only
/// when one is set (`hasContextFilters`), after the event's own filters.
extension EventFilter {
    public var hasContextFilters: Bool {
        !podUIDs.isEmpty || !containerPrefixes.isEmpty || !pathPrefixes.isEmpty || !devices.isEmpty
    }

    public var hasPodFilters: Bool { !podUIDs.isEmpty || !containerPrefixes.isEmpty }

    /// `pod`: the pod of a syscall event's process (`PodTable`), nil for a
    /// host process or any other event.
    public func acceptsContext(_ event: Event, pod: PodCgroup?, devices table: DeviceTable) -> Bool {
        if hasPodFilters {
            switch event {
            case .holders, .queueSetting:
                break // context of a shown call or copy, as with --pid
            case .syscall:
                guard let pod, keepsPod(pod) else { return false }
            default:
                return false // only syscall events carry their process's cgroup
            }
        }
        if !pathPrefixes.isEmpty && !acceptsPath(event) { return false }
        if !devices.isEmpty && !acceptsDevice(event, table) { return false }
        return true
    }

    func keepsPod(_ pod: PodCgroup) -> Bool {
        if !podUIDs.isEmpty && !podUIDs.contains(pod.podUID) { return false }
        if !containerPrefixes.isEmpty {
            guard let id = pod.containerID, containerPrefixes.contains(where: { id.starts(with: $0) }) else { return false }
        }
        return true
    }

    /// Any path of the event at or under one of the prefixes (whole components:
    /// /var/lib/kubelet keeps /var/lib/kubelet/pods/..., not /var/lib/kubelet2).
    func acceptsPath(_ event: Event) -> Bool {
        switch event {
        case .syscall(let record):
            for slot in 0..<min(record.stringCount, 4) {
                if let path = record.string(slot), isUnderPrefix(path) { return true }
            }
            return false
        case .mountOperation(let operation):
            return Self.anyPath(of: operation) { isUnderPrefix($0) }
        case .mountHealth(let health):
            return health.mount.mountPoint.utf8.withContiguousStorageIfAvailable { isUnderPrefix(UnsafeRawBufferPointer($0)) }
                ?? Array(health.mount.mountPoint.utf8).withUnsafeBytes { isUnderPrefix($0) }
        case .holders, .queueSetting:
            return true
        case .uevent, .kmsg, .ftrace, .claim:
            return false
        }
    }

    /// Whether `test` holds for a mount operation's source or target path
    /// (without building an array of the two per event).
    static func anyPath(of operation: MountOperation, _ test: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        if let source = operation.source, source.path.withUnsafeBytes(test) { return true }
        if let target = operation.target, target.path.withUnsafeBytes(test) { return true }
        return false
    }

    /// `NAME` of a `/dev/NAME` path.
    static func deviceName(_ path: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let dev: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0x2F, 0x64, 0x65, 0x76, 0x2F) // "/dev/"
        guard path.count > 5, path[0] == dev.0, path[1] == dev.1, path[2] == dev.2, path[3] == dev.3, path[4] == dev.4 else { return nil }
        return UnsafeRawBufferPointer(rebasing: path[5...])
    }

    func isUnderPrefix(_ path: UnsafeRawBufferPointer) -> Bool {
        for prefix in pathPrefixes where path.starts(with: prefix) {
            if path.count == prefix.count || prefix.last == UInt8(ascii: "/") || path[prefix.count] == UInt8(ascii: "/") {
                return true
            }
        }
        return false
    }

    /// Events resolved to one of the devices: copies by their files'
    /// device, mount calls by a /dev/NAME source or a mount point of the
    /// device, kernel log lines and uevents by the device they name,
    /// tracepoints and claims by their dev_t.
    func acceptsDevice(_ event: Event, _ table: DeviceTable) -> Bool {
        func any(_ test: (DeviceSelector) -> Bool) -> Bool { devices.contains(where: test) }
        switch event {
        case .syscall(let record):
            if record.kind.movesData {
                let input = record.fileIn, output = record.fileOut
                return (input.device != 0 && any { $0.matches(major: input.major, minor: input.minor, in: table) })
                    || (output.device != 0 && any { $0.matches(major: output.major, minor: output.minor, in: table) })
            }
            for slot in 0..<min(record.stringCount, 4) {
                guard let path = record.string(slot) else { continue }
                if let name = Self.deviceName(path), any({ $0.matches(name: name, in: table) }) { return true }
                if any({ $0.isMountPoint(path, in: table) }) { return true }
            }
            return false
        case .uevent(let message):
            if let major = message.major, let minor = message.minor {
                return any { $0.matches(major: major, minor: minor, in: table) }
            }
            return message.devname.map { name in any { $0.matches(name: name, in: table) } } ?? false
        case .kmsg(let record):
            let message = record.message
            guard let mention = KmsgDevicePatterns.find(in: message, severe: record.level.rawValue <= 3) else { return false }
            return any { $0.matches(name: mention.name(in: message), in: table) }
        case .ftrace(let view, _):
            guard let number = view.deviceNumber else { return false }
            return any { $0.matches(major: number.major, minor: number.minor, in: table) }
        case .claim(let record):
            return any { $0.matches(major: record.major, minor: record.minor, in: table) }
        case .queueSetting(let change):
            return any { $0.matches(major: change.major, minor: change.minor, in: table) }
        case .mountHealth(let health):
            return any { $0.matches(major: health.major, minor: health.minor, in: table) }
        case .mountOperation(let operation):
            return Self.anyPath(of: operation) { path in
                (Self.deviceName(path).map { name in any { $0.matches(name: name, in: table) } } ?? false)
                    || any { $0.isMountPoint(path, in: table) }
            }
        case .holders:
            return true
        }
    }
}
