import StoretraceAnalyze
import StoretraceDecode

/// Copies that moved data, added up per time bucket.
struct CopyTally: BucketValue {
    var bytes: UInt64 = 0
    /// Time of the calls that moved data: throughput is `bytes` over it, as
    /// the copy lines and `summary` measure it (`Throughput`).
    var nanoseconds: UInt64 = 0
    var calls: UInt64 = 0

    mutating func merge(_ other: CopyTally) {
        bytes &+= other.bytes
        nanoseconds &+= other.nanoseconds
        calls &+= other.calls
    }
}

/// Per block device (of a copy's input file), copy throughput over time,
/// and the read_ahead_kb of its disk over time: the start snapshot's value,
/// then every change, whatever the filters show.
struct CopyCharts {
    struct Device {
        var name: [UInt8]
        var major: UInt32
        var minor: UInt32
        /// The disk whose queue (read_ahead_kb) it uses.
        var diskKey: UInt64
        var buckets: TimeBuckets<CopyTally>
    }

    /// A read_ahead_kb value in force from `time` on (nil: unknown).
    struct Step: Equatable {
        var time: UInt64
        var readAheadKB: UInt64?
    }

    private var deviceRows: BoundedRows<UInt64, Device>
    var devices: [Device] { deviceRows.rows }
    /// Steps by disk; the first one is the start snapshot's value.
    private(set) var steps: [UInt64: [Step]] = [:]
    /// Changes past `limits.settingSteps` of a disk, counted.
    private(set) var stepsLeftOut: UInt64 = 0
    /// Copies on devices past `limits.copyDevices`, and copies on files
    /// without a block device (tmpfs, pipes, sockets): counted, not drawn.
    var copiesOverLimit: UInt64 { deviceRows.leftOut }
    private(set) var copiesWithoutDevice: UInt64 = 0
    let limits: ReportLimits

    init(limits: ReportLimits) {
        self.limits = limits
        deviceRows = BoundedRows(limit: limits.copyDevices)
    }

    /// The disks' read-ahead when the capture started.
    mutating func start(_ blockDevices: [NodeSnapshot.BlockDevice], at time: UInt64) {
        for device in blockDevices where device.parent == nil {
            guard let major = device.major, let minor = device.minor else { continue }
            steps[BlockDevicesInForce.key(major, minor)] = [Step(time: time, readAheadKB: device.readAheadKB)]
        }
    }

    /// A copy that moved `bytes` in `nanoseconds`, on `device` (nil: the
    /// file is on no block device the capture knows).
    mutating func add(at time: UInt64, bytes: UInt64, nanoseconds: UInt64, major: UInt32, minor: UInt32,
                      device: BlockDevicesInForce.Device?) {
        guard let device else {
            copiesWithoutDevice &+= 1
            return
        }
        // Millisecond buckets to start with; they widen with the span.
        let count = limits.copyBuckets
        guard let index = deviceRows.row(for: BlockDevicesInForce.key(major, minor), orAdd: {
            Device(name: device.name, major: major, minor: minor, diskKey: device.diskKey,
                   buckets: TimeBuckets(origin: time, width: 1_000_000, count: count))
        }) else { return }
        deviceRows[index].buckets.add(at: time) { tally in
            tally.bytes &+= bytes
            tally.nanoseconds &+= nanoseconds
            tally.calls &+= 1
        }
    }

    /// A queue setting changed (every change, shown or not).
    mutating func apply(_ change: QueueSettingChange, at time: UInt64) {
        guard change.setting == .readAheadKB else { return }
        let key = BlockDevicesInForce.key(change.major, change.minor)
        var list = steps[key] ?? []
        guard list.count < limits.settingSteps else {
            stepsLeftOut &+= 1
            return
        }
        list.append(Step(time: time, readAheadKB: change.newNumber))
        steps[key] = list
    }
}
