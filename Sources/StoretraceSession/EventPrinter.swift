import Glibc
import StoretraceDecode
import StoretraceRecords
import StoretraceRender

public enum OutputFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// The consumer that renders each event, as text or a JSON line, into an
/// output sink (the terminal, a pipe, a file).
public final class EventPrinter: EventConsumer {
    public let format: OutputFormat
    public let text: TextRenderer
    public let json: JSONRenderer
    public let sink: OutputSink
    /// The decoder whose events it renders (threads, pods, kernel symbols).
    public let decoder: EventDecoder
    /// `decoder.pods`, asked for every call (`Pipeline.pods`).
    private let pods: PodTable
    /// What both renderers add from the node snapshot, with the queue
    /// settings in force (`applyQueueSetting`): one copy, given to each.
    public var enrichment: SnapshotEnrichment? {
        didSet {
            text.enrichment = enrichment
            json.enrichment = enrichment
        }
    }

    /// The node of every event, when a replay merges several (`HostColumn`);
    /// nil for one node, whose output stays as it was.
    public var host: HostColumn?

    /// One event's lines, as one unit of the sink, with the host if set.
    @inline(__always)
    private func unit(derived: Bool = false, _ body: (inout OutputBuffer) -> Void) {
        guard let host else {
            sink.withBuffer(derived: derived, body)
            return
        }
        let format = self.format
        sink.withBuffer(derived: derived) { out in
            let start = out.count
            body(&out)
            if format == .json { host.insertJSON(since: start, into: &out) } else { host.insertText(since: start, into: &out) }
        }
    }

    /// `decoder` names kernel addresses of function events as it knows them.
    public init(format: OutputFormat, text: TextRenderer, json: JSONRenderer, sink: OutputSink, decoder: EventDecoder) {
        self.format = format
        self.text = text
        self.json = json
        self.sink = sink
        self.decoder = decoder
        pods = decoder.pods
    }

    /// `--kubelet-root`, for both renderers.
    public var kubeletRoot: String? {
        get { text.kubeletRoot.map { String(decoding: $0, as: UTF8.self) } }
        set {
            text.kubeletRoot = newValue.map { Array($0.utf8) }
            json.kubeletRoot = text.kubeletRoot
        }
    }

    /// Both renderers turn monotonic stamps into wall time with this offset.
    public var clock: ClockOffset {
        get { json.clock }
        set {
            text.clock = newValue
            json.clock = newValue
        }
    }

    public func consume(_ event: Event, raw: RawRecord) {
        switch event {
        case .syscall(let record):
            // Nearly every event: rendered without `render`'s switch, which
            // took the event by value (ten words loaded per call).
            unit { renderCall(record, into: &$0) }
        case .mountOperation, .mountHealth:
            consumeDerived(event, timestamp: raw.timestamp)
        default:
            unit { render(event, timestamp: raw.timestamp, cpu: raw.cpu, into: &$0) }
        }
    }

    public func consumeDerived(_ event: Event, timestamp: UInt64) {
        switch event {
        case .mountOperation, .mountHealth: unit(derived: true) { render(event, timestamp: timestamp, cpu: 0, into: &$0) }
        default: return
        }
    }

    /// One event's lines in the printer's format, with what the session
    /// keeps current (the snapshot, the device table, the read-ahead in
    /// force, pods): what `consume` writes, for consumers that show events
    /// another way (`storetrace export` keeps each event's JSON fields).
    /// `timestamp` and `cpu` are the record's (`RawRecord`).
    public func render(_ event: Event, timestamp: UInt64, cpu: UInt32, into out: inout OutputBuffer) {
        // The event first, then the format: a switch over the pair copied
        // the event (an outlined copy and retains) for every call.
        let json = format == .json
        switch event {
        case .syscall(let record):
            renderCall(record, into: &out)
        case .uevent(let message):
            if json {
                self.json.renderUevent(message, monotonic: timestamp, into: &out)
            } else {
                text.renderUevent(message, monotonic: timestamp, into: &out)
            }
        case .kmsg(let record):
            if json { self.json.renderKmsg(record, monotonic: timestamp, into: &out) } else { text.renderKmsg(record, monotonic: timestamp, into: &out) }
        case .ftrace(let view, let task):
            if json {
                self.json.renderFtrace(view, monotonic: timestamp, cpu: cpu, task: task, describe: decoder.describeAddress, into: &out)
            } else {
                text.renderFtrace(view, monotonic: timestamp, cpu: cpu, task: task, describe: decoder.describeAddress, into: &out)
            }
        case .claim(let record):
            if json { self.json.renderClaim(record, into: &out) } else { text.renderClaim(record, into: &out) }
        case .holders(let report, let explains):
            if json {
                HolderRenderer.renderJSON(report, clock: self.json.clock, explains: explains, kubelet: self.json, into: &out)
            } else {
                HolderRenderer.renderText(report, clock: text.clock, explains: explains, into: &out)
            }
        case .queueSetting(let change):
            if json {
                self.json.renderQueueSetting(change, monotonic: timestamp, into: &out)
            } else {
                text.renderQueueSetting(change, monotonic: timestamp, into: &out)
            }
        case .mountOperation(let operation):
            if json { self.json.renderMountOperation(operation, into: &out) } else { text.renderMountOperation(operation, into: &out) }
        case .mountHealth(let health):
            if json { self.json.renderMountHealth(health, into: &out) } else { text.renderMountHealth(health, into: &out) }
        }
    }

    /// A call, with the pod of its process.
    @inline(__always)
    private func renderCall(_ record: SyscallRecord, into out: inout OutputBuffer) {
        let pod = pods.isActive ? pods.pod(of: record) : nil
        if format == .json { json.render(record, pod: pod, into: &out) } else { text.render(record, pod: pod, into: &out) }
    }

    public func devicesChanged(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {
        let annotations = DeviceAnnotations(table)
        text.devices = annotations
        self.json.devices = annotations
        // Kubelet volumes staged since the last table.
        if let volumes = table.kubeletVolumes { enrichment?.kubeletVolumes = KubeletVolumeTable(volumes) }
    }

    /// A queue setting changed: copies after it are shown with the new value.
    /// (`QueueSettingFollower` calls it for every change, shown or not.)
    public func applyQueueSetting(_ change: QueueSettingChange) {
        guard enrichment != nil else { return } // a capture without a snapshot: no device context at all
        enrichment?.devices.apply(change)
    }

    public func batchEnded() { sink.flush() }

    public var stopReason: StopReason? {
        guard let failure = sink.failure else { return nil }
        return failure == EPIPE ? .closedOutput : .outputError
    }
}
