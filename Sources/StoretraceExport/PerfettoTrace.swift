import StoretraceDecode
import StoretraceRender
import StoretraceSession

/// Field numbers of the Perfetto messages written, from Perfetto's own
/// protos (protos/perfetto/trace/trace.proto, trace_packet.proto,
/// clock_snapshot.proto, track_event/track_descriptor.proto,
/// process_descriptor.proto, thread_descriptor.proto,
/// counter_descriptor.proto, track_event.proto, debug_annotation.proto,
/// interned_data/interned_data.proto), as the `perfetto` package's compiled
/// `perfetto_trace_pb2` declares them. Tests decode what is written with
/// those classes (Tests/StoretraceExportTests/decode_trace.py).
enum PerfettoField {
    enum Trace {
        static let packet = 1
    }
    enum TracePacket {
        static let timestamp = 8
        static let clockSnapshot = 6
        static let trustedPacketSequenceID = 10
        static let trackEvent = 11
        static let internedData = 12
        static let sequenceFlags = 13
        static let timestampClockID = 58
        static let trackDescriptor = 60
        /// TracePacket.SequenceFlags
        static let incrementalStateCleared: UInt64 = 1
        static let needsIncrementalState: UInt64 = 2
    }
    enum ClockSnapshot {
        static let clocks = 1
        static let primaryTraceClock = 2
        enum Clock {
            static let clockID = 1
            static let timestamp = 2
        }
        /// BuiltinClock
        static let realtime: UInt64 = 1
        static let monotonic: UInt64 = 3
    }
    enum TrackDescriptor {
        static let uuid = 1
        static let name = 2
        static let process = 3
        static let thread = 4
        static let parentUUID = 5
        static let counter = 8
    }
    enum ProcessDescriptor {
        static let pid = 1
        static let processName = 6
    }
    enum ThreadDescriptor {
        static let pid = 1
        static let tid = 2
        static let threadName = 5
    }
    enum CounterDescriptor {
        static let unitName = 6
    }
    enum TrackEvent {
        static let categoryIIDs = 3
        static let debugAnnotations = 4
        static let type = 9
        static let nameIID = 10
        static let trackUUID = 11
        static let doubleCounterValue = 44
        static let flowIDs = 47
        static let terminatingFlowIDs = 48
        /// TrackEvent.Type
        static let sliceBegin: UInt64 = 1
        static let sliceEnd: UInt64 = 2
        static let instant: UInt64 = 3
        static let counter: UInt64 = 4
    }
    enum DebugAnnotation {
        static let nameIID = 1
        static let boolValue = 2
        static let uintValue = 3
        static let intValue = 4
        static let doubleValue = 5
        static let stringValue = 6
        static let name = 10
        static let dictEntries = 11
        static let arrayValues = 12
    }
    enum InternedData {
        static let eventCategories = 1
        static let eventNames = 2
        static let debugAnnotationNames = 3
        /// EventCategory, EventName and DebugAnnotationName alike.
        static let iid = 1
        static let name = 2
    }
}

/// Strings a sequence refers to by number (Perfetto's interning): each is
/// written once, in the packet that first uses it, and then by its iid.
/// Bounded: past `limit` entries the tables start over, and the next packet
/// says so (SEQ_INCREMENTAL_STATE_CLEARED), so memory does not grow with
/// the capture while names that repeat (call names, paths, annotation
/// names) are still written once per stretch.
struct InternTables {
    enum Kind: Int, CaseIterable {
        case category = 0, eventName, annotationName

        var field: Int {
            switch self {
            case .category: PerfettoField.InternedData.eventCategories
            case .eventName: PerfettoField.InternedData.eventNames
            case .annotationName: PerfettoField.InternedData.debugAnnotationNames
            }
        }
    }

    let limit: Int
    private var tables: [[String: UInt64]] = Array(repeating: [:], count: Kind.allCases.count)
    /// New entries of the packet being built, by kind.
    private(set) var fresh: [[(iid: UInt64, name: String)]] = Array(repeating: [], count: Kind.allCases.count)
    /// Whether the next packet starts the sequence's state afresh.
    private(set) var cleared = true

    init(limit: Int) { self.limit = limit }

    var count: Int { tables.reduce(0) { $0 + $1.count } }

    mutating func iid(_ kind: Kind, _ name: String) -> UInt64 {
        if let known = tables[kind.rawValue][name] { return known }
        let iid = UInt64(tables[kind.rawValue].count + 1)
        tables[kind.rawValue][name] = iid
        fresh[kind.rawValue].append((iid, name))
        return iid
    }

    /// Before a packet: start over when full.
    mutating func startPacket() {
        if count >= limit {
            for index in tables.indices { tables[index].removeAll(keepingCapacity: true) }
            cleared = true
        }
    }

    /// After a packet was written.
    mutating func endPacket() {
        for index in fresh.indices { fresh[index].removeAll(keepingCapacity: true) }
        cleared = false
    }
}

/// Perfetto's native format: a `Trace` whose packets are written one by one
/// (a `Trace` is its packets concatenated, each as field 1). One packet
/// sequence; timestamps on CLOCK_MONOTONIC, which a clock snapshot at the
/// start makes the trace's clock and relates to CLOCK_REALTIME, so the
/// Perfetto UI can show wall time. A slice is a SLICE_BEGIN and a
/// SLICE_END packet written together (the trace processor sorts by time).
public final class PerfettoTraceWriter: TimelineWriter {
    public let sink: OutputSink
    static let sequenceID: UInt64 = 1
    private var interned: InternTables

    /// `internLimit`: strings kept for interning before the tables start over.
    public init(sink: OutputSink, internLimit: Int = 4096) {
        self.sink = sink
        interned = InternTables(limit: internLimit)
    }

    private func write(_ packet: ProtoWriter) {
        var trace = ProtoWriter()
        trace.lengthDelimited(PerfettoField.Trace.packet, packet.bytes)
        sink.withBuffer { out in trace.bytes.withUnsafeBytes { out.append(bytes: $0) } }
    }

    public func begin(clock: ClockOffset, startMonotonic: UInt64) {
        typealias F = PerfettoField.ClockSnapshot
        var packet = ProtoWriter()
        packet.uint(PerfettoField.TracePacket.trustedPacketSequenceID, Self.sequenceID)
        packet.message(PerfettoField.TracePacket.clockSnapshot) { snapshot in
            snapshot.message(F.clocks) { entry in
                entry.uint(F.Clock.clockID, F.monotonic)
                entry.uint(F.Clock.timestamp, startMonotonic)
            }
            snapshot.message(F.clocks) { entry in
                entry.uint(F.Clock.clockID, F.realtime)
                entry.uint(F.Clock.timestamp, UInt64(clamping: clock.wallNanoseconds(monotonic: startMonotonic)))
            }
            snapshot.uint(F.primaryTraceClock, F.monotonic)
        }
        write(packet)
    }

    public func describe(_ track: Track) {
        typealias F = PerfettoField.TrackDescriptor
        var packet = ProtoWriter()
        packet.uint(PerfettoField.TracePacket.trustedPacketSequenceID, Self.sequenceID)
        packet.message(PerfettoField.TracePacket.trackDescriptor) { descriptor in
            descriptor.uint(F.uuid, track.uuid)
            if let parent = track.parent { descriptor.uint(F.parentUUID, parent) }
            switch track.kind {
            case .process(let pid, let name):
                descriptor.message(F.process) { process in
                    process.int(PerfettoField.ProcessDescriptor.pid, Int64(pid))
                    process.string(PerfettoField.ProcessDescriptor.processName, name)
                }
            case .thread(let pid, let tid, let name):
                descriptor.message(F.thread) { thread in
                    thread.int(PerfettoField.ThreadDescriptor.pid, Int64(pid))
                    thread.int(PerfettoField.ThreadDescriptor.tid, Int64(tid))
                    thread.string(PerfettoField.ThreadDescriptor.threadName, name)
                }
            case .named(let name):
                descriptor.string(F.name, name)
            case .counter(let name, let unit):
                descriptor.string(F.name, name)
                descriptor.message(F.counter) { $0.string(PerfettoField.CounterDescriptor.unitName, unit) }
            }
        }
        write(packet)
    }

    /// A packet of the sequence at `timestamp`, its track event built by `body`.
    private func trackEventPacket(at timestamp: UInt64, _ body: (inout ProtoWriter, inout InternTables) -> Void) {
        typealias P = PerfettoField.TracePacket
        interned.startPacket()
        var event = ProtoWriter()
        body(&event, &interned)
        var packet = ProtoWriter()
        packet.uint(P.timestamp, timestamp)
        packet.uint(P.timestampClockID, PerfettoField.ClockSnapshot.monotonic)
        packet.uint(P.trustedPacketSequenceID, Self.sequenceID)
        packet.uint(P.sequenceFlags, interned.cleared ? P.incrementalStateCleared : P.needsIncrementalState)
        if interned.fresh.contains(where: { !$0.isEmpty }) {
            packet.message(P.internedData) { data in
                for kind in InternTables.Kind.allCases {
                    for entry in interned.fresh[kind.rawValue] {
                        data.message(kind.field) { item in
                            item.uint(PerfettoField.InternedData.iid, entry.iid)
                            item.string(PerfettoField.InternedData.name, entry.name)
                        }
                    }
                }
            }
        }
        packet.lengthDelimited(P.trackEvent, event.bytes)
        write(packet)
        interned.endPacket()
    }

    public func event(_ event: TimelineEvent) {
        typealias F = PerfettoField.TrackEvent
        trackEventPacket(at: event.timestamp) { out, interned in
            out.uint(F.type, event.duration == nil ? F.instant : F.sliceBegin)
            out.uint(F.trackUUID, event.track)
            for category in event.categories { out.uint(F.categoryIIDs, interned.iid(.category, category)) }
            out.uint(F.nameIID, interned.iid(.eventName, event.name))
            for annotation in event.annotations {
                let iid = interned.iid(.annotationName, annotation.name)
                out.message(F.debugAnnotations) { Self.write(annotation, nameIID: iid, into: &$0) }
            }
            for id in event.flowsOut { out.fixed64(F.flowIDs, id) }
            for id in event.flowsIn { out.fixed64(F.terminatingFlowIDs, id) }
        }
        if let duration = event.duration {
            trackEventPacket(at: event.timestamp &+ duration) { out, _ in
                out.uint(F.type, F.sliceEnd)
                out.uint(F.trackUUID, event.track)
            }
        }
    }

    /// A top-level annotation's name is interned (`nameIID`); nested ones
    /// are written out (`DebugAnnotation.name`), as Perfetto's SDK does.
    static func write(_ annotation: Annotation, nameIID: UInt64?, into out: inout ProtoWriter) {
        typealias F = PerfettoField.DebugAnnotation
        if let nameIID {
            out.uint(F.nameIID, nameIID)
        } else {
            out.string(F.name, annotation.name)
        }
        write(annotation.value, into: &out)
    }

    static func write(_ value: Annotation.Value, into out: inout ProtoWriter) {
        typealias F = PerfettoField.DebugAnnotation
        switch value {
        case .string(let text): out.string(F.stringValue, text)
        case .int(let number): out.int(F.intValue, number)
        case .uint(let number): out.uint(F.uintValue, number)
        case .double(let number): out.double(F.doubleValue, number)
        case .bool(let flag): out.bool(F.boolValue, flag)
        case .dict(let entries):
            for entry in entries {
                out.message(F.dictEntries) { write(entry, nameIID: nil, into: &$0) }
            }
        case .array(let values):
            for element in values { out.message(F.arrayValues) { write(element, into: &$0) } }
        }
    }

    public func counter(track: UInt64, timestamp: UInt64, value: Double) {
        typealias F = PerfettoField.TrackEvent
        trackEventPacket(at: timestamp) { out, _ in
            out.uint(F.type, F.counter)
            out.uint(F.trackUUID, track)
            out.double(F.doubleCounterValue, value)
        }
    }

    public func end() { sink.flush() }
}
