/// The block queue settings storetrace follows over time (sysfs
/// `/sys/block/DISK/queue/NAME`), in the order their records number them.
/// The raw values are stored in captures: never renumber, only append.
public enum QueueSetting: UInt8, CaseIterable, Sendable {
    case readAheadKB = 0
    case scheduler = 1
    case maxSectorsKB = 2
    case nrRequests = 3
    case rotational = 4

    /// The sysfs file name, which is also the name in text and JSON.
    public var name: StaticString {
        switch self {
        case .readAheadKB: "read_ahead_kb"
        case .scheduler: "scheduler"
        case .maxSectorsKB: "max_sectors_kb"
        case .nrRequests: "nr_requests"
        case .rotational: "rotational"
        }
    }

    public var nameText: String { name.description }

    /// Whether the value is a number (JSON writes it as one).
    public var isNumeric: Bool { self != .scheduler }

    /// The value a sysfs read shows: the file trimmed of spaces and the
    /// newline; for `scheduler` ("mq-deadline kyber [bfq] none") the active,
    /// bracketed one. A range of `bytes`, so that comparing a sample with the
    /// last one allocates nothing.
    public func value(in bytes: UnsafeRawBufferPointer) -> Range<Int> {
        var lower = 0
        var upper = bytes.count
        if self == .scheduler, let open = bytes.firstIndex(of: UInt8(ascii: "[")),
           let close = bytes[open...].firstIndex(of: UInt8(ascii: "]")) {
            return (open + 1)..<close
        }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A }
        while lower < upper, isSpace(bytes[lower]) { lower += 1 }
        while upper > lower, isSpace(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }
}

/// One queue setting of one disk that changed (or that a disk which
/// appeared has): the `queue_setting` event.
public struct QueueSettingChange: Equatable, Sendable {
    public var major: UInt32
    public var minor: UInt32
    /// The disk's kernel name ("loop0", "vda").
    public var device: [UInt8]
    public var setting: QueueSetting
    /// nil: the disk was not there before (it appeared while tracing).
    public var old: [UInt8]?
    public var new: [UInt8]

    public init(major: UInt32, minor: UInt32, device: [UInt8], setting: QueueSetting, old: [UInt8]?, new: [UInt8]) {
        self.major = major
        self.minor = minor
        self.device = device
        self.setting = setting
        self.old = old
        self.new = new
    }

    /// The new value as a number, for the numeric settings.
    public var newNumber: UInt64? { QueueSettingChange.number(new) }
    public var oldNumber: UInt64? { old.flatMap(QueueSettingChange.number) }

    public static func number(_ bytes: [UInt8]) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
        }
        return value
    }
}

/// The block devices a copy's file can be on, and the read-ahead in force on
/// each: the node snapshot at the start, then every `queue_setting` change
/// applied in time order. The one place that says which `read_ahead_kb` a
/// copy ran with, for the renderers (live, record, replay) and `summary`.
/// A lookup per event allocates nothing.
public struct BlockDevicesInForce: Sendable {
    public struct Device: Sendable {
        /// Kernel name of the disk or partition.
        public var name: [UInt8]
        /// The disk whose queue it uses (itself for a disk).
        public var diskKey: UInt64
        /// read_ahead_kb of that disk as it is now: kept here as well as by
        /// disk so that a copy's lookup is one hash, not two.
        public var readAheadKB: UInt64?
    }

    private var devices: [UInt64: Device] = [:]
    /// read_ahead_kb by disk.
    private var readAhead: [UInt64: UInt64] = [:]

    public init() {}

    /// From the block devices of a node snapshot (or of `live`'s scan).
    public init(_ blockDevices: [NodeSnapshot.BlockDevice]) {
        var disks: [String: UInt64] = [:]
        for device in blockDevices where device.parent == nil {
            guard let major = device.major, let minor = device.minor else { continue }
            disks[device.name] = Self.key(major, minor)
        }
        for device in blockDevices {
            guard let major = device.major, let minor = device.minor else { continue }
            // A partition's queue settings are its disk's.
            let key = Self.key(major, minor)
            let diskKey = device.parent.map { disks[$0] ?? key } ?? key
            devices[key] = Device(name: Array(device.name.utf8), diskKey: diskKey, readAheadKB: nil)
            if device.parent == nil, let value = device.readAheadKB { readAhead[key] = value }
        }
        for (key, device) in devices { devices[key]?.readAheadKB = readAhead[device.diskKey] }
    }

    @inline(__always)
    public static func key(_ major: UInt32, _ minor: UInt32) -> UInt64 { UInt64(major) << 32 | UInt64(minor) }

    /// The disk or partition with this number; nil for a filesystem without
    /// one (tmpfs, overlay: major 0) or a device never seen.
    @inline(__always)
    public func device(major: UInt32, minor: UInt32) -> Device? {
        devices[Self.key(major, minor)]
    }

    /// read_ahead_kb of the disk under this device, as it is now.
    @inline(__always)
    public func readAheadKB(major: UInt32, minor: UInt32) -> UInt64? {
        devices[Self.key(major, minor)]?.readAheadKB
    }

    /// A change is rare: the disk's partitions are updated with it.
    public mutating func apply(_ change: QueueSettingChange) {
        let key = Self.key(change.major, change.minor)
        if devices[key] == nil { devices[key] = Device(name: change.device, diskKey: key, readAheadKB: readAhead[key]) }
        if change.setting == .readAheadKB {
            readAhead[key] = change.newNumber
            for (deviceKey, device) in devices where device.diskKey == key {
                devices[deviceKey]?.readAheadKB = change.newNumber
            }
        }
    }
}
