import StoretraceDecode
import StoretraceSession

/// What an export is made of, whatever the file format: tracks (a process,
/// its threads, the node's device events, the kernel log, the findings,
/// counters), and on them slices (a call with its latency), instants and
/// counter values, each with its annotations and the flows that join a
/// failure to what explains it. `TimelineExporter` builds it from the
/// events; a `TimelineWriter` writes it as it comes (Perfetto protobuf,
/// Trace Event JSON).
public struct Track: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case process(pid: UInt32, name: String)
        case thread(pid: UInt32, tid: UInt32, name: String)
        /// A track of the node's own (device events, the kernel log, the
        /// findings), or one under a process (its mount operations).
        case named(String)
        /// Values over time, in `unit`.
        case counter(name: String, unit: String)
    }

    /// Perfetto's track uuid: unique in the trace, never 0.
    public var uuid: UInt64
    /// The track it belongs under (a thread's process).
    public var parent: UInt64?
    public var kind: Kind

    public init(uuid: UInt64, parent: UInt64? = nil, kind: Kind) {
        self.uuid = uuid
        self.parent = parent
        self.kind = kind
    }
}

/// A debug annotation: a named value, nested as the event's JSON is.
public struct Annotation: Equatable, Sendable {
    public indirect enum Value: Equatable, Sendable {
        case string(String)
        case int(Int64)
        case uint(UInt64)
        case double(Double)
        case bool(Bool)
        case dict([Annotation])
        case array([Value])
    }

    public var name: String
    public var value: Value

    public init(_ name: String, _ value: Value) {
        self.name = name
        self.value = value
    }
}

/// A slice (`duration` set) or an instant on a track.
public struct TimelineEvent: Equatable, Sendable {
    public var track: UInt64
    /// CLOCK_MONOTONIC ns of the capture.
    public var timestamp: UInt64
    /// A slice's length (a call's latency); nil for an instant.
    public var duration: UInt64?
    public var name: String
    /// "syscall", "failed", "kernel_log", ...: what Perfetto filters by.
    public var categories: [String]
    public var annotations: [Annotation]
    /// Flows that start here and end at a later event with the same id.
    public var flowsOut: [UInt64] = []
    /// Flows that end here.
    public var flowsIn: [UInt64] = []

    public init(track: UInt64, timestamp: UInt64, duration: UInt64? = nil, name: String, categories: [String],
                annotations: [Annotation]) {
        self.track = track
        self.timestamp = timestamp
        self.duration = duration
        self.name = name
        self.categories = categories
        self.annotations = annotations
    }
}

/// A file format for timelines, written as the events come: memory stays
/// flat for any capture size.
public protocol TimelineWriter: AnyObject {
    /// Where it writes; a failed write stops the export (`sink.failure`).
    var sink: OutputSink { get }
    /// Once, first: the capture's clock (for wall time) and its start.
    func begin(clock: ClockOffset, startMonotonic: UInt64)
    /// A track, before the first event on it (again when its name changes).
    func describe(_ track: Track)
    func event(_ event: TimelineEvent)
    func counter(track: UInt64, timestamp: UInt64, value: Double)
    /// Once, last.
    func end()
}
