import Glibc
import StoretraceDecode
import StoretraceRecords

/// Follows every disk's block queue settings (`QueueSetting`: read_ahead_kb,
/// scheduler, max_sectors_kb, nr_requests, rotational) over time: a sample
/// of all of them about once a second on the loop's timer, and of one disk
/// as soon as it appears (`deviceAppeared`, from its uevent); each value
/// that differs from the last one is a `queue_setting` record. Nothing runs
/// per event. A sample reads each file through the snapshot's bounded reader
/// (one reused buffer, paths built once per disk) and compares it with the
/// last value in place; only a change allocates. Reads that fail are
/// counted (`readsFailed`).
public final class QueueSettingSampler: RecordSource {
    public let kind = SourceKind.queueSetting
    public var pollFDs: [Int32] { [] }
    /// Often enough that a disk that appeared is read within 0.1 s; a full
    /// sample only every `intervalNanoseconds`.
    public var drainEveryMilliseconds: Int? { 100 }

    struct Disk {
        var name: String
        var major: UInt32
        var minor: UInt32
        /// /sys/block/NAME/queue/SETTING, by `QueueSetting.rawValue`; nil
        /// for a setting the disk does not have (zram: no scheduler).
        var paths: [String?]
        /// The last value read, by setting; nil until a read succeeds.
        var values: [[UInt8]?]
    }

    public let intervalNanoseconds: UInt64
    /// Disks beyond this many are not followed (counted in `disksOverLimit`).
    public let maxDisks: Int
    private let root: String
    private var disks: [Disk] = []
    private var indexByName: [String: Int] = [:]
    private var reader = SnapshotFileReader(maxSmallFileBytes: 4096)
    private var lastFullSample: UInt64 = 0
    /// Disks a uevent announced: read at the next tick.
    private var announced: [String] = []
    private var changes: [QueueSettingChange] = []
    private var scratch: [UInt8] = []
    public private(set) var readsFailed: UInt64 = 0
    public private(set) var samples: UInt64 = 0
    public private(set) var disksOverLimit: UInt64 = 0

    /// `baseline`: the block devices of the snapshot the session's
    /// enrichment starts from; a setting that already differs from it at the
    /// first sample is reported, so nothing changes between the two unseen.
    /// `root` is /sys/block (tests point it elsewhere).
    public init(baseline: [NodeSnapshot.BlockDevice], intervalNanoseconds: UInt64 = 1_000_000_000,
                maxDisks: Int = 4096, root: String = "/sys/block") {
        self.intervalNanoseconds = intervalNanoseconds
        self.maxDisks = maxDisks
        self.root = root
        for name in directoryEntries(of: root).sorted() {
            guard var disk = makeDisk(name) else { continue }
            let known = baseline.first { $0.name == name && $0.parent == nil }
            for setting in QueueSetting.allCases {
                let before: String? = switch setting {
                case .readAheadKB: known?.readAheadKB.map { String($0) }
                case .scheduler: known?.scheduler
                case .rotational: known?.rotational.map { $0 ? "1" : "0" }
                case .maxSectorsKB, .nrRequests: nil
                }
                if let before { disk.values[Int(setting.rawValue)] = Array(before.utf8) }
            }
            add(disk)
        }
        // The first sample: against the baseline where it has the setting,
        // else it is the baseline.
        for index in disks.indices { sample(index, appeared: false, reportFirst: false) }
        lastFullSample = KernelClock.monotonicNow()
    }

    /// A disk appeared (uevent `add`) or changed (`change`: a loop device
    /// attached): read it at the next tick instead of within a second.
    public func deviceAppeared(name: String) {
        guard announced.count < 64, !announced.contains(name) else { return }
        announced.append(name)
    }

    /// A disk went away (uevent `remove`): forget it, so that a disk of the
    /// same name later is new.
    public func deviceRemoved(name: String) {
        guard let index = indexByName[name] else { return }
        disks.remove(at: index)
        reindex()
    }

    @discardableResult
    public func drain(_ emit: @escaping (RawRecord) -> Void) -> Int {
        let now = KernelClock.monotonicNow()
        if !announced.isEmpty {
            for name in announced {
                if let index = indexByName[name] {
                    sample(index, appeared: false, reportFirst: true)
                } else if !name.contains("/"), let disk = makeDisk(name) {
                    add(disk)
                    sample(disks.count - 1, appeared: true, reportFirst: true)
                }
            }
            announced.removeAll(keepingCapacity: true)
        }
        if now &- lastFullSample >= intervalNanoseconds {
            lastFullSample = now
            fullSample()
        }
        guard !changes.isEmpty else { return 0 }
        let count = changes.count
        for change in changes {
            scratch = QueueSettingCodec.encode(change)
            scratch.withUnsafeBytes { emit(RawRecord(source: .queueSetting, timestamp: now, bytes: $0)) }
        }
        changes.removeAll(keepingCapacity: true)
        return count
    }

    public var losses: [LossCount] {
        [LossCount(name: "queue setting reads failed", count: readsFailed, kind: .information),
         LossCount(name: "disks not followed (over the limit)", count: disksOverLimit, kind: .information)]
    }

    public func close() { announced.removeAll() }

    // MARK: Sampling

    /// Every disk in /sys/block: the ones gone are forgotten, new ones
    /// reported with all their settings.
    private func fullSample() {
        samples &+= 1
        let names = directoryEntries(of: root)
        if names.count != disks.count || names.contains(where: { indexByName[$0] == nil }) {
            let present = Set(names)
            if disks.contains(where: { !present.contains($0.name) }) {
                disks.removeAll { !present.contains($0.name) }
                reindex()
            }
            for name in names.sorted() where indexByName[name] == nil {
                guard let disk = makeDisk(name) else { continue }
                add(disk)
                sample(disks.count - 1, appeared: true, reportFirst: true)
            }
        }
        for index in disks.indices { sample(index, appeared: false, reportFirst: true) }
    }

    /// Reads the disk's settings; each that differs from the last value read
    /// becomes a change (one with no old value for a disk that appeared).
    private func sample(_ index: Int, appeared: Bool, reportFirst: Bool) {
        for setting in QueueSetting.allCases {
            let slot = Int(setting.rawValue)
            guard let path = disks[index].paths[slot] else { continue }
            let read = reader.withContents(path) { bytes, _ -> Bool in
                let range = setting.value(in: bytes)
                let value = UnsafeRawBufferPointer(rebasing: bytes[range])
                if let last = disks[index].values[slot] {
                    guard !last.elementsEqual(value) else { return true }
                    let new = Array(value)
                    changes.append(QueueSettingChange(major: disks[index].major, minor: disks[index].minor,
                                                      device: Array(disks[index].name.utf8), setting: setting,
                                                      old: last, new: new))
                    disks[index].values[slot] = new
                } else {
                    let new = Array(value)
                    if appeared && reportFirst {
                        changes.append(QueueSettingChange(major: disks[index].major, minor: disks[index].minor,
                                                          device: Array(disks[index].name.utf8), setting: setting,
                                                          old: nil, new: new))
                    }
                    disks[index].values[slot] = new
                }
                return true
            }
            if read == nil {
                // A file the disk does not have is a setting it does not
                // have (bio-based disks have no scheduler): not read again.
                if reader.lastErrno == ENOENT { disks[index].paths[slot] = nil } else { readsFailed &+= 1 }
            }
        }
    }

    private func makeDisk(_ name: String) -> Disk? {
        guard disks.count < maxDisks else {
            disksOverLimit &+= 1
            return nil
        }
        let path = root + "/" + name
        guard let number = reader.attribute(path + "/dev").flatMap({ SnapshotText.deviceNumber($0[...]) }) else {
            readsFailed &+= 1
            return nil
        }
        return Disk(name: name, major: number.major, minor: number.minor,
                    paths: QueueSetting.allCases.map { path + "/queue/" + $0.nameText },
                    values: Array(repeating: nil, count: QueueSetting.allCases.count))
    }

    private func add(_ disk: Disk) {
        indexByName[disk.name] = disks.count
        disks.append(disk)
    }

    private func reindex() {
        indexByName.removeAll(keepingCapacity: true)
        for (index, disk) in disks.enumerated() { indexByName[disk.name] = index }
    }
}
