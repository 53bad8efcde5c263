import StoretraceCapture
import StoretraceDecode
import StoretraceRecords

/// What `info` says of the clocks of captures from several nodes, which a
/// merged replay puts on one timeline by wall-clock time: each node's
/// offset (CLOCK_REALTIME minus CLOCK_MONOTONIC, the wall time its
/// monotonic clock started from), its span, and the reasons the nodes'
/// wall clocks may not be comparable.
public struct NodeClocks {
    public struct Node {
        public var label: String
        public var node: CaptureNode
        public var files: Int
        /// The first clock sample's offset (the one replay uses for the
        /// first file); nil without any sample.
        public var offset: Int64?
        /// How far the offsets measured during the recording (each file's
        /// clock samples, its trailer, its snapshots) lie apart.
        public var offsetSpread: Int64
        /// The first and last event, wall clock; nil without events.
        public var span: (first: Int64, last: Int64)?
        /// From the start snapshot; nil when not recorded.
        public var clockSync: NodeSnapshot.ClockSync?
    }

    public var nodes: [Node]
    /// One sentence each; empty when nothing casts doubt on them.
    public var doubts: [String]

    /// Offsets further apart than this mean the wall clock was stepped or
    /// slewed during the recording.
    public static let steadyWithin: Int64 = 10_000_000

    /// `summaries[i]`: the files of `streams[i]`, in its order.
    public init(streams: [CaptureStream], summaries: [[CaptureSummary]]) {
        nodes = []
        doubts = []
        var unsynchronized: [String] = []
        for (stream, files) in zip(streams, summaries) {
            var offsets: [Int64] = []
            var span: (first: Int64, last: Int64)?
            for file in files {
                offsets += file.clockSamples.map(\.realtimeOffsetNs)
                if let trailer = file.trailer, trailer.endRealtimeNs > 0 {
                    offsets.append(Int64(bitPattern: trailer.endRealtimeNs &- trailer.endMonotonicNs))
                }
                offsets += file.snapshots.map(\.clockOffsets.realtimeMinusMonotonic)
                if let (first, last) = file.span {
                    let from = file.clock.wallNanoseconds(monotonic: first), to = file.clock.wallNanoseconds(monotonic: last)
                    span = (min(span?.first ?? from, from), max(span?.last ?? to, to))
                }
            }
            let spread = (offsets.max() ?? 0) - (offsets.min() ?? 0)
            let first = files.first?.clockSamples.first?.realtimeOffsetNs
            let sync = files.first?.snapshots.first?.clockSync
            nodes.append(Node(label: stream.label, node: stream.node, files: files.count, offset: first,
                              offsetSpread: spread, span: span, clockSync: sync))
            if first == nil {
                doubts.append("\(stream.label) has no clock sample (recorded before they were): its wall times come from the file's creation time")
            }
            if spread > Self.steadyWithin {
                doubts.append("\(stream.label)'s wall clock moved \(Self.milliseconds(spread)) against its monotonic clock during the recording (stepped or slewed): its events may be placed that far off")
            }
            if let sync, !sync.synchronized { unsynchronized.append(stream.label) }
        }
        if unsynchronized.count == 1 {
            doubts.append("\(unsynchronized[0])'s kernel said its clock was not synchronized (NTP) when recording started")
        } else if unsynchronized.count > 1 {
            doubts.append("the kernels of \(unsynchronized.joined(separator: ", ")) said their clocks were not synchronized (NTP) when recording started")
        }
        // Spans that do not overlap are fine if the recordings were meant to
        // be apart; say so, since their events will not interleave.
        let spans = nodes.compactMap { node in node.span.map { (node.label, $0) } }.sorted { $0.1.first < $1.1.first }
        var reach: (label: String, last: Int64)?
        for (label, span) in spans {
            if let reach, span.first > reach.last {
                doubts.append("\(label) starts \(Self.seconds(span.first - reach.last)) after \(reach.label) ends: their events do not interleave (fine if they were recorded apart)")
            }
            if reach == nil || span.last > reach!.last { reach = (label, span.last) }
        }
    }

    static func milliseconds(_ nanoseconds: Int64) -> String {
        let tenths = nanoseconds / 100_000
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    static func seconds(_ nanoseconds: Int64) -> String {
        let tenths = nanoseconds / 100_000_000
        return "\(tenths / 10).\(tenths % 10) s"
    }
}
