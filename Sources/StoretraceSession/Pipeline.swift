import StoretraceDecode
import StoretraceRecords

/// Counts of what went through the pipeline.
public struct PipelineCounts: Equatable, Sendable {
    /// Records received from the sources.
    public var received: UInt64 = 0
    /// Events that passed the filters and went to the consumers.
    public var shown: UInt64 = 0
    /// Records that failed validation and were skipped.
    public var malformed: UInt64 = 0
    /// ftrace records whose format the session does not have (none was
    /// loaded or recorded for their event id): their schema is missing, the
    /// bytes may be fine.
    public var schemaMissing: UInt64 = 0
    /// Uevents of subsystems the filter leaves out (`--subsystem`): their
    /// sequence numbers are the gaps a reader sees between shown uevents.
    public var ueventsOtherSubsystems: UInt64 = 0
    /// Derived events (mount operations, mount_health) that passed the filters.
    public var derivedShown: UInt64 = 0
    /// Of those, mount_health events.
    public var mountHealthShown: UInt64 = 0
    /// Events that passed, by source kind (`SourceKind.index`).
    public var bySource: [UInt64] = Array(repeating: 0, count: SourceKind.indexCount)
    public init() {}

    /// The counts of several pipelines together (a replay of several nodes).
    public static func += (total: inout PipelineCounts, other: PipelineCounts) {
        total.received &+= other.received
        total.shown &+= other.shown
        total.malformed &+= other.malformed
        total.schemaMissing &+= other.schemaMissing
        total.ueventsOtherSubsystems &+= other.ueventsOtherSubsystems
        total.derivedShown &+= other.derivedShown
        total.mountHealthShown &+= other.mountHealthShown
        for index in total.bySource.indices where index < other.bySource.count { total.bySource[index] &+= other.bySource[index] }
    }

    /// Records received that a filter left out (counted, never silent).
    public var filteredOut: UInt64 { received - shown - malformed - schemaMissing }
}

/// Records in, events out: sources → merge in time order → decode once →
/// filter → every consumer. `live`, `record` and `replay` build the same
/// pipeline with different sources and consumers. Nothing here allocates
/// per record once the buffers have grown.
public final class Pipeline {
    public let filter: EventFilter
    public let decoder: EventDecoder
    public let consumers: [EventConsumer]
    /// `consumers`, as the per-record path walks them (`CallChain`).
    private let consumerChain: CallChain<any EventConsumer>?
    /// See every event after the consumers; added after the pipeline exists
    /// (they deliver what they derive back into it).
    public private(set) var analyzers: [EventAnalyzer] = []
    /// The analyzers that observe each route (`EventRoutes.index`), in the
    /// order they were added, and the routes that have any.
    private var analyzerChains = [CallChain<any EventAnalyzer>?](repeating: nil, count: EventRoutes.count)
    private var observedRoutes: EventRoutes = []
    /// The stamp of the last record processed: when analyzers finish.
    public private(set) var lastTimestamp: UInt64 = 0
    public private(set) var counts = PipelineCounts()
    /// Whether the last record processed passed every filter (the context
    /// ones too): what analyzers that follow the filters ask, as they see
    /// each event right after the consumers did.
    public private(set) var lastEventShown = false
    /// Why the last malformed record was rejected.
    public private(set) var lastMalformed: String?
    /// `filter.hasContextFilters`, asked for every event (four array counts).
    private let hasContextFilters: Bool
    /// `decoder.pods`, asked for every event: reached through one `let`, the
    /// table is not retained around each lookup (through two it was).
    private let pods: PodTable
    /// Set when records come from more than one source: they arrive
    /// interleaved by when each buffer was read, and leave in time order.
    private let merge: ReorderBuffer?

    public init(filter: EventFilter, decoder: EventDecoder = EventDecoder(), consumers: [EventConsumer],
                merging: Bool) {
        self.filter = filter
        self.decoder = decoder
        self.consumers = consumers
        consumerChain = .of(consumers)
        hasContextFilters = filter.hasContextFilters
        pods = decoder.pods
        self.merge = merging ? ReorderBuffer() : nil
    }

    /// The merge window: how far behind the clock records are held back.
    public var mergeWindow: UInt64? { merge?.window }

    /// A record from a source, in place.
    @inline(__always)
    public func submit(_ raw: RawRecord) {
        if let merge { merge.insert(raw) { process($0) } } else { process(raw) }
    }

    /// Releases merged records stamped at or before `watermark`, then ends the batch.
    public func release(upTo watermark: UInt64) {
        merge?.flush(upTo: watermark) { process($0) }
        if let pending = pendingDevices, pending.timestamp <= watermark { applyPendingDevices() }
        batchEnded()
    }

    /// Every held record, what the analyzers still hold, then the batch end: at the stop.
    public func finish() {
        merge?.flush(upTo: .max) { process($0) }
        applyPendingDevices()
        for analyzer in analyzers { analyzer.finish(at: lastTimestamp) }
        batchEnded()
    }

    public func add(_ analyzer: EventAnalyzer) {
        analyzers.append(analyzer)
        observedRoutes.formUnion(analyzer.observes)
        // Rebuilt whole (a chain is immutable): a session adds a few analyzers, once.
        for index in analyzerChains.indices {
            let route = EventRoutes(index: index)
            analyzerChains[index] = .of(analyzers.filter { $0.observes.contains(route) })
        }
    }

    /// An event an analyzer derived: filtered like the others, then handed
    /// to the consumers that show events (not to the recorder).
    public func deliverDerived(_ event: Event, timestamp: UInt64) {
        guard filter.accepts(event), acceptsContext(event) else { return }
        counts.derivedShown &+= 1
        if case .mountHealth = event { counts.mountHealthShown &+= 1 }
        for consumer in consumers { consumer.consumeDerived(event, timestamp: timestamp) }
    }

    /// A device table taken live at `timestamp`, waiting for the merge to
    /// release every record stamped before it.
    private var pendingDevices: (table: DeviceTable, json: [UInt8], timestamp: UInt64)?

    /// A device table taken live at `timestamp` (`DeviceWatch`): applied in
    /// time order among the records, once the merge has released those
    /// stamped before it (at once without a merge), so the capture holds
    /// it, and replay applies it, where it belongs on the timeline.
    public func scheduleDevices(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {
        applyPendingDevices()
        pendingDevices = (table, json, timestamp)
        if merge == nil { applyPendingDevices() }
    }

    private func applyPendingDevices() {
        guard let pending = pendingDevices else { return }
        pendingDevices = nil
        updateDevices(pending.table, json: pending.json, timestamp: pending.timestamp)
    }

    /// A new device table, at `timestamp`, in stream order: what the
    /// events after it are resolved against. The recorder stores `json`,
    /// and replay reads it back at the same place among the records.
    public func updateDevices(_ table: DeviceTable, json: [UInt8], timestamp: UInt64) {
        let old = decoder.devices
        decoder.devices = table
        for consumer in consumers { consumer.devicesChanged(table, json: json, timestamp: timestamp) }
        for analyzer in analyzers { analyzer.devicesChanged(from: old, timestamp: timestamp) }
    }

    /// --pod, --container, --path, --device (`ContextFilter.swift`).
    @inline(__always)
    private func acceptsContext(_ event: Event) -> Bool {
        guard hasContextFilters else { return true }
        var pod: PodCgroup?
        if filter.hasPodFilters, case .syscall(let record) = event { pod = decoder.pods.pod(of: record) }
        return filter.acceptsContext(event, pod: pod, devices: decoder.devices)
    }

    public func batchEnded() {
        for consumer in consumers { consumer.batchEnded() }
    }

    /// The first reason a consumer gives to stop.
    public var stopReason: StopReason? { consumerChain?.stopReason }

    /// A record a source could not even hand over whole: counted as malformed.
    public func reject(_ why: String) {
        counts.received &+= 1
        counts.malformed &+= 1
        lastMalformed = why
    }

    /// Decodes, filters and delivers one record (already in time order).
    public func process(_ raw: RawRecord) {
        // The stamp alone: binding the whole pending tuple copied (retained) its tables per record.
        if let due = pendingDevices?.timestamp, due < raw.timestamp { applyPendingDevices() }
        counts.received &+= 1
        // Syscalls (nearly every record of a storm) apart: the event's case
        // is then known where its life ends, and nothing switches over it to
        // destroy it (an outlined destroy of `Event` per record).
        if raw.source == .syscall {
            let record: SyscallRecord
            do { record = try SyscallRecord(validating: raw.bytes) } catch { count(.syscall(error)); return }
            deliver(.syscall(record), raw: raw)
            return
        }
        let event: Event
        do {
            event = try decoder.decode(raw)
        } catch {
            count(error)
            return
        }
        deliver(event, raw: raw)
    }

    private func count(_ failure: EventDecoder.Failure) {
        switch failure {
        case .ftraceWithoutFormats, .ftrace(.unknownEventType): counts.schemaMissing &+= 1
        default:
            counts.malformed &+= 1
            lastMalformed = failure.description
        }
    }

    /// Filters a decoded record's event and hands it to the consumers, then to the analyzers.
    @inline(__always)
    private func deliver(_ event: Event, raw: RawRecord) {
        lastTimestamp = raw.timestamp
        lastEventShown = filter.accepts(event)
        // The pod of a shown call's process, resolved (and recorded) before
        // the context filters and the consumers need it: a table lookup per event.
        if lastEventShown, pods.isActive, case .syscall(let record) = event { pods.prepare(record) }
        lastEventShown = lastEventShown && acceptsContext(event)
        if lastEventShown {
            counts.shown &+= 1
            counts.bySource[raw.source.index] &+= 1
            consumerChain?.consume(event, raw: raw)
        } else if case .uevent(let message) = event, !filter.keepsSubsystem(message.subsystem) {
            counts.ueventsOtherSubsystems &+= 1
        }
        let route = EventRoutes.route(of: event)
        if observedRoutes.contains(route) { analyzerChains[route.index]?.observe(event, raw: raw) }
    }
}
