/// Limits that keep a report's memory and its file bounded whatever the
/// capture holds (a million events make the same size of page as ten
/// thousand): past them, events are added up in time buckets, lanes
/// shared and findings counted, and the page says where.
public struct ReportLimits: Sendable {
    /// Events drawn one by one in a lane; past it the lane is drawn as buckets.
    public var marksPerLane = 400
    /// Buckets of a lane drawn that way (an even number).
    public var bucketsPerLane = 240
    /// Lanes of their own for processes; later processes share one lane.
    public var processLanes = 40
    /// Distinct findings listed; later ones are counted.
    public var findings = 200
    /// Bytes of a mark's hover text and of a finding's lines (cut at a character).
    public var textBytes = 1200
    /// Block devices with a copy chart; copies on others are counted.
    public var copyDevices = 16
    /// Buckets of a copy chart.
    public var copyBuckets = 240
    /// read_ahead_kb changes drawn per disk; later ones are counted.
    public var settingSteps = 1000
    /// Rows of the snapshot's mount and process tables, all namespaces together.
    public var snapshotRows = 4000
    public init() {}
}

/// How a mark is drawn (its CSS class).
enum MarkStyle: UInt8 {
    /// A call that returned: its latency as a bar.
    case call
    /// A copy (copy_file_range, splice, sendfile).
    case copy
    /// Anything that failed: red.
    case failed
    /// A device event: a uevent, a tracepoint, a function call.
    case device
    /// A kernel log line below err.
    case log
    /// A queue setting that changed.
    case change
    /// A mount turned unhealthy (red too, as a failure).
    case health

    var cssClass: StaticString {
        switch self {
        case .call: "call"
        case .copy: "copy"
        case .failed: "fail"
        case .device: "dev"
        case .log: "log"
        case .change: "chg"
        case .health: "fail"
        }
    }

    var isFailure: Bool { self == .failed || self == .health }
}

/// One event drawn on its own: where, how long, and its text as `replay`
/// prints it (the hover title).
struct Mark {
    var start: UInt64
    var duration: UInt64
    var style: MarkStyle
    var title: [UInt8]
}

/// Events of a lane past the budget, added up per time bucket.
struct Tally: BucketValue {
    var events: UInt64 = 0
    var failed: UInt64 = 0
    /// The text of the bucket's first failure, for its hover title.
    var firstFailure: [UInt8]?

    mutating func merge(_ other: Tally) {
        events &+= other.events
        failed &+= other.failed
        if firstFailure == nil { firstFailure = other.firstFailure }
    }
}

/// Where an event is on the timeline: its lane, its place among the
/// lane's events, its time. Resolved to an element of the page when it is
/// written (a mark, or the bucket it was added up in).
struct MarkRef: Equatable {
    var lane: Int
    var index: Int
    var time: UInt64
}

/// One row of the timeline.
final class Lane {
    enum Kind: Equatable {
        case process(pid: UInt32)
        /// Processes past `ReportLimits.processLanes`.
        case otherProcesses
        case devices
        case kernelLog
    }

    let kind: Kind
    /// Its place among the lanes (part of its elements' ids).
    let index: Int
    /// What the row is called: "umount[8232]", "device events".
    var label: [UInt8]
    /// More about it, for the label's hover: the pod of a process.
    var detail: [UInt8]?
    private(set) var marks: [Mark] = []
    /// Set once the lane has more events than `limits.marksPerLane`.
    private(set) var buckets: TimeBuckets<Tally>?
    private(set) var events: UInt64 = 0
    private(set) var failures: UInt64 = 0
    /// Processes in a shared lane.
    var processes = 0
    private(set) var first: UInt64 = .max
    private(set) var last: UInt64 = 0
    private let limits: ReportLimits

    init(kind: Kind, index: Int, label: [UInt8], limits: ReportLimits) {
        self.kind = kind
        self.index = index
        self.label = label
        self.limits = limits
    }

    var isAggregated: Bool { buckets != nil }

    /// Adds an event. `title` is asked for only when the event is drawn on
    /// its own, or is the first failure of its bucket: past the budget,
    /// nothing is rendered per event.
    func add(start: UInt64, duration: UInt64, style: MarkStyle, title: () -> [UInt8]) -> MarkRef {
        events &+= 1
        if style.isFailure { failures &+= 1 }
        first = min(first, start)
        last = max(last, start &+ duration)
        if buckets == nil && marks.count >= limits.marksPerLane { aggregate() }
        guard var buckets else {
            marks.append(Mark(start: start, duration: duration, style: style, title: title()))
            return MarkRef(lane: index, index: marks.count - 1, time: start)
        }
        buckets.add(at: start) { tally in
            tally.events &+= 1
            if style.isFailure {
                tally.failed &+= 1
                if tally.firstFailure == nil { tally.firstFailure = title() }
            }
        }
        self.buckets = buckets
        return MarkRef(lane: index, index: -1, time: start)
    }

    /// Adds lines to the title of a mark still drawn on its own (a holder
    /// scan's answer under the failed call).
    func annotate(_ ref: MarkRef, with lines: [UInt8]) {
        guard buckets == nil, ref.index >= 0, ref.index < marks.count else { return }
        marks[ref.index].title += [UInt8(ascii: "\n")] + lines
    }

    /// Where an event at `time` is: the last mark that starts at or before
    /// it (an operation's first call), or its bucket.
    func place(at time: UInt64) -> MarkRef {
        guard buckets == nil, !marks.isEmpty else { return MarkRef(lane: index, index: -1, time: time) }
        var found = 0
        for position in stride(from: marks.count - 1, through: 0, by: -1) where marks[position].start <= time {
            found = position
            break
        }
        return MarkRef(lane: index, index: found, time: marks[found].start)
    }

    /// The marks so far, folded into buckets: from here on the lane is
    /// drawn as counts over time. The buckets start at the first event and
    /// are sized for twice the span seen so far, widening as needed.
    private func aggregate() {
        let count = limits.bucketsPerLane
        let span = max(last - min(first, last), 1)
        var folded = TimeBuckets<Tally>(origin: first, width: max(1000, span * 2 / UInt64(max(count, 2))), count: count)
        for mark in marks {
            folded.add(at: mark.start) { tally in
                tally.events &+= 1
                if mark.style.isFailure {
                    tally.failed &+= 1
                    if tally.firstFailure == nil { tally.firstFailure = mark.title }
                }
            }
        }
        buckets = folded
        marks = []
    }

    /// The id of the element an event is drawn in or added up in.
    func elementID(_ ref: MarkRef) -> String {
        if let buckets { return "b\(index)-\(buckets.slot(of: ref.time))" }
        return "m\(index)-\(max(ref.index, 0))"
    }
}
