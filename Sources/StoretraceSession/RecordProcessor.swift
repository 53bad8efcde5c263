import StoretraceDecode
import StoretraceKernel
import StoretraceRender

public enum OutputFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// Counts of what went through the pipeline.
public struct PipelineCounts: Equatable, Sendable {
    /// Records received from the sources.
    public var received: UInt64 = 0
    /// Records shown or recorded (after filters).
    public var shown: UInt64 = 0
    /// Records that failed validation and were skipped.
    public var malformed: UInt64 = 0
    /// Records shown, by source.
    public var bySource: [UInt64] = [0, 0, 0, 0, 0]
    public init() {}
}

/// The hot path: raw records in, validated, filtered, rendered into the
/// sink's buffer and handed to the recorder. Nothing here allocates once
/// the buffers have grown (ftrace tracepoint names aside).
public final class RecordProcessor {
    public let filter: EventFilter
    public let format: OutputFormat
    public var text: TextRenderer
    public var json: JSONRenderer
    /// nil: no rendering (record without --live, or a null sink for benchmarks).
    public let sink: OutputSink?
    public var recorder: CaptureRecorder?
    /// Decodes ftrace payloads; set when an ftrace source is on (or a capture holds formats).
    public var ftraceCatalog: FtraceEventCatalog?
    /// Kernel address to `symbol+0xoff`.
    public var describeAddress: (UInt64) -> String = { "0x" + String($0, radix: 16) }
    /// Process and name of the thread of an ftrace event (its record has
    /// only the thread id).
    public var tasks = TaskTable()
    public private(set) var counts = PipelineCounts()
    public private(set) var lastMalformed: String?

    public init(filter: EventFilter, format: OutputFormat, text: TextRenderer, json: JSONRenderer, sink: OutputSink?) {
        self.filter = filter
        self.format = format
        self.text = text
        self.json = json
        self.sink = sink
    }

    /// A syscall record straight from the BPF ring buffer.
    public func process(_ bytes: UnsafeRawBufferPointer) {
        counts.received &+= 1
        let record: SyscallRecord
        do {
            record = try SyscallRecord(validating: bytes)
        } catch {
            malformed("\(error)")
            return
        }
        guard filter.accepts(record) else { return }
        shown(.syscall)
        recorder?.append(RawRecord(source: .syscall, timestamp: record.timestamp, bytes: bytes))
        guard let sink else { return }
        switch format {
        case .text: sink.withBuffer { text.render(record, into: &$0) }
        case .json: sink.withBuffer { json.render(record, into: &$0) }
        }
    }

    public func process(_ raw: RawRecord) {
        switch raw.source {
        case .syscall: process(raw.bytes)
        case .uevent: processUevent(raw)
        case .kmsg: processKmsg(raw)
        case .ftrace: processFtrace(raw)
        }
    }

    private func processUevent(_ raw: RawRecord) {
        counts.received &+= 1
        let message: UeventMessage
        do {
            message = try UeventMessage(parsing: raw.bytes)
        } catch {
            malformed("uevent: \(error)")
            return
        }
        guard filter.acceptsKernel(.uevent) else { return }
        shown(.uevent)
        recorder?.append(raw)
        guard let sink else { return }
        switch format {
        case .text: sink.withBuffer { text.renderUevent(message, monotonic: raw.timestamp, into: &$0) }
        case .json: sink.withBuffer { json.renderUevent(message, monotonic: raw.timestamp, into: &$0) }
        }
    }

    private func processKmsg(_ raw: RawRecord) {
        counts.received &+= 1
        let record: KmsgRecord
        do {
            record = try KmsgRecord(parsing: raw.bytes)
        } catch {
            malformed("kmsg: \(error)")
            return
        }
        guard filter.acceptsKernel(.kmsg) else { return }
        shown(.kmsg)
        recorder?.append(raw)
        guard let sink else { return }
        switch format {
        case .text: sink.withBuffer { text.renderKmsg(record, monotonic: raw.timestamp, into: &$0) }
        case .json: sink.withBuffer { json.renderKmsg(record, monotonic: raw.timestamp, into: &$0) }
        }
    }

    private func processFtrace(_ raw: RawRecord) {
        counts.received &+= 1
        guard let catalog = ftraceCatalog else {
            malformed("ftrace record without formats")
            return
        }
        let view: FtraceEventView
        do {
            view = try catalog.view(raw.bytes)
        } catch {
            malformed("ftrace: \(error)")
            return
        }
        let type: KernelEventType = view.functionCall == nil ? .tracepoint : .function
        let task = tasks.identity(of: view.pid)
        let accepted: Bool = {
            guard let task else { return filter.acceptsFtrace(type, pid: nil, comm: nil) }
            return task.comm.withUnsafeBytes { filter.acceptsFtrace(type, pid: task.tgid, comm: $0) }
        }()
        guard accepted else { return }
        shown(.ftrace)
        if let recorder, let call = view.functionCall {
            recorder.appendSymbol(call.ip, name: { describeAddress(call.ip) }, timestamp: raw.timestamp)
            recorder.appendSymbol(call.parentIP, name: { describeAddress(call.parentIP) }, timestamp: raw.timestamp)
        }
        recorder?.append(raw)
        guard let sink else { return }
        switch format {
        case .text: sink.withBuffer { text.renderFtrace(view, monotonic: raw.timestamp, cpu: raw.cpu, task: task, describe: describeAddress, into: &$0) }
        case .json: sink.withBuffer { json.renderFtrace(view, monotonic: raw.timestamp, cpu: raw.cpu, task: task, describe: describeAddress, into: &$0) }
        }
    }

    @inline(__always)
    private func shown(_ source: SourceKind) {
        counts.shown &+= 1
        counts.bySource[Int(source.rawValue)] &+= 1
    }

    private func malformed(_ why: String) {
        counts.malformed &+= 1
        lastMalformed = why
    }
}
