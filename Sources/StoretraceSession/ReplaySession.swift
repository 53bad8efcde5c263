import Glibc
import StoretraceAnalyze
import StoretraceCapture
import StoretraceDecode
import StoretraceRecords
import StoretraceRender

public struct ReplayConfiguration: Sendable {
    /// The captures, read as one in this order (`CaptureSet.paths`): the
    /// files of one node, e.g. a `record --rotate` ring.
    public var paths: [String]
    public var path: String {
        get { paths[0] }
        set { paths = [newValue] }
    }
    public var filter = EventFilter()
    public var format = OutputFormat.text
    public var color = false
    /// Only events at or after / before these CLOCK_MONOTONIC times of the capture.
    public var since: TimeBound?
    public var until: TimeBound?
    /// Keep reading as the capture grows, until its writer closes it or Ctrl-C.
    public var follow = false
    /// Decode and filter but print nothing (for measuring, and `summary`).
    public var nullSink = false
    /// `--kubelet-root`: kubelet paths are read under it only.
    public var kubeletRoot: String?
    /// Build a `StorageSummary` (`storetrace summary`), returned in `ReplaySummary.storage`.
    public var summary = false
    public var outputFD: Int32 = STDOUT_FILENO
    public var statusFD: Int32 = STDERR_FILENO
    public init(path: String) { self.paths = [path] }
    public init(paths: [String]) { self.paths = paths }
}

/// A point in a capture's time: wall clock, or an offset from its start.
public enum TimeBound: Sendable, Equatable {
    case wall(epochNanoseconds: Int64)
    case offset(nanoseconds: UInt64)

    public func monotonic(start: UInt64, clock: ClockOffset) -> UInt64 {
        switch self {
        case .offset(let nanoseconds): return start &+ nanoseconds
        case .wall(let epoch):
            let value = epoch - clock.realtimeMinusMonotonic
            return value < 0 ? 0 : UInt64(value)
        }
    }
}

public struct ReplaySummary: Sendable {
    public var counts: PipelineCounts
    /// How the last file ended.
    public var tail: String
    public var corruptions: [String]
    /// Each file, in the order read: how it ended, what was skipped in it.
    public var files: [(path: String, tail: String, corruptions: [String])] = []
    public var skippedTypes: UInt64
    /// ftrace events whose thread the capture does not name (`TaskTable`).
    public var eventsWithoutTask: UInt64 = 0
    public var storage: StorageSummary?
    /// The capture's clock (`CaptureClock`); the first node's when several were merged.
    public var clock = ClockOffset(realtimeMinusMonotonic: 0)
    /// The nodes merged (`CaptureStream.label`, their files); empty for one node.
    public var nodes: [(label: String, paths: [String])] = []
}

/// A consumer that takes a replay's events in place of the printer
/// (`storetrace export`): told what each capture file starts with.
public protocol ReplayConsumer: EventConsumer {
    func captureStarted(_ start: CaptureStart)
}

/// What a capture file starts with, for a `ReplayConsumer`.
public struct CaptureStart {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC when it was recorded.
    public var clock: ClockOffset
    /// When the recording started (CLOCK_MONOTONIC ns).
    public var startMonotonic: UInt64
    /// The node as it was then; nil for a capture without a snapshot.
    public var snapshot: NodeSnapshot?
    /// Renders events as `replay` would (in the configuration's format), kept
    /// current by the session: the snapshot, the read-ahead in force, pods.
    /// The device table reaches consumers, not the printer: a consumer
    /// hands `devicesChanged` on to it.
    public var printer: EventPrinter
    /// Names kernel addresses (`describeAddress`), threads and pods as the capture does.
    public var decoder: EventDecoder

    public init(clock: ClockOffset, startMonotonic: UInt64, snapshot: NodeSnapshot?, printer: EventPrinter, decoder: EventDecoder) {
        self.clock = clock
        self.startMonotonic = startMonotonic
        self.snapshot = snapshot
        self.printer = printer
        self.decoder = decoder
    }
}

/// `storetrace replay`: the capture is one more source feeding the same
/// pipeline as `live`, so the same events print the same bytes.
public final class ReplaySession {
    public let configuration: ReplayConfiguration
    /// Takes the events instead of the printer (`storetrace export`).
    public let consumer: ReplayConsumer?

    public init(configuration: ReplayConfiguration, consumer: ReplayConsumer? = nil) {
        self.configuration = configuration
        self.consumer = consumer
    }

    public func run() throws(SessionError) -> ReplaySummary {
        let config = configuration
        if config.follow && config.paths.count > 1 {
            throw .readCapture(path: config.paths[1], reason: "--follow reads one capture; \(config.paths.count) were given")
        }
        // Captures of several nodes (or boots): one timeline by wall clock.
        if config.paths.count > 1 {
            let streams = try CaptureSet.streams(files: config.paths)
            if streams.count > 1 {
                if consumer != nil {
                    throw .readCapture(path: streams[1].paths[0], reason: "these captures are from \(streams.count) nodes (\(streams.map(\.label).joined(separator: ", "))); give one node's")
                }
                return try MergedReplay(configuration: config, streams: streams).run()
            }
        }
        var readers: [CaptureReader] = []
        let open = Self.open
        let first = try open(config.paths[0])
        // Ctrl-C ends a follow: checked between reads.
        let interrupt = config.follow ? FollowInterrupt() : nil
        signal(SIGPIPE, SIG_IGN)
        let clock = CaptureClock.offset(of: first)
        let (printer, pipeline, summarizer) = assemble(clock: clock)
        var files: [(path: String, tail: String, corruptions: [String])] = []
        var skipped: UInt64 = 0
        var node: String?
        for (index, path) in config.paths.enumerated() {
            let reader = index == 0 ? first : try open(path)
            // --since +30s counts from the start of the first file.
            let feed = CaptureFeed(reader: reader, pipeline: pipeline, printer: printer, since: config.since, until: config.until,
                                   origin: first.header.creationMonotonicNs)
            feed.summarizer = index == 0 ? summarizer : nil
            feed.consumer = consumer
            do {
                if config.follow {
                    try reader.follow(accept: CaptureRecordTypes.isReadable, until: {
                        pipeline.batchEnded()
                        return pipeline.stopReason != nil || interrupt?.isPending == true
                    }) { record in feed.take(record) }
                } else {
                    try reader.read(accept: CaptureRecordTypes.isReadable) { record in feed.take(record) }
                }
            } catch {
                throw .readCapture(path: path, reason: "\(error)")
            }
            // One node's files only: their clocks, threads and devices are one node's.
            if let host = feed.node {
                if let node, node != host {
                    throw .readCapture(path: path, reason: "recorded on \(host), not on \(node) like \(config.paths[0]); replay reads the captures of one node")
                }
                node = host
            }
            files.append((path, reader.tail.description, reader.corruptions.map(\.description)))
            skipped += reader.stats.skippedRecords.values.reduce(0, +)
            readers = [reader]
            if pipeline.stopReason != nil { break }
        }
        pipeline.finish()
        if let failure = printer.sink.failure, failure != EPIPE { throw .output(errno: failure) }
        var summary = ReplaySummary(counts: pipeline.counts, tail: readers.last?.tail.description ?? "",
                                    corruptions: files.flatMap(\.corruptions), skippedTypes: skipped,
                                    eventsWithoutTask: pipeline.decoder.tasks.eventsWithoutTask,
                                    storage: summarizer?.summary, clock: clock)
        summary.files = files
        return summary
    }
}

extension ReplaySession {
    /// The printer (rendering with the capture's clock; a consumer only
    /// when nothing takes its place), the pipeline with the analyzers
    /// replay runs, and the summary's analyzer with `--summary`.
    private func assemble(clock: ClockOffset) -> (EventPrinter, Pipeline, SummaryAnalyzer?) {
        let config = configuration
        let decoder = EventDecoder()
        let printer = EventPrinter(format: config.format,
                                   text: TextRenderer(color: config.color, utcOffsetSeconds: TextRenderer.localUTCOffset(), clock: clock),
                                   json: JSONRenderer(clock: clock), sink: OutputSink(fd: config.outputFD), decoder: decoder)
        printer.kubeletRoot = config.kubeletRoot
        let consumers: [EventConsumer] = consumer.map { [$0] } ?? (config.nullSink ? [] : [printer])
        let pipeline = Pipeline(filter: config.filter, decoder: decoder, consumers: consumers, merging: false)
        if !config.nullSink && config.filter.wants(.mountOperation) { pipeline.add(MountOperationAnalyzer(pipeline: pipeline)) }
        let showsHealth = !config.nullSink && config.filter.wants(.mountHealth)
        let health = showsHealth || config.summary ? MountHealthAnalyzer(pipeline: pipeline, deliver: showsHealth) : nil
        if let health { pipeline.add(health) }
        // Copies show the read-ahead in force at their time.
        pipeline.add(QueueSettingFollower(printer: printer, sampler: nil))
        let summarizer = config.summary ? SummaryAnalyzer(devices: BlockDevicesInForce(), filter: config.filter) : nil
        summarizer?.mountHealth = health
        if config.filter.hasContextFilters { summarizer?.pipeline = pipeline }
        if let summarizer { pipeline.add(summarizer) }
        // A consumer that is also an analyzer (`storetrace report`) sees every event, filtered out or not.
        if let analyzer = consumer as? EventAnalyzer { pipeline.add(analyzer) }
        return (printer, pipeline, summarizer)
    }

    /// Opens a capture this host can decode.
    static func open(_ path: String) throws(SessionError) -> CaptureReader {
        let reader: CaptureReader
        do {
            reader = try CaptureReader(path: path)
        } catch {
            throw .openCapture(error, path: path)
        }
        if let problem = CaptureRecordTypes.byteOrderProblem(reader.header) {
            throw .readCapture(path: path, reason: problem)
        }
        return reader
    }
}

/// The capture as a source: each record by the role of its type (data,
/// ftrace formats, kernel symbols, threads), data records inside the time
/// bounds into the pipeline. The first record also sets up what the start
/// of the capture holds: the clock sample and the node snapshot.
final class CaptureFeed {
    let reader: CaptureReader
    let pipeline: Pipeline
    let printer: EventPrinter?
    let since: TimeBound?
    let until: TimeBound?
    /// Takes the start snapshot's block devices (`storetrace summary`).
    var summarizer: SummaryAnalyzer?
    /// Told what the capture starts with (`ReplaySession.consumer`).
    var consumer: ReplayConsumer?
    /// The host name in the start snapshot, once the first record was read.
    private(set) var node: String?
    /// Where `--since +30s` counts from (default: this capture's start).
    let origin: UInt64?
    private var started = false
    private var lowerBound: UInt64 = 0
    private var upperBound: UInt64 = .max
    private var formats: [(system: String, format: EventFormat)] = []
    private var symbols: [UInt64: String] = [:]
    /// Type ids are file-local and bound to one schema for the whole file:
    /// decided once per id, the per-record path is one table load.
    private let roles = UnsafeMutablePointer<CaptureRecordRole?>.allocate(capacity: 65536)

    init(reader: CaptureReader, pipeline: Pipeline, printer: EventPrinter?, since: TimeBound?, until: TimeBound?,
         origin: UInt64? = nil) {
        self.origin = origin
        self.reader = reader
        self.pipeline = pipeline
        self.printer = printer
        self.since = since
        self.until = until
        roles.initialize(repeating: nil, count: 65536)
        pipeline.decoder.describeAddress = { [unowned self] address in
            symbols[address] ?? ("0x" + String(address, radix: 16))
        }
    }

    deinit { roles.deallocate() }

    private func start() {
        started = true
        let clock = CaptureClock.offset(of: reader)
        printer?.clock = clock
        // The start snapshot comes before the first event: enrich from it as
        // `record --live` did, and name pids of function events.
        let snapshot = reader.hostSnapshots.first.flatMap { try? NodeSnapshot(json: $0) }
        if let snapshot {
            node = snapshot.hostname ?? "an unnamed host"
            printer?.enrichment = SnapshotEnrichment(NodeSnapshotIndex(snapshot))
            summarizer?.start(devices: BlockDevicesInForce(snapshot.blockDevices))
        }
        // A consumer in the printer's place (export, report) gets the printer
        // before the first device table reaches it.
        if let consumer, let printer {
            consumer.captureStarted(CaptureStart(clock: clock, startMonotonic: reader.header.creationMonotonicNs,
                                                 snapshot: snapshot, printer: printer, decoder: pipeline.decoder))
        }
        if let snapshot {
            // Captures from before device tables: the start snapshot's devices.
            if !reader.schemas.values.contains(where: { $0.name == CaptureRecordTypes.devices.name }) {
                pipeline.updateDevices(DeviceTable(snapshot), json: [], timestamp: reader.header.creationMonotonicNs)
            }
            // Captures written before task records existed: name a process's
            // main thread from the snapshot. Newer ones name exactly the
            // threads `live` named, as it named them.
            if !reader.schemas.values.contains(where: { $0.name == CaptureRecordTypes.task.name }) {
                let index = NodeSnapshotIndex(snapshot)
                pipeline.decoder.tasks.resolve = { tid in
                    index.process(pid: tid).map { TaskIdentity(tgid: $0.pid, comm: Array(($0.comm ?? "").utf8)) }
                }
            }
        }
        let start = origin ?? reader.header.creationMonotonicNs
        lowerBound = since?.monotonic(start: start, clock: clock) ?? 0
        upperBound = until?.monotonic(start: start, clock: clock) ?? .max
    }

    func take(_ record: CaptureRecord) {
        if !started { start() }
        let role: CaptureRecordRole
        if let known = roles[Int(record.type)] {
            role = known
        } else {
            role = CaptureRecordRole(reader.schemas[record.type])
            roles[Int(record.type)] = role
        }
        switch role {
        case .skip, .notice:
            return
        case .ftraceFormat:
            // Repeated with every schema set: a format already known is skipped.
            if let (system, format) = FtraceFormatCodec.decode(record.payload),
               !formats.contains(where: { $0.format.id == format.id && $0.system == system && $0.format.name == format.name }) {
                formats.append((system, format))
                pipeline.decoder.ftraceCatalog = FtraceEventCatalog(formats: formats)
            }
        case .task:
            if let (tid, identity) = TaskCodec.decode(record.payload) { pipeline.decoder.tasks.insert(tid: tid, identity) }
        case .cgroupPath:
            if let entry = CgroupPathCodec.decode(record.payload) { pipeline.decoder.pods.insert(entry) }
        case .kernelSymbol:
            if let (address, name) = KernelSymbolCodec.decode(record.payload) { symbols[address] = name }
        case .devices:
            if let snapshot = try? NodeSnapshot(json: Array(record.payload)) {
                pipeline.updateDevices(DeviceTable(snapshot), json: Array(record.payload), timestamp: record.timestamp)
            }
        case .data(let kind, let cpuInPayload):
            guard record.timestamp >= lowerBound, record.timestamp <= upperBound else { return }
            guard let raw = DataRecordCodec.decode(kind: kind, cpuInPayload: cpuInPayload, timestamp: record.timestamp,
                                                   flags: record.flags, payload: record.payload) else {
                pipeline.reject("\(kind.name) record shorter than its capture header")
                return
            }
            pipeline.process(raw)
            if pipeline.stopReason != nil { reader.requestStop() }
        }
    }
}

/// `replay --follow` ends on SIGINT, SIGTERM or SIGHUP: they are blocked, and
/// the follow loop asks between reads whether one is pending.
struct FollowInterrupt {
    static let signals = [SIGINT, SIGTERM, SIGHUP]

    init() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in Self.signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    var isPending: Bool {
        var pending = sigset_t()
        sigpending(&pending)
        return Self.signals.contains { sigismember(&pending, $0) == 1 }
    }
}
