import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceRecords
import StoretraceRender

/// `replay` of captures from several nodes (or boots): one timeline in
/// wall-clock order. Each node keeps a pipeline of its own (decoder with
/// its threads, device table and ftrace formats; the analyzers; a printer
/// with its clock and snapshot), so a pid, a mount id or a mount operation
/// of one node is never taken for another's; only the output is shared.
/// Each node's files are read in sequence, one chunk at a time, and the
/// next event is the earliest at the head of any node (a node's own events
/// keep their order in its capture, as a replay of that node alone shows
/// them). Memory: one chunk per node.
final class MergedReplay {
    let configuration: ReplayConfiguration
    let streams: [CaptureStream]

    init(configuration: ReplayConfiguration, streams: [CaptureStream]) {
        self.configuration = configuration
        self.streams = streams
    }

    /// One node's stream: its pipeline, and the chunk being taken from.
    final class Node {
        let stream: CaptureStream
        let pipeline: Pipeline
        let printer: EventPrinter
        let since: TimeBound?
        let until: TimeBound?
        var fileIndex = 0
        var reader: CaptureReader?
        var feed: CaptureFeed?
        /// The records of the chunk read last; valid until the next read.
        var pending: [CaptureRecord] = []
        var next = 0
        /// CLOCK_REALTIME minus CLOCK_MONOTONIC of the file being read.
        var offset: Int64 = 0
        /// The wall time the last record was taken at: a node's records
        /// are never taken out of their order in its capture.
        var lastKey: Int64 = .min
        var files: [(path: String, tail: String, corruptions: [String])] = []
        var skipped: UInt64 = 0

        init(stream: CaptureStream, pipeline: Pipeline, printer: EventPrinter, since: TimeBound?, until: TimeBound?) {
            self.stream = stream
            self.pipeline = pipeline
            self.printer = printer
            self.since = since
            self.until = until
            pending.reserveCapacity(4096)
        }

        /// Reads on until a record is waiting; false when the node has no more.
        func fill() throws(SessionError) -> Bool {
            while next >= pending.count {
                if reader == nil {
                    guard fileIndex < stream.paths.count else { return false }
                    let path = stream.paths[fileIndex]
                    let opened = try ReplaySession.open(path)
                    reader = opened
                    offset = CaptureClock.offset(of: opened).realtimeMinusMonotonic
                    feed = CaptureFeed(reader: opened, pipeline: pipeline, printer: printer, since: since, until: until)
                }
                guard let reader else { return false }
                pending.removeAll(keepingCapacity: true)
                next = 0
                let more: Bool
                do {
                    more = try reader.readChunk(accept: CaptureRecordTypes.isReadable) { pending.append($0) }
                } catch {
                    throw .readCapture(path: stream.paths[fileIndex], reason: "\(error)")
                }
                // The clock sample comes with the first chunk.
                offset = CaptureClock.offset(of: reader).realtimeMinusMonotonic
                if !more && pending.isEmpty {
                    files.append((stream.paths[fileIndex], reader.tail.description, reader.corruptions.map(\.description)))
                    skipped += reader.stats.skippedRecords.values.reduce(0, +)
                    self.reader = nil
                    feed = nil
                    fileIndex += 1
                }
            }
            return true
        }

        /// When the waiting record happened, on the wall clock.
        var headKey: Int64 {
            max(lastKey, Int64(bitPattern: pending[next].timestamp) &+ offset)
        }

        func takeHead() {
            lastKey = headKey
            let record = pending[next]
            next += 1
            feed?.take(record)
        }
    }

    func run() throws(SessionError) -> ReplaySummary {
        let config = configuration
        if config.summary {
            throw .readCapture(path: streams[1].paths[0], reason: "a summary covers one node; these captures are from \(streams.count) (\(streams.map(\.label).joined(separator: ", ")))")
        }
        signal(SIGPIPE, SIG_IGN)
        // --since +30s counts from the earliest start of any node.
        var since = config.since, until = config.until
        var earliest = Int64.max
        for stream in streams {
            let reader = try ReplaySession.open(stream.paths[0])
            earliest = min(earliest, Int64(bitPattern: reader.header.creationRealtimeNs))
        }
        if case .offset(let nanoseconds) = since { since = .wall(epochNanoseconds: earliest &+ Int64(nanoseconds)) }
        if case .offset(let nanoseconds) = until { until = .wall(epochNanoseconds: earliest &+ Int64(nanoseconds)) }

        let sink = OutputSink(fd: config.outputFD)
        let width = streams.map { HostColumn.width(of: $0.label) }.max() ?? 0
        let utcOffset = TextRenderer.localUTCOffset()
        var nodes: [Node] = []
        for stream in streams {
            let decoder = EventDecoder()
            let clock = ClockOffset(realtimeMinusMonotonic: 0) // each file's own, set by its feed
            let printer = EventPrinter(format: config.format,
                                       text: TextRenderer(color: config.color, utcOffsetSeconds: utcOffset, clock: clock),
                                       json: JSONRenderer(clock: clock), sink: sink, decoder: decoder)
            printer.host = HostColumn(host: stream.label, width: width)
            printer.kubeletRoot = config.kubeletRoot
            let pipeline = Pipeline(filter: config.filter, decoder: decoder, consumers: config.nullSink ? [] : [printer],
                                    merging: false)
            if !config.nullSink && config.filter.wants(.mountOperation) { pipeline.add(MountOperationAnalyzer(pipeline: pipeline)) }
            if !config.nullSink && config.filter.wants(.mountHealth) { pipeline.add(MountHealthAnalyzer(pipeline: pipeline, deliver: true)) }
            pipeline.add(QueueSettingFollower(printer: printer, sampler: nil))
            nodes.append(Node(stream: stream, pipeline: pipeline, printer: printer, since: since, until: until))
        }

        reading: while true {
            var best: Node?
            var bestKey = Int64.max
            for node in nodes {
                guard try node.fill() else { continue }
                let key = node.headKey
                if best == nil || key < bestKey {
                    best = node
                    bestKey = key
                }
            }
            guard let best else { break }
            best.takeHead()
            if best.pipeline.stopReason != nil { break reading }
        }
        for node in nodes { node.pipeline.finish() }
        if let failure = sink.failure, failure != EPIPE { throw .output(errno: failure) }

        var counts = PipelineCounts()
        var files: [(path: String, tail: String, corruptions: [String])] = []
        var withoutTask: UInt64 = 0, skipped: UInt64 = 0
        for node in nodes {
            counts += node.pipeline.counts
            // A node cut short by a stop: its file being read ends there.
            if let reader = node.reader {
                node.files.append((node.stream.paths[node.fileIndex], reader.tail.description, reader.corruptions.map(\.description)))
            }
            files += node.files
            withoutTask += node.pipeline.decoder.tasks.eventsWithoutTask
            skipped += node.skipped
        }
        var summary = ReplaySummary(counts: counts, tail: files.last?.tail ?? "", corruptions: files.flatMap(\.corruptions),
                                    skippedTypes: skipped, eventsWithoutTask: withoutTask, storage: nil,
                                    clock: nodes[0].printer.clock)
        summary.files = files
        summary.nodes = streams.map { (label: $0.label, paths: $0.paths) }
        return summary
    }
}
