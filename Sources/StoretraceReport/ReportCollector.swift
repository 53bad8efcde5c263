import StoretraceAnalyze
import StoretraceDecode
import StoretraceRecords
import StoretraceRender
import StoretraceSession

/// The consumer behind `storetrace report`: takes the events `replay`
/// would show (same pipeline, same filters, derived events included) and
/// keeps what the page draws, within `ReportLimits`: a lane per process
/// that made storage calls, lanes for device events and the kernel log,
/// the findings with their explanations, and copy throughput per device.
/// Every text comes from the replay printer's renderers, so a mark's hover
/// and a finding read as the `replay` line they are.
public final class ReportCollector: ReplayConsumer, EventAnalyzer {
    /// The session's printer (text, UTC): its renderers word each event.
    /// The session hands it over when the capture starts (`captureStarted`),
    /// before any event.
    private(set) var printer: EventPrinter!
    /// The block devices of the capture's start snapshot and when it was
    /// taken: the copy charts' first read-ahead.
    private let startDevices: (devices: [NodeSnapshot.BlockDevice], time: UInt64)?
    /// Whether a capture started (a file with records was read).
    private(set) var started = false
    let limits: ReportLimits
    private(set) var lanes: [Lane] = []
    private var processLanes: [UInt32: Int] = [:]
    private var sharedLane: Int?
    /// Processes in the shared lane, counted up to a bound.
    private var sharedPIDs = Set<UInt32>()
    static let sharedPIDLimit = 65536
    private(set) var findings: Findings
    private(set) var copies: CopyCharts
    /// Setting-change findings, with what changed (explained with the
    /// copies before and after when the page is written).
    private(set) var settingFindings: [(finding: Int, change: QueueSettingChange)] = []
    /// Earliest start and latest end of the events shown.
    private(set) var first: UInt64 = .max
    private(set) var last: UInt64 = 0
    private var scratch = OutputBuffer(capacity: 16 * 1024)

    static let devicesLane = 0
    static let kernelLogLane = 1

    public init(startDevices: (devices: [NodeSnapshot.BlockDevice], time: UInt64)? = nil,
                limits: ReportLimits = ReportLimits()) {
        self.startDevices = startDevices
        self.limits = limits
        findings = Findings(limit: limits.findings)
        copies = CopyCharts(limits: limits)
        lanes = [Lane(kind: .devices, index: Self.devicesLane, label: Array("device events".utf8), limits: limits),
                 Lane(kind: .kernelLog, index: Self.kernelLogLane, label: Array("kernel log".utf8), limits: limits)]
    }

    /// The printer, in UTC (a page read anywhere says so in its header);
    /// the first file of a ring also starts the copy charts.
    public func captureStarted(_ start: CaptureStart) {
        printer = start.printer
        printer.text.utcOffsetSeconds = 0
        guard !started else { return }
        started = true
        if let startDevices { copies.start(startDevices.devices, at: startDevices.time) }
    }

    /// Whether any event was shown.
    var isEmpty: Bool { first > last }

    // MARK: EventConsumer

    public func consume(_ event: Event, raw: RawRecord) {
        let time = raw.timestamp
        switch event {
        case .syscall(let record):
            let failed = record.errno != nil
            let lane = processLane(pid: record.pid, comm: record.comm, pod: printer.decoder.pods.isActive ? printer.decoder.pods.pod(of: record) : nil)
            let style: MarkStyle = failed ? .failed : record.kind.movesData ? .copy : .call
            let place = lanes[lane].add(start: record.timestamp, duration: record.latency, style: style) {
                text(event, monotonic: time, cpu: raw.cpu)
            }
            see(record.timestamp, record.timestamp &+ record.latency)
            if record.kind.movesData, !failed, record.returnValue > 0 {
                let file = record.fileIn
                copies.add(at: record.timestamp, bytes: UInt64(record.returnValue), nanoseconds: record.latency,
                           major: file.major, minor: file.minor,
                           device: printer.enrichment?.devices.device(major: file.major, minor: file.minor))
            }
            guard failed else { return }
            // The same call failing again is the same finding: who made it and the call as strace writes it.
            scratch.removeAll()
            scratch.append(bytes: record.comm)
            scratch.append(0)
            printer.text.appendCall(record, into: &scratch)
            let index = findings.add(.failure, key: [1] + scratch.bytes, at: time, place: place) {
                text(event, monotonic: time, cpu: raw.cpu)
            }
            findings.remember(Findings.CallKey(pid: record.pid, tid: record.tid, time: record.timestamp), finding: index, place: place)
        case .claim(let record):
            let failed = record.errno != nil
            let lane = processLane(pid: record.pid, comm: record.comm, pod: nil)
            let place = lanes[lane].add(start: time, duration: 0, style: failed ? .failed : .call) {
                text(event, monotonic: time, cpu: raw.cpu)
            }
            see(time, time)
            if failed { addFinding(.failure, tag: 2, event, time: time, cpu: raw.cpu, place: place) }
        case .uevent:
            draw(event, in: Self.devicesLane, time: time, cpu: raw.cpu, style: .device)
        case .kmsg(let record):
            let severe = record.level.rawValue <= 3
            let place = draw(event, in: Self.kernelLogLane, time: time, cpu: raw.cpu, style: severe ? .failed : .log)
            if severe {
                // A message that loops (a driver retrying) is one finding.
                findings.add(.failure, key: [3] + Array(record.message), at: time, place: place) {
                    text(event, monotonic: time, cpu: raw.cpu)
                }
            }
        case .ftrace(let view, _):
            let failed = view.graphCall?.errno != nil
            let place = draw(event, in: Self.devicesLane, time: time, cpu: raw.cpu, style: failed ? .failed : .device)
            if failed { addFinding(.failure, tag: 4, event, time: time, cpu: raw.cpu, place: place) }
        case .holders(_, let explains):
            let lines = text(event, monotonic: time, cpu: raw.cpu)
            let call = Findings.CallKey(pid: UInt32(bitPattern: explains.pid), tid: UInt32(bitPattern: explains.tid),
                                        time: explains.monotonicNanoseconds)
            if let (finding, place) = findings.lookup(call) {
                lanes[place.lane].annotate(place, with: lines)
                if let finding { findings.explain(finding, with: lines) }
            } else {
                // The call it answers is not on the page (before --since): the answer alone.
                let lane = processLane(pid: UInt32(bitPattern: explains.pid), comm: nil, pod: nil)
                _ = lanes[lane].add(start: time, duration: 0, style: .call) { lines }
                see(time, time)
            }
        case .queueSetting(let change):
            let place = draw(event, in: Self.devicesLane, time: time, cpu: raw.cpu, style: .change)
            // Each change is a finding of its own: the stamp is part of its text.
            let lines = text(event, monotonic: time, cpu: raw.cpu)
            if let index = findings.add(.settingChange, key: [5] + lines, at: time, place: place, text: { lines }),
               findings.list[index].count == 1 {
                settingFindings.append((index, change))
            }
        case .mountOperation, .mountHealth:
            consumeDerived(event, timestamp: time)
        }
    }

    public func consumeDerived(_ event: Event, timestamp: UInt64) {
        switch event {
        case .mountOperation(let operation):
            switch operation.outcome {
            case .succeeded:
                return // its calls are on the timeline
            case .failed(let failure):
                // The operation in mount(8)'s words, under the call that failed it.
                guard let call = try? failure.record.withUnsafeBytes({ try SyscallRecord(validating: $0) }) else { return }
                let key = Findings.CallKey(pid: call.pid, tid: call.tid, time: call.timestamp)
                guard let (finding, place) = findings.lookup(key) else { return }
                let lines = text(event, monotonic: timestamp, cpu: 0)
                lanes[place.lane].annotate(place, with: lines)
                if let finding { findings.explain(finding, with: lines) }
            case .incomplete:
                let lane = processLane(pid: operation.pid, comm: nil, pod: nil)
                let place = lanes[lane].place(at: operation.start)
                addFinding(.unfinished, tag: 6, event, time: timestamp, cpu: 0, place: place)
            }
        case .mountHealth:
            let place = draw(event, in: Self.devicesLane, time: timestamp, cpu: 0, style: .health)
            addFinding(.unhealthyMount, tag: 7, event, time: timestamp, cpu: 0, place: place)
        default:
            return
        }
    }

    /// The printer is not a consumer when nothing is printed: the device
    /// tables it words kernel log lines with come through here.
    public func devicesChanged(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {
        printer.devicesChanged(table, json: json, timestamp: timestamp)
    }

    // MARK: EventAnalyzer

    /// Every read_ahead_kb change, shown or filtered out: the chart's steps.
    public var observes: EventRoutes { .queueSetting }

    public func observe(_ event: Event, raw: RawRecord) {
        if case .queueSetting(let change) = event { copies.apply(change, at: raw.timestamp) }
    }

    public func finish(at timestamp: UInt64) {}

    // MARK: Helpers

    @discardableResult
    private func draw(_ event: Event, in lane: Int, time: UInt64, cpu: UInt32, style: MarkStyle) -> MarkRef {
        see(time, time)
        return lanes[lane].add(start: time, duration: 0, style: style) { text(event, monotonic: time, cpu: cpu) }
    }

    /// A finding keyed by its text without the time column (so repeats are one).
    private func addFinding(_ kind: Finding.Kind, tag: UInt8, _ event: Event, time: UInt64, cpu: UInt32, place: MarkRef) {
        let lines = text(event, monotonic: time, cpu: cpu)
        findings.add(kind, key: [tag] + Self.withoutTime(lines), at: time, place: place) { lines }
    }

    private func see(_ start: UInt64, _ end: UInt64) {
        first = min(first, start)
        last = max(last, end)
    }

    /// The lane of a process: its own while there are fewer than
    /// `limits.processLanes`, else the shared one.
    private func processLane(pid: UInt32, comm: UnsafeRawBufferPointer?, pod: PodCgroup?) -> Int {
        if let index = processLanes[pid] { return index }
        if processLanes.count >= limits.processLanes {
            let shared = sharedLane ?? {
                let index = lanes.count
                lanes.append(Lane(kind: .otherProcesses, index: index, label: Array("other processes".utf8), limits: limits))
                sharedLane = index
                return index
            }()
            if sharedPIDs.count < Self.sharedPIDLimit, sharedPIDs.insert(pid).inserted { lanes[shared].processes += 1 }
            return shared
        }
        let index = lanes.count
        var label = comm.map { Array($0) } ?? []
        label += Array("[\(pid)]".utf8)
        let lane = Lane(kind: .process(pid: pid), index: index, label: label, limits: limits)
        lane.processes = 1
        if let pod {
            scratch.removeAll()
            printer.text.appendPod(pod, into: &scratch)
            lane.detail = Array(Self.trimmed(scratch.bytes))
        }
        lanes.append(lane)
        processLanes[pid] = index
        return index
    }

    /// An event's lines as `replay` prints them (UTC time), without the last
    /// newline, cut at `limits.textBytes`.
    private func text(_ event: Event, monotonic: UInt64, cpu: UInt32) -> [UInt8] {
        scratch.removeAll()
        printer.render(event, timestamp: monotonic, cpu: cpu, into: &scratch)
        var bytes = scratch.bytes
        while bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        return Self.cut(bytes, to: limits.textBytes)
    }

    /// At most `limit` bytes, cut before a character (not inside its UTF-8
    /// sequence), with "…" where it was cut.
    static func cut(_ bytes: [UInt8], to limit: Int) -> [UInt8] {
        guard bytes.count > limit else { return bytes }
        var end = max(limit, 0)
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return Array(bytes[..<end]) + Array("…".utf8)
    }

    /// A line without the time column every text line starts with
    /// ("18:58:04.713800  "), so that repeats of it compare equal.
    static func withoutTime(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        let column = 17
        guard bytes.count >= column, bytes[2] == UInt8(ascii: ":"), bytes[8] == UInt8(ascii: "."),
              bytes[15] == UInt8(ascii: " ") else { return bytes[...] }
        return bytes[column...]
    }

    /// " [by pod 7f3e1c2a… besteffort]" → "by pod 7f3e1c2a… besteffort".
    static func trimmed(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        var slice = bytes[...]
        while let byte = slice.first, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "[") { slice = slice.dropFirst() }
        while let byte = slice.last, byte == UInt8(ascii: "]") { slice = slice.dropLast() }
        return slice
    }
}
