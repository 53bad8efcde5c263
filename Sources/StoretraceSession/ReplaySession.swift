import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceKernel
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

    func monotonic(start: UInt64, clock: ClockOffset) -> UInt64 {
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

    public func run() throws(KernelError) -> ReplaySummary {
        let config = configuration
        let reader: CaptureReader
        do {
            reader = try CaptureReader(path: config.path)
        } catch {
            throw .other(error.description(path: config.path))
        }
        var stopped = false
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

        let sink = OutputSink(fd: config.outputFD)
        let placeholderClock = ClockOffset(realtimeMinusMonotonic: Int64(bitPattern: reader.header.creationRealtimeNs &- reader.header.creationMonotonicNs))
        let processor = RecordProcessor(
            filter: config.filter, format: config.format,
            text: TextRenderer(color: config.color, utcOffsetSeconds: KernelClock.localUTCOffset(), clock: placeholderClock),
            json: JSONRenderer(clock: placeholderClock), sink: config.nullSink ? nil : sink)
        var formats: [(system: String, format: EventFormat)] = []
        var symbols: [UInt64: String] = [:]
        processor.describeAddress = { address in symbols[address] ?? ("0x" + String(address, radix: 16)) }
        var clockSet = false
        var lowerBound: UInt64 = 0
        var upperBound: UInt64 = .max
        let start = reader.header.creationMonotonicNs

        let accept: (CaptureSchema) -> Bool = { schema in
            CaptureTypes.schemas.contains { $0.name == schema.name && $0.version == schema.version }
        }
        // What each record type of this file is, decided once per type id
        // (ids are file-local, bound to one schema for the whole file): the
        // per-record path then costs one table load, no string compares.
        let actions = UnsafeMutablePointer<ReplayAction>.allocate(capacity: 65536)
        actions.initialize(repeating: .undecided, count: 65536)
        defer { actions.deallocate() }
        func action(of type: UInt16) -> ReplayAction {
            guard let schema = reader.schemas[type] else { return .undecided }
            switch schema.name {
            case CaptureTypes.ftraceFormat.name: return .ftraceFormat
            case CaptureTypes.kernelSymbol.name: return .kernelSymbol
            case CaptureTypes.task.name: return .task
            default:
                let source = SourceKind.allCases.first { CaptureTypes.schemas[Int($0.rawValue) - 1].name == schema.name }
                return source.map(ReplayAction.source) ?? .skip
            }
        }
        let body: (CaptureRecord) throws -> Void = { record in
            if !clockSet {
                // The clock sample written at start is the offset `live` used.
                if let sample = reader.clockSamples.first {
                    let clock = ClockOffset(realtimeMinusMonotonic: sample.realtimeOffsetNs)
                    processor.text.clock = clock
                    processor.json.clock = clock
                }
                // The start snapshot comes before the first event: enrich from
                // it as `record --live` did, and name pids of function events.
                if let bytes = reader.hostSnapshots.first, let snapshot = try? NodeSnapshot(json: bytes) {
                    let index = NodeSnapshotIndex(snapshot)
                    processor.json.enrichment = SnapshotEnrichment(index)
                    // Captures written before task records existed: name a
                    // process's main thread from the snapshot. Newer ones name
                    // exactly the threads `live` named, as it named them.
                    if !reader.schemas.values.contains(where: { $0.name == CaptureTypes.task.name }) {
                        processor.tasks.resolve = { tid in
                            index.process(pid: tid).map { TaskIdentity(tgid: $0.pid, comm: Array(($0.comm ?? "").utf8)) }
                        }
                    }
                }
                lowerBound = config.since?.monotonic(start: start, clock: processor.json.clock) ?? 0
                upperBound = config.until?.monotonic(start: start, clock: processor.json.clock) ?? .max
                clockSet = true
            }
            var kind = actions[Int(record.type)]
            if case .undecided = kind {
                kind = action(of: record.type)
                actions[Int(record.type)] = kind
            }
            let source: SourceKind
            switch kind {
            case .source(let recorded):
                source = recorded
            case .undecided, .skip:
                return
            case .ftraceFormat:
                let bytes = record.payload
                guard let nul = bytes.firstIndex(of: 0) else { return }
                let system = String(decoding: bytes[..<nul], as: UTF8.self)
                if let format = try? EventFormat(parsing: UnsafeRawBufferPointer(rebasing: bytes[(nul + 1)...])) {
                    formats.append((system, format))
                    processor.ftraceCatalog = FtraceEventCatalog(formats: formats)
                }
                return
            case .task:
                if let (tid, identity) = TaskTable.decode(record.payload) { processor.tasks.insert(tid: tid, identity) }
                return
            case .kernelSymbol:
                guard record.payload.count > 8 else { return }
                let address = record.payload.loadUnaligned(as: UInt64.self)
                symbols[address] = String(decoding: record.payload[8...], as: UTF8.self)
                return
            }
            guard record.timestamp >= lowerBound, record.timestamp <= upperBound else { return }
            processor.process(RawRecord(source: source, timestamp: record.timestamp, cpu: UInt32(record.flags), bytes: record.payload))
            if sink.failure != nil {
                stopped = true
                reader.requestStop()
            }
        }
        do {
            if config.follow {
                try reader.follow(accept: accept, until: {
                    sink.flush()
                    return stopped || signalPending()
                }, body)
            } else {
                try reader.read(accept: accept, body)
            }
        } catch {
            throw .other("\(config.path): \(error)")
        }
        sink.flush()
        if let failure = sink.failure, failure != EPIPE {
            throw .system(call: "write to output", errno: .init(rawValue: failure))
        }
        return ReplaySummary(counts: processor.counts, tail: reader.tail.description,
                             corruptions: reader.corruptions.map(\.description),
                             skippedTypes: reader.stats.skippedRecords.values.reduce(0, +))
    }
}

/// What replay does with the records of one type id.
enum ReplayAction {
    case undecided
    case skip
    case ftraceFormat
    case kernelSymbol
    case task
    case source(SourceKind)
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
