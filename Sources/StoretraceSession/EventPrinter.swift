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
    /// The decoder whose events it renders (threads, pods, kernel symbols).
    public let decoder: EventDecoder
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
        switch event {
        case .mountOperation, .mountHealth: consumeDerived(event, timestamp: raw.timestamp)
        default: unit { render(event, monotonic: raw.timestamp, cpu: raw.cpu, into: &$0) }
        }
    }

    public func consumeDerived(_ event: Event, timestamp: UInt64) {
        switch event {
        case .mountOperation, .mountHealth: unit(derived: true) { render(event, monotonic: timestamp, cpu: 0, into: &$0) }
        default: return
        }
    }

    /// One event's lines in the printer's format, as `replay` prints them,
    /// into `out` rather than the sink: `storetrace report` words its marks
    /// and findings with them. `monotonic` and `cpu` are the record's.
    public func render(_ event: Event, monotonic: UInt64, cpu: UInt32, into out: inout OutputBuffer) {
        switch (event, format) {
        case (.syscall(let record), .text):
            text.render(record, pod: decoder.pods.isActive ? decoder.pods.pod(of: record) : nil, into: &out)
        case (.syscall(let record), .json):
            json.render(record, pod: decoder.pods.isActive ? decoder.pods.pod(of: record) : nil, into: &out)
        case (.uevent(let message), .text): text.renderUevent(message, monotonic: monotonic, into: &out)
        case (.uevent(let message), .json): json.renderUevent(message, monotonic: monotonic, into: &out)
        case (.kmsg(let record), .text): text.renderKmsg(record, monotonic: monotonic, into: &out)
        case (.kmsg(let record), .json): json.renderKmsg(record, monotonic: monotonic, into: &out)
        case (.ftrace(let view, let task), .text):
            text.renderFtrace(view, monotonic: monotonic, cpu: cpu, task: task, describe: decoder.describeAddress, into: &out)
        case (.ftrace(let view, let task), .json):
            json.renderFtrace(view, monotonic: monotonic, cpu: cpu, task: task, describe: decoder.describeAddress, into: &out)
        case (.claim(let record), .text): text.renderClaim(record, into: &out)
        case (.claim(let record), .json): json.renderClaim(record, into: &out)
        case (.holders(let report, let explains), .text):
            HolderRenderer.renderText(report, clock: text.clock, explains: explains, into: &out)
        case (.holders(let report, let explains), .json):
            HolderRenderer.renderJSON(report, clock: json.clock, explains: explains, kubelet: json, into: &out)
        case (.queueSetting(let change), .text): text.renderQueueSetting(change, monotonic: monotonic, into: &out)
        case (.queueSetting(let change), .json): json.renderQueueSetting(change, monotonic: monotonic, into: &out)
        case (.mountOperation(let operation), .text): text.renderMountOperation(operation, into: &out)
        case (.mountOperation(let operation), .json): json.renderMountOperation(operation, into: &out)
        case (.mountHealth(let health), .text): text.renderMountHealth(health, into: &out)
        case (.mountHealth(let health), .json): json.renderMountHealth(health, into: &out)
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
