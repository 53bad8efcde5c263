import StoretraceDecode

/// What made a mount unhealthy.
public enum MountHealthCause: UInt8, CaseIterable, Sendable, Equatable {
    /// The block layer failed I/O to its device (kmsg "I/O error, dev X", ...).
    case ioError = 0
    /// The filesystem reported an error (kmsg "EXT4-fs error (device X)", ...).
    case filesystemError
    /// Its block device was removed (uevent `remove`) or left /sys/block
    /// while the filesystem stayed mounted.
    case deviceRemoved
    /// Its loop device's backing file is shorter than the device claims.
    case backingFileShort
    /// Its loop device was detached (`losetup -d`) while in use: it goes at
    /// the last unmount (loop/autoclear set while mounted).
    case detachPending

    public var name: String {
        switch self {
        case .ioError: "io_error"
        case .filesystemError: "fs_error"
        case .deviceRemoved: "device_removed"
        case .backingFileShort: "backing_file_short"
        case .detachPending: "detach_pending"
        }
    }

    init(_ problem: DeviceProblem) {
        switch problem {
        case .ioError: self = .ioError
        case .filesystemError: self = .filesystemError
        }
    }
}

/// One mount's health, as of `timestamp`: a `mount_health` event when a
/// cause first happens to the mount, and its state at the end (`info`).
public struct MountHealth: Sendable {
    public var mount: DeviceTable.Mount
    public var deviceName: String
    public var major: UInt32
    public var minor: UInt32
    /// What happened now (the event), or first (the state at the end).
    public var cause: MountHealthCause
    /// The kernel log line, the uevent, or the table change that said so.
    public var detail: String
    /// When this happened, and when the mount's first problem did (CLOCK_MONOTONIC ns).
    public var timestamp: UInt64
    public var firstProblem: UInt64
    /// Since the first problem, this one included.
    public var ioErrors: UInt64 = 0
    public var filesystemErrors: UInt64 = 0
    /// Every cause seen, in the order first seen.
    public var causes: [MountHealthCause] = []

    public init(mount: DeviceTable.Mount, deviceName: String, major: UInt32, minor: UInt32,
                cause: MountHealthCause, detail: String, timestamp: UInt64) {
        self.mount = mount
        self.deviceName = deviceName
        self.major = major
        self.minor = minor
        self.cause = cause
        self.detail = detail
        self.timestamp = timestamp
        self.firstProblem = timestamp
    }
}

extension MountHealth {
    /// One line for `info` and `summary` (not escaped: callers escape):
    /// "/mnt/x in host on loop0 (7:0): io_error, fs_error; 7 I/O errors, 4 fs errors; first: I/O error, dev loop0, ..."
    public var summaryText: String {
        "\(mount.mountPoint) in \(mount.namespaceName) on \(deviceName) (\(major):\(minor)): "
            + causes.map(\.name).joined(separator: ", ") + "; \(ioErrors) I/O errors, \(filesystemErrors) fs errors; first: \(detail)"
    }
}

/// Follows the health of every mount of a block device: device errors from
/// the kernel log, removals from uevents, loop backing files and pending
/// detaches from device-table changes. Reports each cause the first time it
/// happens to a mount (with the counts so far), and keeps every unhealthy
/// mount for the end of the session. Pure: the session hands it the events
/// and the table in force; bounded by `limit` mounts, the rest counted.
public final class MountHealthTracker {
    public private(set) var unhealthy: [MountHealth] = []
    /// Mounts past `limit`, not followed.
    public private(set) var overLimit: UInt64 = 0
    private var indexByMount: [MountKey: Int] = [:]
    private let limit: Int
    private let report: (MountHealth) -> Void

    struct MountKey: Hashable {
        var namespace: UInt64
        var mountID: Int
    }

    public init(limit: Int = 10_000, report: @escaping (MountHealth) -> Void) {
        self.limit = limit
        self.report = report
    }

    /// A problem of device `index` of `table`: every mount of it.
    public func problem(_ cause: MountHealthCause, device index: Int, table: DeviceTable, timestamp: UInt64,
                        detail: () -> String) {
        let device = table.devices[index]
        guard !device.mounts.isEmpty else { return }
        var text: String?
        for mount in device.mounts {
            let key = MountKey(namespace: mount.namespace, mountID: mount.mountID)
            let slot: Int
            if let known = indexByMount[key] {
                slot = known
            } else {
                guard unhealthy.count < limit else {
                    overLimit &+= 1
                    continue
                }
                slot = unhealthy.count
                indexByMount[key] = slot
                text = text ?? detail()
                unhealthy.append(MountHealth(mount: mount, deviceName: device.name, major: device.major,
                                             minor: device.minor, cause: cause, detail: text!, timestamp: timestamp))
            }
            // A table change is stamped when it was seen, which can trail
            // the kernel's own stamp of the errors that caused it.
            unhealthy[slot].firstProblem = min(unhealthy[slot].firstProblem, timestamp)
            switch cause {
            case .ioError: unhealthy[slot].ioErrors &+= 1
            case .filesystemError: unhealthy[slot].filesystemErrors &+= 1
            default: break
            }
            guard !unhealthy[slot].causes.contains(cause) else { continue }
            unhealthy[slot].causes.append(cause)
            var event = unhealthy[slot]
            event.cause = cause
            event.timestamp = timestamp
            text = text ?? detail()
            event.detail = text!
            report(event)
        }
    }

    /// A kernel log line that names device `index` and a problem.
    public func logged(_ problem: DeviceProblem, device index: Int, table: DeviceTable, timestamp: UInt64,
                       detail: () -> String) {
        self.problem(MountHealthCause(problem), device: index, table: table, timestamp: timestamp, detail: detail)
    }

    /// The device table changed from `old` to `new`: what the new one says
    /// of loop backing files, pending detaches and devices gone.
    public func tableChanged(from old: DeviceTable, to new: DeviceTable, timestamp: UInt64) {
        for index in new.devices.indices where !new.devices[index].mounts.isEmpty {
            let info = new.devices[index].info
            let before = old.index(major: new.devices[index].major, minor: new.devices[index].minor).map { old.devices[$0].info }
            if info.gone == true, before?.gone != true {
                problem(.deviceRemoved, device: index, table: new, timestamp: timestamp) {
                    "\(info.name) left /sys/block while mounted"
                }
            }
            if info.loopBackingFileShort == true, before?.loopBackingFileShort != true {
                problem(.backingFileShort, device: index, table: new, timestamp: timestamp) {
                    "backing file \(info.loopBackingFile ?? "?") has \(info.loopBackingFileSize ?? 0) bytes, "
                        + "the device claims \((info.loopOffset ?? 0) &+ (info.sizeBytes ?? 0))"
                }
            }
            if info.loopAutoclear == true, before?.loopAutoclear != true {
                problem(.detachPending, device: index, table: new, timestamp: timestamp) {
                    "\(info.name) detached while mounted (autoclear): it goes at the last unmount"
                }
            }
        }
    }
}
