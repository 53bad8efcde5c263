import StoretraceDecode

/// What `storetrace top` shows, aggregated from the events of a live
/// session: failed calls deduplicated with their counts and explanations
/// (the holders a scan found, an unhealthy mount), mount activity per pod or
/// mount namespace, copies per block device, device events, unhealthy
/// mounts, the last kernel errors, and the header's counters.
///
/// A value, and pure: no I/O and no clock of its own. Every time comes from
/// the events or from `tick`, so a fixture stream gives the same model every
/// time, and a paused screen is a copy. Drawing is `DashboardView`'s
/// (StoretraceRender); feeding it from the pipeline is `DashboardFeed`'s
/// (StoretraceSession). Bounded by `DashboardLimits`: what is dropped is
/// counted and shown.
public struct DashboardModel: Sendable {
    public let limits: DashboardLimits
    public var header = Header()

    // MARK: Failures

    /// One kind of failure: the same call, errno and path (or name), however
    /// often and by whomever it was made.
    public struct Failure: Sendable {
        /// Stable while the failure is kept (the screen's selection follows it).
        public let id: Int
        public let kind: SyscallKind
        public let errno: Int32
        /// What the call was about: its path (a mount's or move_mount's
        /// target, the path of umount2, rmdir and the others), fsopen's
        /// filesystem type, fsconfig's key, a copy's input file name; empty
        /// when the call names nothing (fsmount).
        public let subject: [UInt8]
        /// mount(2)'s source (a /dev node: the device an unhealthy mount is on).
        public var source: [UInt8]?
        public var count: UInt64 = 0
        /// When the first and the last of them were made (CLOCK_MONOTONIC).
        public var first: UInt64
        public var last: UInt64
        /// The last calls (record bytes as the kernel delivered them, so the
        /// detail view renders them as `live` does), oldest first.
        public var recent: [Occurrence] = []
        /// The latest scan that explained one of them (EBUSY), and when the
        /// call it explains was made.
        public var holders: HolderReport?
        public var holdersExplain: UInt64 = 0
        /// Pods of the holders' processes, where they are in one.
        public var holderPods: [Int32: PodCgroup] = [:]

        /// The last call.
        public var latest: Occurrence { recent[recent.count - 1] }
    }

    /// One failed call.
    public struct Occurrence: Sendable {
        /// The syscall record (`SyscallRecord(validating:)` reads it).
        public var record: [UInt8]
        /// The pod of the process that made it; nil for a host process.
        public var pod: PodCgroup?
        public var timestamp: UInt64
        public var pid: UInt32
        public var comm: [UInt8]
    }

    /// By `Failure.id`.
    public private(set) var failures: [Int: Failure] = [:]
    /// Failed calls (every one, also those of kinds dropped since).
    public private(set) var failedCalls: UInt64 = 0
    /// Kinds of failure dropped to make room (the least recent first).
    public private(set) var failuresDropped: UInt64 = 0
    private var nextFailureID = 1
    private var failureIDsByHash: [UInt64: [Int]] = [:]
    /// The EBUSY calls a holders event may explain: (entry stamp, tid) to failure.
    private var explainable: [CallKey: Int] = [:]

    struct CallKey: Hashable, Sendable {
        var timestamp: UInt64
        var tid: UInt32
    }

    // MARK: Mount activity

    /// Who made mount-family calls: a pod (by the cgroup of the process), or
    /// else the mount namespace of the caller.
    public enum Caller: Hashable, Sendable {
        case pod(uid: [UInt8], qos: PodCgroup.QoS)
        case namespace(UInt64)
    }

    public struct Activity: Sendable {
        public let caller: Caller
        /// mount(2) and move_mount(2) that succeeded (a new mount API mount
        /// takes effect at move_mount).
        public var mounts = RateCounter()
        /// umount2(2) that succeeded.
        public var umounts = RateCounter()
        /// Mount-family calls that failed, and directory removals that failed with EBUSY.
        public var failures = RateCounter()
        public var last: UInt64 = 0
    }

    public private(set) var activity: [Caller: Activity] = [:]
    public private(set) var activityDropped: UInt64 = 0
    /// Who stands for a mount namespace (its lowest pid), from the device table.
    public private(set) var namespaceOwners: [UInt64: (pid: Int32, comm: String)] = [:]

    // MARK: Copies

    public struct CopyDevice: Sendable {
        public let major: UInt32
        public let minor: UInt32
        /// Kernel name ("loop0", "vda1"); nil for a file on no block device
        /// (tmpfs, a pipe: major 0) or a device never seen.
        public var name: [UInt8]?
        /// The disk whose queue it uses (`BlockDevicesInForce.key`).
        public var diskKey: UInt64
        public var calls = RateCounter()
        /// Bytes the calls moved.
        public var bytes = RateCounter()
        public var failed: UInt64 = 0
        /// Latency of the calls that moved data, over the last seconds.
        public var latency: LatencyWindow
        /// The read-ahead in force at its last copy.
        public var readAheadKB: UInt64?
        public var last: UInt64 = 0
    }

    /// By `BlockDevicesInForce.key(major, minor)` of the input file's device.
    public private(set) var copies: [UInt64: CopyDevice] = [:]
    public private(set) var copiesDropped: UInt64 = 0
    /// read_ahead_kb changes while tracing, by disk key: the first value
    /// before them and the last one.
    public private(set) var readAheadChanges: [UInt64: (before: UInt64?, now: UInt64, at: UInt64)] = [:]
    private var devices: BlockDevicesInForce
    /// Names of devices the block-device list lacks (a partition of a disk
    /// attached while tracing), from the device table.
    private var deviceNames: [UInt64: [UInt8]] = [:]

    // MARK: Devices and the kernel log

    /// A line of the devices or kernel-errors pane, already escaped for the
    /// terminal (rendered by the text renderer).
    public struct Line: Sendable {
        public var timestamp: UInt64
        public var text: String
    }

    /// Uevents (add, remove, bind, unbind, ...) and queue setting changes, oldest first.
    public private(set) var deviceEvents: [Line] = []
    public private(set) var deviceEventCount: UInt64 = 0
    /// `change` uevents: counted, not listed (a loop device's attach and
    /// every media check send them).
    public private(set) var ueventChanges: UInt64 = 0
    /// Kernel log lines at err or worse, oldest first.
    public private(set) var kernelErrors: [Line] = []
    public private(set) var kernelErrorCount: UInt64 = 0
    /// The latest state of each unhealthy mount, in the order they first were.
    public private(set) var unhealthy: [MountHealth] = []
    public private(set) var unhealthyDropped: UInt64 = 0

    public init(limits: DashboardLimits = DashboardLimits(), devices: BlockDevicesInForce = BlockDevicesInForce()) {
        self.limits = limits
        self.devices = devices
    }

    // MARK: Feeding

    /// A syscall event that passed the filters; `pod` is its process's.
    public mutating func add(_ record: SyscallRecord, pod: PodCgroup?) {
        let kind = record.kind
        if kind.movesData {
            addCopy(record)
        } else {
            let errno = record.errno
            let counted = kind.isMountFamily || kind.tracedForEBUSYOnly
            if counted {
                let caller: Caller = pod.map { .pod(uid: $0.podUID, qos: $0.qos) } ?? .namespace(UInt64(record.mountNamespace))
                updateActivity(caller, at: record.timestamp) { row in
                    if errno != nil {
                        row.failures.add(1)
                    } else if kind == .mount || kind == .moveMount {
                        row.mounts.add(1)
                    } else if kind == .umount {
                        row.umounts.add(1)
                    }
                }
            }
        }
        if let errno = record.errno { addFailure(record, errno: errno, pod: pod) }
    }

    private mutating func updateActivity(_ caller: Caller, at timestamp: UInt64, _ update: (inout Activity) -> Void) {
        if activity[caller] == nil {
            if activity.count >= limits.activityRows, let stalest = activity.min(by: { $0.value.last < $1.value.last })?.key {
                activity[stalest] = nil
                activityDropped &+= 1
            }
            activity[caller] = Activity(caller: caller)
        }
        Self.modify(&activity[caller]!) { row in
            update(&row)
            row.last = timestamp
        }
    }

    private mutating func addCopy(_ record: SyscallRecord) {
        let file = record.fileIn
        let key = BlockDevicesInForce.key(file.major, file.minor)
        let known = devices.device(major: file.major, minor: file.minor)
        if copies[key] == nil {
            if copies.count >= limits.copyDevices, let stalest = copies.min(by: { $0.value.last < $1.value.last })?.key {
                copies[stalest] = nil
                copiesDropped &+= 1
            }
            copies[key] = CopyDevice(major: file.major, minor: file.minor, name: known?.name ?? deviceNames[key],
                                     diskKey: known?.diskKey ?? key, latency: LatencyWindow(seconds: limits.latencyWindowSeconds))
        }
        Self.modify(&copies[key]!) { copy in // one lookup per call
            copy.last = record.timestamp
            copy.calls.add(1)
            if let known {
                copy.readAheadKB = known.readAheadKB
                if copy.name == nil { copy.name = known.name }
            }
            if record.errno != nil {
                copy.failed &+= 1
            } else if record.returnValue > 0 {
                copy.bytes.add(UInt64(record.returnValue))
                copy.latency.add(record.latency)
            }
        }
    }

    @inline(__always)
    static func modify<Value>(_ value: inout Value, _ change: (inout Value) -> Void) { change(&value) }

    /// The string slot that says what a failed call was about.
    static func subjectSlot(_ kind: SyscallKind) -> Int? {
        switch kind {
        case .mount, .moveMount: 1 // the target; move_mount's to_path
        case .fsmount: nil
        default: 0
        }
    }

    private mutating func addFailure(_ record: SyscallRecord, errno: Int32, pod: PodCgroup?) {
        failedCalls &+= 1
        let kind = record.kind
        let subject = Self.subjectSlot(kind).flatMap { record.string($0) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let hash = Self.hash(kind: kind, errno: errno, subject: subject)
        var id = failureIDsByHash[hash]?.first { known in
            let failure = failures[known]!
            return failure.kind == kind && failure.errno == errno && failure.subject.elementsEqual(subject)
        }
        if id == nil {
            if failures.count >= limits.failures { dropStalestFailure() }
            let new = nextFailureID
            nextFailureID += 1
            failures[new] = Failure(id: new, kind: kind, errno: errno, subject: Array(subject),
                                    first: record.timestamp, last: record.timestamp)
            failureIDsByHash[hash, default: []].append(new)
            id = new
        }
        let key = id!
        let limit = limits.occurrencesPerFailure
        Self.modify(&failures[key]!) { failure in
            failure.count &+= 1
            failure.last = max(failure.last, record.timestamp)
            if kind == .mount, let source = record.string(0), failure.source?.elementsEqual(source) != true {
                failure.source = Array(source)
            }
            // A failure that repeats reuses the buffers of its oldest call:
            // a storm of one failure allocates nothing once they are full.
            var occurrence = failure.recent.count >= limit ? failure.recent.removeFirst()
                : Occurrence(record: [], pod: nil, timestamp: 0, pid: 0, comm: [])
            occurrence.record.removeAll(keepingCapacity: true)
            occurrence.record.append(contentsOf: record.bytes)
            occurrence.comm.removeAll(keepingCapacity: true)
            occurrence.comm.append(contentsOf: record.comm)
            occurrence.pod = pod
            occurrence.timestamp = record.timestamp
            occurrence.pid = record.pid
            failure.recent.append(occurrence)
        }
        // The scan after an EBUSY names its call by entry stamp and thread.
        if errno == 16 /* EBUSY */ && (kind == .umount || kind == .mount || kind.tracedForEBUSYOnly) {
            if explainable.count >= 4096 { explainable.removeAll(keepingCapacity: true) }
            explainable[CallKey(timestamp: record.timestamp, tid: record.tid)] = key
        }
    }

    private mutating func dropStalestFailure() {
        guard let stalest = failures.values.min(by: { $0.last < $1.last }) else { return }
        failures[stalest.id] = nil
        failuresDropped &+= 1
        for (hash, ids) in failureIDsByHash where ids.contains(stalest.id) {
            let rest = ids.filter { $0 != stalest.id }
            failureIDsByHash[hash] = rest.isEmpty ? nil : rest
        }
        explainable = explainable.filter { $0.value != stalest.id }
    }

    /// FNV-1a over what makes two failures the same: no allocation per call.
    static func hash(kind: SyscallKind, errno: Int32, subject: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        mix(UInt8(truncatingIfNeeded: kind.rawValue))
        withUnsafeBytes(of: errno) { for byte in $0 { mix(byte) } }
        for byte in subject { mix(byte) }
        return hash
    }

    /// A holders event: the scan after the EBUSY of the call made by `tid`
    /// at `timestamp` (its entry stamp). `holderPods`: pods of the holders'
    /// processes, where the session could find them.
    public mutating func addHolders(_ report: HolderReport, explainingCallOf tid: Int32, at timestamp: UInt64,
                                    holderPods: [Int32: PodCgroup] = [:]) {
        guard let id = explainable[CallKey(timestamp: timestamp, tid: UInt32(bitPattern: tid))], failures[id] != nil else { return }
        // A later call's scan is the better answer; an older one arriving late is not.
        guard failures[id]!.holders == nil || failures[id]!.holdersExplain <= timestamp else { return }
        failures[id]!.holders = report
        failures[id]!.holdersExplain = timestamp
        failures[id]!.holderPods = holderPods
    }

    /// A `mount_health` event: the mount's latest state replaces the last one.
    public mutating func add(_ health: MountHealth) {
        if let index = unhealthy.firstIndex(where: { $0.mount.namespace == health.mount.namespace && $0.mount.mountID == health.mount.mountID }) {
            unhealthy[index] = health
        } else if unhealthy.count < limits.unhealthyMounts {
            unhealthy.append(health)
        } else {
            unhealthyDropped &+= 1
        }
    }

    /// The unhealthy mount a failure is about: its path is the mount point
    /// (in any namespace), or its source is the mount's device.
    public func unhealthyMount(explaining failure: Failure) -> MountHealth? {
        unhealthy.last { health in
            (!failure.subject.isEmpty && health.mount.mountPoint.utf8.elementsEqual(failure.subject))
                || failure.source.map { "/dev/\(health.deviceName)".utf8.elementsEqual($0) } == true
        }
    }

    /// A uevent (`text`: its line without the time); `change` ones are counted only.
    public mutating func addUevent(action: UeventAction, text: String, at timestamp: UInt64) {
        if action == .change {
            ueventChanges &+= 1
            return
        }
        appendDeviceEvent(Line(timestamp: timestamp, text: text))
    }

    /// A queue setting change that passed the filters: a line in the devices pane.
    public mutating func addQueueSettingLine(_ text: String, at timestamp: UInt64) {
        appendDeviceEvent(Line(timestamp: timestamp, text: text))
    }

    private mutating func appendDeviceEvent(_ line: Line) {
        deviceEventCount &+= 1
        if deviceEvents.count >= limits.recentLines { deviceEvents.removeFirst() }
        deviceEvents.append(line)
    }

    /// A kernel log line at err or worse.
    public mutating func addKernelError(_ text: String, at timestamp: UInt64) {
        kernelErrorCount &+= 1
        if kernelErrors.count >= limits.recentLines { kernelErrors.removeFirst() }
        kernelErrors.append(Line(timestamp: timestamp, text: text))
    }

    /// Every queue setting change, shown or not: the read-ahead in force
    /// for the copies after it, and whether it changed while tracing.
    public mutating func apply(_ change: QueueSettingChange, at timestamp: UInt64) {
        devices.apply(change)
        guard change.setting == .readAheadKB, let now = change.newNumber else { return }
        let key = BlockDevicesInForce.key(change.major, change.minor)
        guard change.old != nil else { return } // a disk that appeared: its first value, not a change
        let before = readAheadChanges[key]?.before ?? change.oldNumber
        readAheadChanges[key] = before == now ? nil : (before, now, timestamp)
        for (copyKey, copy) in copies where copy.diskKey == key { copies[copyKey]!.readAheadKB = now }
    }

    /// The read_ahead_kb change of the disk under `copy`, if it changed while tracing.
    public func readAheadChange(of copy: CopyDevice) -> (before: UInt64?, now: UInt64, at: UInt64)? {
        readAheadChanges[copy.diskKey]
    }

    /// The device table changed: who stands for each mount namespace, and
    /// the names of devices the block-device list does not know.
    public mutating func devicesChanged(_ table: DeviceTable) {
        var owners: [UInt64: (pid: Int32, comm: String)] = [:]
        for device in table.devices {
            let key = BlockDevicesInForce.key(device.major, device.minor)
            if deviceNames.count < 4096 { deviceNames[key] = device.nameBytes }
            if copies[key]?.name == nil, copies[key] != nil { copies[key]!.name = device.nameBytes }
            for mount in device.mounts where !mount.isHost {
                if let pid = mount.ownerPID, let comm = mount.ownerComm, owners[mount.namespace] == nil {
                    owners[mount.namespace] = (pid, comm)
                }
            }
        }
        namespaceOwners = owners
    }

    // MARK: The clock

    /// About once a second: the rates over the interval since the last tick
    /// at `now` (CLOCK_MONOTONIC). `sourceTotals`: events that passed the
    /// filters so far, by `header.sources`.
    public mutating func tick(at now: UInt64, sourceTotals: [UInt64] = [], shownTotal: UInt64 = 0,
                              filteredTotal: UInt64 = 0, lost: UInt64 = 0, lossDetail: String = "") {
        let interval = header.now == 0 ? now &- header.startedAt : now &- header.now
        header.now = now
        for index in header.sources.indices where index < sourceTotals.count {
            header.sources[index].events.set(sourceTotals[index])
            header.sources[index].events.tick(intervalNanoseconds: interval)
        }
        header.shown.set(shownTotal)
        header.shown.tick(intervalNanoseconds: interval)
        header.filtered = filteredTotal
        header.lost = lost
        header.lossDetail = lossDetail
        for key in activity.keys {
            activity[key]!.mounts.tick(intervalNanoseconds: interval)
            activity[key]!.umounts.tick(intervalNanoseconds: interval)
            activity[key]!.failures.tick(intervalNanoseconds: interval)
        }
        for key in copies.keys {
            copies[key]!.calls.tick(intervalNanoseconds: interval)
            copies[key]!.bytes.tick(intervalNanoseconds: interval)
            copies[key]!.latency.tick()
        }
    }

    // MARK: Header

    public struct Header: Sendable {
        /// The node's host name and kernel release.
        public var node = ""
        public var kernel = ""
        /// When tracing started and the last tick (CLOCK_MONOTONIC).
        public var startedAt: UInt64 = 0
        public var now: UInt64 = 0
        /// Events per second by source (the sources the session opened).
        public var sources: [SourceRate] = []
        /// Events that passed the filters, and those the filters left out.
        public var shown = RateCounter()
        public var filtered: UInt64 = 0
        /// Events lost in the kernel, and the counters that say where.
        public var lost: UInt64 = 0
        public var lossDetail = ""
        /// What the kernel refused (the notices the session printed at start).
        public var refusals: [String] = []
        /// `--record FILE`: where the events go too.
        public var recording: String?
        public init() {}
    }

    public struct SourceRate: Sendable {
        public var name: String
        public var events = RateCounter()
        public init(name: String) { self.name = name }
    }
}

/// The bounds of `DashboardModel`; what goes beyond is counted.
public struct DashboardLimits: Sendable {
    /// Kinds of failure kept; the least recent goes first.
    public var failures = 256
    /// Calls kept per kind of failure, for its detail view.
    public var occurrencesPerFailure = 16
    public var activityRows = 256
    public var copyDevices = 128
    /// Device events and kernel errors kept (the newest).
    public var recentLines = 64
    public var unhealthyMounts = 128
    /// The copies' p99 is of this many last ticks (seconds).
    public var latencyWindowSeconds = 10
    public init() {}
}

/// A count and its rate over the last interval, in tenths per second
/// (integers: the same stream gives the same screen).
public struct RateCounter: Sendable, Equatable {
    public private(set) var total: UInt64 = 0
    private var atTick: UInt64 = 0
    public private(set) var tenthsPerSecond: UInt64 = 0

    public init() {}

    public mutating func add(_ count: UInt64) { total &+= count }

    /// A total counted elsewhere (the pipeline's).
    public mutating func set(_ newTotal: UInt64) { total = newTotal }

    public mutating func tick(intervalNanoseconds: UInt64) {
        let delta = total &- atTick
        atTick = total
        // delta × 10¹⁰ / interval: tenths per second, without overflow.
        guard intervalNanoseconds >= 1_000_000 else {
            tenthsPerSecond = 0
            return
        }
        let product = delta.multipliedFullWidth(by: 10_000_000_000)
        guard product.high < intervalNanoseconds else {
            tenthsPerSecond = .max
            return
        }
        tenthsPerSecond = intervalNanoseconds.dividingFullWidth(product).quotient
    }
}

/// Latencies of the last few ticks: one histogram per tick, merged when read.
public struct LatencyWindow: Sendable {
    private var slots: [Log2Histogram]
    private var current = 0

    public init(seconds: Int) {
        slots = Array(repeating: Log2Histogram(), count: max(seconds, 1))
    }

    public mutating func add(_ nanoseconds: UInt64) { slots[current].add(nanoseconds) }

    /// The oldest tick's values leave the window.
    public mutating func tick() {
        current = (current + 1) % slots.count
        slots[current] = Log2Histogram()
    }

    public var histogram: Log2Histogram {
        var all = Log2Histogram()
        for slot in slots { all.merge(slot) }
        return all
    }
}
