import StoretraceDecode
import StoretraceRender

public enum OutputFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// Counts of what went through the pipeline.
public struct PipelineCounts: Equatable, Sendable {
    /// Records received from the kernel.
    public var received: UInt64 = 0
    /// Records shown (after filters).
    public var shown: UInt64 = 0
    /// Records that failed validation and were skipped.
    public var malformed: UInt64 = 0
    public init() {}
}

/// The hot path: raw record bytes in, validated, filtered, rendered into the
/// sink's buffer. Nothing here allocates once the buffer has grown.
public final class RecordProcessor {
    public var filter: EventFilter
    public var format: OutputFormat
    public var text: TextRenderer
    public var json: JSONRenderer
    public let sink: OutputSink
    public private(set) var counts = PipelineCounts()
    public private(set) var lastMalformed: RecordError?

    public init(filter: EventFilter, format: OutputFormat, text: TextRenderer, json: JSONRenderer, sink: OutputSink) {
        self.filter = filter
        self.format = format
        self.text = text
        self.json = json
        self.sink = sink
    }

    public func process(_ bytes: UnsafeRawBufferPointer) {
        counts.received &+= 1
        let record: SyscallRecord
        do {
            record = try SyscallRecord(validating: bytes)
        } catch {
            counts.malformed &+= 1
            lastMalformed = error
            return
        }
        guard filter.accepts(record) else { return }
        counts.shown &+= 1
        switch format {
        case .text: sink.withBuffer { text.render(record, into: &$0) }
        case .json: sink.withBuffer { json.render(record, into: &$0) }
        }
    }
}
