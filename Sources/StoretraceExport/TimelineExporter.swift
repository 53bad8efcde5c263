import StoretraceAnalyze
import StoretraceDecode
import StoretraceRecords
import StoretraceRender
import StoretraceSession

/// What an export wrote, for its closing line.
public struct ExportCounts: Equatable, Sendable {
    public var events: UInt64 = 0
    public var slices: UInt64 = 0
    public var instants: UInt64 = 0
    public var counterValues: UInt64 = 0
    public var flows: UInt64 = 0
    public var tracks: UInt64 = 0
    public init() {}
}

/// Turns the events of a replay into a timeline (`storetrace export`): a
/// consumer of the same pipeline `replay` runs, so its filters, analyzers
/// and enrichment apply. Each call is a slice of its latency on its
/// thread's track, under its process; device events (uevents, function
/// calls, tracepoints, queue settings) are instants on a "device events"
/// track, kernel log lines on a "kernel log" track, `holders` and
/// `mount_health` on a "findings" track with a flow from what they
/// explain; counters follow read_ahead_kb and the other numeric queue
/// settings per disk, and copy throughput per device. Every event's JSON
/// fields are its annotations (`EventPrinter.render`).
///
/// Written as the events come; the state kept is bounded: tracks already
/// described (forgotten past `trackLimit`, then described again), the copies
/// in progress per device, one instant held back for the mount_health
/// events it may cause.
public final class TimelineExporter: ReplayConsumer {
    public let writer: TimelineWriter
    public private(set) var counts = ExportCounts()
    let trackLimit: Int

    private var printer: EventPrinter?
    private var decoder: EventDecoder?
    private var started = false
    private var startMonotonic: UInt64 = 0
    private var scratch = OutputBuffer(capacity: 64 * 1024)

    private var processNames: [UInt32: String] = [:]
    private var threadNames: [UInt64: String] = [:]
    /// Named and counter tracks by name.
    private var namedTracks: [String: UInt64] = [:]

    /// The devices and the read-ahead in force: the start snapshot, then every change.
    private var devices = BlockDevicesInForce()
    /// Copies in progress per device (by `BlockDevicesInForce.key`): their
    /// end and rate, to sum the throughput at each moment.
    private var copies: [UInt64: (track: UInt64, running: [(end: UInt64, rate: Double)])] = [:]
    static let copiesPerDevice = 1024

    /// A kernel log line or uevent that may be the cause of mount_health
    /// events (delivered right after it): written once they had their say.
    private var heldCause: TimelineEvent?
    private var nextFlow: UInt64 = 1
    /// Flows begun by failures that a holders event may explain, oldest first (bounded).
    private var openFlows: Set<UInt64> = []
    private var openFlowOrder: [UInt64] = []
    static let openFlowLimit = 4096

    public init(writer: TimelineWriter, trackLimit: Int = 65536) {
        self.writer = writer
        self.trackLimit = trackLimit
    }

    // MARK: ReplayConsumer

    public func captureStarted(_ start: CaptureStart) {
        printer = start.printer
        decoder = start.decoder
        guard !started else { return } // a ring's later files: same node, same timeline
        started = true
        startMonotonic = start.startMonotonic
        writer.begin(clock: start.clock, startMonotonic: start.startMonotonic)
        if let snapshot = start.snapshot { devices = BlockDevicesInForce(snapshot.blockDevices) }
    }

    public func devicesChanged(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {
        printer?.devicesChanged(table, json: json, timestamp: timestamp)
    }

    public var stopReason: StopReason? { writer.sink.failure == nil ? nil : .outputError }

    public func batchEnded() { releaseHeldCause() }

    /// After the replay: what is still open (copies in progress, a held
    /// instant), then the end of the file.
    public func finish() {
        releaseHeldCause()
        if !started {
            started = true
            writer.begin(clock: ClockOffset(realtimeMinusMonotonic: 0), startMonotonic: 0)
        }
        for key in copies.keys.sorted() { settleCopies(key, upTo: .max) }
        writer.end()
    }

    // MARK: Events

    public func consume(_ event: Event, raw: RawRecord) {
        releaseHeldCause()
        switch event {
        case .syscall(let record):
            let track = threadTrack(pid: record.pid, tid: record.tid, comm: record.comm)
            var slice = TimelineEvent(track: track, timestamp: record.timestamp, duration: record.latency,
                                      name: EventTitle.syscall(record), categories: Self.categories("syscall", failed: record.errno != nil),
                                      annotations: annotations(event, raw.timestamp, raw.cpu))
            if Self.holdersMayExplain(record) {
                let id = Self.flowID(tid: record.tid, entry: record.timestamp)
                slice.flowsOut = [id]
                rememberOpenFlow(id)
            }
            emit(slice)
            if record.kind.movesData, record.errno == nil, record.returnValue > 0 { copied(record) }
        case .claim(let claim):
            let track = threadTrack(pid: claim.pid, tid: claim.tid, comm: claim.comm)
            emit(TimelineEvent(track: track, timestamp: claim.timestamp, name: EventTitle.claim(claim),
                               categories: Self.categories("claim", failed: claim.errno != nil),
                               annotations: annotations(event, raw.timestamp, raw.cpu)))
        case .uevent(let message):
            let instant = TimelineEvent(track: namedTrack(Self.deviceEventsTrack), timestamp: raw.timestamp,
                                        name: EventTitle.uevent(message), categories: ["uevent"],
                                        annotations: annotations(event, raw.timestamp, raw.cpu))
            let removal = message.actionName.elementsEqual("remove".utf8) && message.subsystem.elementsEqual("block".utf8)
            if removal { heldCause = instant } else { emit(instant) }
        case .kmsg(let record):
            let severe = record.level.rawValue <= 3
            let instant = TimelineEvent(track: namedTrack(Self.kernelLogTrack), timestamp: raw.timestamp,
                                        name: EventTitle.kmsg(record), categories: Self.categories("kmsg", failed: severe),
                                        annotations: annotations(event, raw.timestamp, raw.cpu))
            if KmsgDevicePatterns.find(in: record.message, severe: severe)?.problem != nil { heldCause = instant } else { emit(instant) }
        case .ftrace(let view, _):
            emit(TimelineEvent(track: namedTrack(Self.deviceEventsTrack), timestamp: raw.timestamp,
                               name: EventTitle.ftrace(view, describe: decoder?.describeAddress ?? { "0x" + String($0, radix: 16) }),
                               categories: [view.isFunctionEvent ? "function" : "tracepoint"],
                               annotations: annotations(event, raw.timestamp, raw.cpu)))
        case .holders(let report, let explains):
            var instant = TimelineEvent(track: namedTrack(Self.findingsTrack), timestamp: raw.timestamp,
                                        name: EventTitle.holders(report), categories: ["holders"],
                                        annotations: annotations(event, raw.timestamp, raw.cpu))
            instant.annotations.insert(Annotation("explanation", .array(explanation(report, explains).map { .string($0) })), at: 0)
            let id = Self.flowID(tid: UInt32(bitPattern: explains.tid), entry: explains.monotonicNanoseconds)
            if openFlows.remove(id) != nil { instant.flowsIn = [id] }
            emit(instant)
        case .queueSetting(let change):
            emit(TimelineEvent(track: namedTrack(Self.deviceEventsTrack), timestamp: raw.timestamp,
                               name: EventTitle.queueSetting(change), categories: ["queue_setting"],
                               annotations: annotations(event, raw.timestamp, raw.cpu)))
            settingChanged(change, at: raw.timestamp)
        case .mountOperation, .mountHealth:
            consumeDerived(event, timestamp: raw.timestamp)
        }
    }

    public func consumeDerived(_ event: Event, timestamp: UInt64) {
        switch event {
        case .mountHealth(let health):
            var instant = TimelineEvent(track: namedTrack(Self.findingsTrack), timestamp: timestamp,
                                        name: EventTitle.mountHealth(health), categories: ["mount_health", "failed"],
                                        annotations: annotations(event, timestamp, 0))
            // The kernel log line or uevent it was derived from, just before.
            if heldCause?.timestamp == health.timestamp {
                let id = nextFlow
                nextFlow += 1
                heldCause?.flowsOut.append(id)
                instant.flowsIn = [id]
            }
            emit(instant)
        case .mountOperation(let operation):
            releaseHeldCause()
            let track = processTrack(pid: operation.pid, comm: operation.comm, mainThread: false)
            var failed = false
            if case .failed = operation.outcome { failed = true }
            emit(TimelineEvent(track: track, timestamp: timestamp, name: EventTitle.mountOperation(operation),
                               categories: Self.categories("mount_op", failed: failed),
                               annotations: annotations(event, timestamp, 0)))
        default:
            return
        }
    }

    // MARK: Pieces

    static let deviceEventsTrack = "device events"
    static let kernelLogTrack = "kernel log"
    static let findingsTrack = "findings (holders, mount health)"

    static func categories(_ category: String, failed: Bool) -> [String] {
        failed ? [category, "failed"] : [category]
    }

    /// A failure a `holders` event can explain (`HolderExplainer`).
    static func holdersMayExplain(_ record: SyscallRecord) -> Bool {
        guard record.errno == 16 /* EBUSY */ else { return false }
        switch record.kind {
        case .umount, .rmdir, .unlinkat, .mount: return true
        default: return false
        }
    }

    /// The flow from a failed call to its holders: the call's thread and
    /// entry time, which the holders event carries (`explains`), mixed
    /// (splitmix64) so ids spread; never 0.
    static func flowID(tid: UInt32, entry: UInt64) -> UInt64 {
        var z = entry ^ UInt64(tid) << 44 ^ 0x9E37_79B9_7F4A_7C15
        z = (z ^ z >> 30) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ z >> 27) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return z | 1 << 63
    }

    private func rememberOpenFlow(_ id: UInt64) {
        guard openFlows.insert(id).inserted else { return }
        openFlowOrder.append(id)
        if openFlowOrder.count > Self.openFlowLimit {
            let dropped = openFlowOrder.count - Self.openFlowLimit / 2
            for old in openFlowOrder.prefix(dropped) { openFlows.remove(old) }
            openFlowOrder.removeFirst(dropped)
        }
    }

    private func emit(_ event: TimelineEvent) {
        counts.events &+= 1
        if event.duration == nil { counts.instants &+= 1 } else { counts.slices &+= 1 }
        counts.flows &+= UInt64(event.flowsIn.count)
        writer.event(event)
    }

    private func releaseHeldCause() {
        guard let held = heldCause else { return }
        heldCause = nil
        emit(held)
    }

    /// The event's JSON line as annotations.
    private func annotations(_ event: Event, _ timestamp: UInt64, _ cpu: UInt32) -> [Annotation] {
        guard let printer else { return [] }
        scratch.removeAll()
        printer.render(event, timestamp: timestamp, cpu: cpu, into: &scratch)
        return Annotation.fields(ofJSONLine: scratch.bytes)
    }

    /// The holders' lines as `replay` shows them under the failed call, without their indent.
    private func explanation(_ report: HolderReport, _ explains: HolderRenderer.Explains) -> [String] {
        var out = OutputBuffer(capacity: 1024)
        HolderRenderer.renderText(report, clock: printer?.json.clock ?? ClockOffset(realtimeMinusMonotonic: 0),
                                  explains: explains, into: &out)
        return String(decoding: out.bytes, as: UTF8.self).split(separator: "\n").map {
            String($0.hasPrefix("  ↳ ") ? $0.dropFirst(4) : $0[...])
        }
    }

    // MARK: Tracks

    private func describe(_ track: Track, new: Bool) {
        if new { counts.tracks &+= 1 }
        writer.describe(track)
    }

    /// A process's track, named by its main thread's comm once seen (until
    /// then by the first thread's).
    private func processTrack(pid: UInt32, comm: some Collection<UInt8>, mainThread: Bool) -> UInt64 {
        let uuid = TrackIDs.process(pid)
        let known = processNames[pid]
        guard known == nil || mainThread else { return uuid }
        let name = escapedForTerminal(String(decoding: comm, as: UTF8.self))
        guard name != known else { return uuid }
        if known == nil, processNames.count >= trackLimit { processNames.removeAll(keepingCapacity: true) }
        processNames[pid] = name
        describe(Track(uuid: uuid, kind: .process(pid: pid, name: name)), new: known == nil)
        return uuid
    }

    private func threadTrack(pid: UInt32, tid: UInt32, comm: UnsafeRawBufferPointer) -> UInt64 {
        let parent = processTrack(pid: pid, comm: comm, mainThread: pid == tid)
        let uuid = TrackIDs.thread(pid: pid, tid: tid)
        let name = escapedForTerminal(String(decoding: comm, as: UTF8.self))
        let known = threadNames[uuid]
        if known != name {
            if known == nil, threadNames.count >= trackLimit { threadNames.removeAll(keepingCapacity: true) }
            threadNames[uuid] = name
            describe(Track(uuid: uuid, parent: parent, kind: .thread(pid: pid, tid: tid, name: name)), new: known == nil)
        }
        return uuid
    }

    private func namedTrack(_ name: String) -> UInt64 {
        if let uuid = namedTracks[name] { return uuid }
        let uuid = TrackIDs.other(UInt64(namedTracks.count + 1))
        namedTracks[name] = uuid
        describe(Track(uuid: uuid, kind: .named(name)), new: true)
        return uuid
    }

    /// A counter track, and whether it is new.
    private func counterTrack(_ name: String, unit: String) -> (uuid: UInt64, new: Bool) {
        let key = "counter " + name
        if let uuid = namedTracks[key] { return (uuid, false) }
        let uuid = TrackIDs.other(UInt64(namedTracks.count + 1))
        namedTracks[key] = uuid
        describe(Track(uuid: uuid, kind: .counter(name: name, unit: unit)), new: true)
        return (uuid, true)
    }

    private func counter(_ track: UInt64, _ timestamp: UInt64, _ value: Double) {
        counts.counterValues &+= 1
        writer.counter(track: track, timestamp: timestamp, value: value)
    }

    // MARK: Counters

    static func unit(of setting: QueueSetting) -> String {
        switch setting {
        case .readAheadKB, .maxSectorsKB: "KiB"
        case .nrRequests: "requests"
        case .rotational, .scheduler: ""
        }
    }

    /// A numeric setting's counter: the value before (from the start, when
    /// the track is new), then the new one.
    private func settingChanged(_ change: QueueSettingChange, at timestamp: UInt64) {
        devices.apply(change)
        guard change.setting.isNumeric, let value = change.newNumber else { return }
        let name = change.setting.nameText + " " + escapedForTerminal(String(decoding: change.device, as: UTF8.self))
        let (track, new) = counterTrack(name, unit: Self.unit(of: change.setting))
        if new, let old = change.oldNumber { counter(track, startMonotonic, Double(old)) }
        counter(track, timestamp, Double(value))
    }

    /// The read-ahead of the disk a copy ran on, from the start, once.
    private func followReadAhead(of device: BlockDevicesInForce.Device) {
        let disk = devices.device(major: UInt32(device.diskKey >> 32), minor: UInt32(truncatingIfNeeded: device.diskKey)) ?? device
        let name = QueueSetting.readAheadKB.nameText + " " + escapedForTerminal(String(decoding: disk.name, as: UTF8.self))
        let (track, new) = counterTrack(name, unit: Self.unit(of: .readAheadKB))
        if new, let value = disk.readAheadKB { counter(track, startMonotonic, Double(value)) }
    }

    /// A copy that moved bytes: the throughput of its input file's device
    /// is the sum of the rates (bytes over call time, `Throughput`) of the
    /// copies running at each moment, stepped at each start and end.
    private func copied(_ record: SyscallRecord) {
        let file = record.fileIn
        let key = BlockDevicesInForce.key(file.major, file.minor)
        guard let rate = Throughput.mebibytesPerSecond(bytes: UInt64(record.returnValue), nanoseconds: record.latency) else { return }
        if copies[key] == nil {
            let device = devices.device(major: file.major, minor: file.minor)
            let name = device.map { escapedForTerminal(String(decoding: $0.name, as: UTF8.self)) } ?? "\(file.major):\(file.minor)"
            copies[key] = (counterTrack("copy throughput " + name, unit: "MiB/s").uuid, [])
            if let device { followReadAhead(of: device) }
        }
        settleCopies(key, upTo: record.timestamp)
        guard var state = copies[key] else { return }
        if state.running.count >= Self.copiesPerDevice { state.running.removeFirst() }
        state.running.append((record.timestamp &+ record.latency, rate))
        copies[key] = state
        counter(state.track, record.timestamp, state.running.reduce(0) { $0 + $1.rate })
    }

    /// The copies of a device that ended by `time`: the throughput after each end.
    private func settleCopies(_ key: UInt64, upTo time: UInt64) {
        guard var state = copies[key] else { return }
        state.running.sort { $0.end < $1.end }
        while let first = state.running.first, first.end <= time {
            let end = first.end
            state.running.removeAll { $0.end == end }
            counter(state.track, end, state.running.reduce(0) { $0 + $1.rate })
        }
        copies[key] = state
    }
}
