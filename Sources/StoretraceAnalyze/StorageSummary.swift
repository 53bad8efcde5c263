import StoretraceDecode

/// What `storetrace summary` (and `--summary` after live and record) says
/// of a stretch of events: per block device, the copies (copy_file_range,
/// splice, sendfile) split by the read-ahead in force when they ran, with
/// bytes, throughput and latency histograms; calls and failures by type and
/// errno; the slowest calls; the queue settings that changed. Built event
/// by event in time order; state is bounded (`StorageSummaryLimits`), what
/// is left out is counted.
public struct StorageSummary: Sendable {
    /// The copies of one read-ahead period of one device: the calls that ran
    /// with `readAheadKB` in force on the device of their input file.
    public struct CopyPeriod: Sendable {
        /// The input file's device name ("loop0"); nil for a file on no block
        /// device (tmpfs, a pipe: major 0), or one never seen.
        public var device: [UInt8]?
        public var major: UInt32
        public var minor: UInt32
        public var readAheadKB: UInt64?
        public var calls: UInt64 = 0
        /// Calls that returned an error.
        public var failed: UInt64 = 0
        /// Calls that returned 0 (nothing left to copy).
        public var empty: UInt64 = 0
        public var bytes: UInt64 = 0
        /// Latency of the calls that moved data (ns): throughput is `bytes`
        /// over its sum.
        public var latency = Log2Histogram()
        /// When the first and last call of the period started (CLOCK_MONOTONIC).
        public var first: UInt64 = .max
        public var last: UInt64 = 0

        public var mebibytesPerSecond: Double? { Throughput.mebibytesPerSecond(bytes: bytes, nanoseconds: latency.sum) }
    }

    /// The calls of one type.
    public struct Calls: Sendable {
        public var kind: SyscallKind
        public var calls: UInt64 = 0
        public var failed: UInt64 = 0
        /// Failures by errno, most frequent first once `finished`.
        public var errnos: [(errno: Int32, count: UInt64)] = []
        public var latency = Log2Histogram()
    }

    /// One call among the slowest.
    public struct SlowCall: Sendable {
        public var timestamp: UInt64
        public var kind: SyscallKind
        public var pid: UInt32
        public var comm: [UInt8]
        public var latency: UInt64
        public var returnValue: Int64
        public var errno: Int32?
        /// A copy's input device and the read-ahead in force.
        public var device: [UInt8]?
        public var readAheadKB: UInt64?
    }

    public struct SettingChange: Sendable {
        public var timestamp: UInt64
        public var change: QueueSettingChange
    }

    public let limits: StorageSummaryLimits
    /// By device, then by the time the period started.
    public var periods: [CopyPeriod] { periodRows.rows }
    public private(set) var calls: [Calls] = []
    /// Slowest first.
    public private(set) var slowest: [SlowCall] = []
    public private(set) var settingChanges: [SettingChange] = []
    /// Changes beyond `limits.maxSettingChanges`, and copies of periods
    /// beyond `limits.maxPeriods`: counted, not kept.
    public private(set) var settingChangesLeftOut: UInt64 = 0
    public var copiesLeftOut: UInt64 { periodRows.leftOut }
    /// First and last event seen (CLOCK_MONOTONIC), nil before any.
    public private(set) var span: (first: UInt64, last: UInt64)?
    /// Unhealthy mounts: the mount-health analysis (issue 11 item 2) fills
    /// this in; nil while this storetrace does not analyze mount health.
    public var unhealthyMounts: [String]? = nil

    /// The devices and read-ahead in force, from the start snapshot; every
    /// `add(_:at:)` of a change updates it.
    public private(set) var devices: BlockDevicesInForce
    private var periodRows: BoundedRows<PeriodKey, CopyPeriod>
    private var callIndex: [Int] = Array(repeating: -1, count: 64)
    private var errnoIndex: [[Int32: Int]] = []

    struct PeriodKey: Hashable {
        var device: UInt64
        var readAheadKB: UInt64?
    }

    public init(devices: BlockDevicesInForce, limits: StorageSummaryLimits = StorageSummaryLimits()) {
        self.devices = devices
        self.limits = limits
        periodRows = BoundedRows(limit: limits.maxPeriods)
    }

    /// A new start snapshot (replay reads it with the first record).
    public mutating func start(devices: BlockDevicesInForce) { self.devices = devices }

    public mutating func add(_ record: SyscallRecord) {
        let timestamp = record.timestamp
        see(timestamp)
        let errno = record.errno
        // Calls by type.
        let slot = Int(record.kind.rawValue)
        if slot < callIndex.count {
            if callIndex[slot] < 0 {
                callIndex[slot] = calls.count
                calls.append(Calls(kind: record.kind))
                errnoIndex.append([:])
            }
            let index = callIndex[slot]
            calls[index].calls &+= 1
            calls[index].latency.add(record.latency)
            if let errno {
                calls[index].failed &+= 1
                if let at = errnoIndex[index][errno] {
                    calls[index].errnos[at].count &+= 1
                } else {
                    errnoIndex[index][errno] = calls[index].errnos.count
                    calls[index].errnos.append((errno, 1))
                }
            }
        }
        var device: BlockDevicesInForce.Device?
        var readAhead: UInt64?
        if record.kind.movesData {
            let file = record.fileIn
            device = devices.device(major: file.major, minor: file.minor)
            readAhead = device?.readAheadKB
            addCopy(record, file: file, device: device, readAhead: readAhead)
        }
        // The slowest calls: a short list kept sorted.
        if slowest.count < limits.slowestCalls || record.latency > slowest[slowest.count - 1].latency {
            let call = SlowCall(timestamp: timestamp, kind: record.kind, pid: record.pid, comm: Array(record.comm),
                                latency: record.latency, returnValue: record.returnValue, errno: errno,
                                device: device?.name, readAheadKB: readAhead)
            let at = slowest.firstIndex { $0.latency < call.latency } ?? slowest.count
            slowest.insert(call, at: at)
            if slowest.count > limits.slowestCalls { slowest.removeLast() }
        }
    }

    private mutating func addCopy(_ record: SyscallRecord, file: FileRef, device: BlockDevicesInForce.Device?, readAhead: UInt64?) {
        let key = PeriodKey(device: BlockDevicesInForce.key(file.major, file.minor), readAheadKB: readAhead)
        guard let index = periodRows.row(for: key, orAdd: {
            CopyPeriod(device: device?.name, major: file.major, minor: file.minor, readAheadKB: readAhead)
        }) else { return }
        let timestamp = record.timestamp
        periodRows[index].calls &+= 1
        periodRows[index].first = Swift.min(periodRows[index].first, timestamp)
        periodRows[index].last = Swift.max(periodRows[index].last, timestamp)
        if record.errno != nil {
            periodRows[index].failed &+= 1
        } else if record.returnValue == 0 {
            periodRows[index].empty &+= 1
        } else {
            periodRows[index].bytes &+= UInt64(record.returnValue)
            periodRows[index].latency.add(record.latency)
        }
    }

    /// A queue setting changed at `timestamp`: copies after it run with it.
    public mutating func add(_ change: QueueSettingChange, at timestamp: UInt64) {
        see(timestamp)
        devices.apply(change)
        if settingChanges.count < limits.maxSettingChanges {
            settingChanges.append(SettingChange(timestamp: timestamp, change: change))
        } else {
            settingChangesLeftOut &+= 1
        }
    }

    /// Any other event: only the span.
    public mutating func see(_ timestamp: UInt64) {
        if let current = span {
            span = (Swift.min(current.first, timestamp), Swift.max(current.last, timestamp))
        } else {
            span = (timestamp, timestamp)
        }
    }

    /// Periods grouped by device (in the order devices were first seen),
    /// each device's in the order they started.
    public var periodsByDevice: [[CopyPeriod]] {
        var order: [UInt64] = []
        var groups: [UInt64: [CopyPeriod]] = [:]
        for period in periods {
            let key = BlockDevicesInForce.key(period.major, period.minor)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(period)
        }
        return order.map { groups[$0]!.sorted { $0.first < $1.first } }
    }

    /// Calls in type order, each type's errnos most frequent first.
    public var callsByType: [Calls] {
        calls.sorted { $0.kind.rawValue < $1.kind.rawValue }.map { entry in
            var sorted = entry
            sorted.errnos.sort { $0.count != $1.count ? $0.count > $1.count : $0.errno < $1.errno }
            return sorted
        }
    }
}

public struct StorageSummaryLimits: Sendable {
    public var slowestCalls = 10
    public var maxSettingChanges = 1000
    /// Devices × read-ahead values.
    public var maxPeriods = 256
    public init() {}
}
