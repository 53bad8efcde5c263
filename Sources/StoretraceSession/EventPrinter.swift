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
    public var text: TextRenderer
    public var json: JSONRenderer
    public let sink: OutputSink
    private let decoder: EventDecoder
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
        // The event first, then the format: a switch over the pair copied
        // the event (an outlined copy and retains) for every call.
        let json = format == .json
        switch event {
        case .syscall(let record):
            let pod = decoder.pods.isActive ? decoder.pods.pod(of: record) : nil
            if json { unit { self.json.render(record, pod: pod, into: &$0) } } else { unit { text.render(record, pod: pod, into: &$0) } }
        case .uevent(let message):
            if json {
                unit { self.json.renderUevent(message, monotonic: raw.timestamp, into: &$0) }
            } else {
                unit { text.renderUevent(message, monotonic: raw.timestamp, into: &$0) }
            }
        case .kmsg(let record):
            if json {
                unit { self.json.renderKmsg(record, monotonic: raw.timestamp, into: &$0) }
            } else {
                unit { text.renderKmsg(record, monotonic: raw.timestamp, into: &$0) }
            }
        case .ftrace(let view, let task):
            if json {
                unit { self.json.renderFtrace(view, monotonic: raw.timestamp, cpu: raw.cpu, task: task, describe: decoder.describeAddress, into: &$0) }
            } else {
                unit { text.renderFtrace(view, monotonic: raw.timestamp, cpu: raw.cpu, task: task, describe: decoder.describeAddress, into: &$0) }
            }
        case .claim(let record):
            if json { unit { self.json.renderClaim(record, into: &$0) } } else { unit { text.renderClaim(record, into: &$0) } }
        case .mountOperation, .mountHealth:
            consumeDerived(event, timestamp: raw.timestamp)
        case .holders(let report, let explains):
            if json {
                unit { HolderRenderer.renderJSON(report, clock: self.json.clock, explains: explains, kubelet: self.json, into: &$0) }
            } else {
                unit { HolderRenderer.renderText(report, clock: text.clock, explains: explains, into: &$0) }
            }
        case .queueSetting(let change):
            if json {
                unit { self.json.renderQueueSetting(change, monotonic: raw.timestamp, into: &$0) }
            } else {
                unit { text.renderQueueSetting(change, monotonic: raw.timestamp, into: &$0) }
            }
        }
    }

    public func consumeDerived(_ event: Event, timestamp: UInt64) {
        switch (event, format) {
        case (.mountOperation(let operation), .text): unit(derived: true) { text.renderMountOperation(operation, into: &$0) }
        case (.mountOperation(let operation), .json): unit(derived: true) { json.renderMountOperation(operation, into: &$0) }
        case (.mountHealth(let health), .text): unit(derived: true) { text.renderMountHealth(health, into: &$0) }
        case (.mountHealth(let health), .json): unit(derived: true) { json.renderMountHealth(health, into: &$0) }
        default: return
        }
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
