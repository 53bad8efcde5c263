import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceRecords
import StoretraceRender

public struct ReplayConfiguration: Sendable {
    public var path: String
    public var filter = EventFilter()
    public var format = OutputFormat.text
    public var color = false
    /// Only events at or after / before these CLOCK_MONOTONIC times of the capture.
    public var since: TimeBound?
    public var until: TimeBound?
    /// Keep reading as the capture grows, until its writer closes it or Ctrl-C.
    public var follow = false
    /// Decode and filter but print nothing (for measuring).
    public var nullSink = false
    public var outputFD: Int32 = STDOUT_FILENO
    public var statusFD: Int32 = STDERR_FILENO
    public init(path: String) { self.path = path }
}

/// A point in a capture's time: wall clock, or an offset from its start.
public enum TimeBound: Sendable, Equatable {
    case wall(epochNanoseconds: Int64)
    case offset(nanoseconds: UInt64)

    /// "+30s", "+1.5m" (from the capture's start) or RFC 3339
    /// ("2026-11-23T14:07:31Z", "2026-11-23T14:07:31.5+01:00").
    public static func parse(_ text: String, durations: (String) -> UInt64?) -> TimeBound? {
        if text.hasPrefix("+") { return durations(String(text.dropFirst())).map { .offset(nanoseconds: $0) } }
        return RFC3339.parse(text).map { .wall(epochNanoseconds: $0) }
    }

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
    public var tail: String
    public var corruptions: [String]
    public var skippedTypes: UInt64
}

/// `storetrace replay`: the capture is one more source feeding the same
/// pipeline as `live`, so the same events print the same bytes.
public final class ReplaySession {
    public let configuration: ReplayConfiguration

    public init(configuration: ReplayConfiguration) {
        self.configuration = configuration
    }

    public func run() throws(SessionError) -> ReplaySummary {
        let config = configuration
        let reader: CaptureReader
        do {
            reader = try CaptureReader(path: config.path)
        } catch {
            throw .openCapture(error, path: config.path)
        }
        if let problem = CaptureRecordTypes.byteOrderProblem(reader.header) {
            throw .readCapture(path: config.path, reason: problem)
        }
        if config.follow {
            // Ctrl-C ends a follow: check for it between reads.
            var set = sigset_t()
            sigemptyset(&set)
            for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
            pthread_sigmask(SIG_BLOCK, &set, nil)
        }
        signal(SIGPIPE, SIG_IGN)
        func signalPending() -> Bool {
            var pending = sigset_t()
            sigpending(&pending)
            return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGHUP) == 1
        }

        let decoder = EventDecoder()
        let clock = CaptureClock.offset(of: reader)
        let printer = EventPrinter(format: config.format,
                                   text: TextRenderer(color: config.color, utcOffsetSeconds: TextRenderer.localUTCOffset(), clock: clock),
                                   json: JSONRenderer(clock: clock), sink: OutputSink(fd: config.outputFD), decoder: decoder)
        let pipeline = Pipeline(filter: config.filter, decoder: decoder, consumers: config.nullSink ? [] : [printer],
                                merging: false)
        let feed = CaptureFeed(reader: reader, pipeline: pipeline, printer: printer, since: config.since, until: config.until)
        do {
            if config.follow {
                try reader.follow(accept: CaptureRecordTypes.isReadable, until: {
                    pipeline.batchEnded()
                    return pipeline.stopReason != nil || signalPending()
                }) { record in feed.take(record) }
            } else {
                try reader.read(accept: CaptureRecordTypes.isReadable) { record in feed.take(record) }
            }
        } catch {
            throw .readCapture(path: config.path, reason: "\(error)")
        }
        pipeline.finish()
        if let failure = printer.sink.failure, failure != EPIPE { throw .output(errno: failure) }
        return ReplaySummary(counts: pipeline.counts, tail: reader.tail.description,
                             corruptions: reader.corruptions.map(\.description),
                             skippedTypes: reader.stats.skippedRecords.values.reduce(0, +))
    }
}

/// The capture as a source: each record by the role of its type (data,
/// ftrace formats, kernel symbols, threads), data records inside the time
/// bounds into the pipeline. The first record also sets up what the start
/// of the capture holds: the clock sample and the node snapshot.
final class CaptureFeed {
    let reader: CaptureReader
    let pipeline: Pipeline
    let printer: EventPrinter
    let since: TimeBound?
    let until: TimeBound?
    private var started = false
    private var lowerBound: UInt64 = 0
    private var upperBound: UInt64 = .max
    private var formats: [(system: String, format: EventFormat)] = []
    private var symbols: [UInt64: String] = [:]
    /// Type ids are file-local and bound to one schema for the whole file:
    /// decided once per id, the per-record path is one table load.
    private let roles = UnsafeMutablePointer<CaptureRecordRole?>.allocate(capacity: 65536)

    init(reader: CaptureReader, pipeline: Pipeline, printer: EventPrinter, since: TimeBound?, until: TimeBound?) {
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
        printer.clock = clock
        // The start snapshot comes before the first event: enrich from it as
        // `record --live` did, and name pids of function events.
        if let bytes = reader.hostSnapshots.first, let snapshot = try? NodeSnapshot(json: bytes) {
            let index = NodeSnapshotIndex(snapshot)
            printer.json.enrichment = SnapshotEnrichment(index)
            // Captures written before task records existed: name a process's
            // main thread from the snapshot. Newer ones name exactly the
            // threads `live` named, as it named them.
            if !reader.schemas.values.contains(where: { $0.name == CaptureRecordTypes.task.name }) {
                pipeline.decoder.tasks.resolve = { tid in
                    index.process(pid: tid).map { TaskIdentity(tgid: $0.pid, comm: Array(($0.comm ?? "").utf8)) }
                }
            }
        }
        let start = reader.header.creationMonotonicNs
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
        case .skip:
            return
        case .ftraceFormat:
            if let (system, format) = FtraceFormatCodec.decode(record.payload) {
                formats.append((system, format))
                pipeline.decoder.ftraceCatalog = FtraceEventCatalog(formats: formats)
            }
        case .task:
            if let (tid, identity) = TaskCodec.decode(record.payload) { pipeline.decoder.tasks.insert(tid: tid, identity) }
        case .kernelSymbol:
            if let (address, name) = KernelSymbolCodec.decode(record.payload) { symbols[address] = name }
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

/// RFC 3339 date-times to epoch nanoseconds (UTC "Z" or a numeric offset).
public enum RFC3339 {
    public static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " "),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var nanos = 0
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int(bytes[index] - 48); digits += 1 }
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanos *= 10 }
        }
        var offsetSeconds = 0
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
            index += 1
        } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            guard let hours = number((index + 1)..<(index + 3)), index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                  let minutes = number((index + 4)..<(index + 6)) else { return nil }
            offsetSeconds = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        // days_from_civil (Howard Hinnant)
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Int64(seconds) * 1_000_000_000 + Int64(nanos)
    }
}
