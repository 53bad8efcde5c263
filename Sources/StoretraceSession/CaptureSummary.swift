import StoretraceCapture
import StoretraceDecode
import StoretraceRecords

/// What `storetrace info` says of a capture, read in one pass with flat
/// memory: its span, records by type, what was skipped or damaged, how it
/// ended, and its node snapshots.
public struct CaptureSummary {
    public let header: CaptureFileHeader
    /// The capture's clock (`CaptureClock`): the one replay renders with.
    public let clock: ClockOffset
    /// CLOCK_MONOTONIC of the first and last record; nil for an empty capture.
    public let span: (first: UInt64, last: UInt64)?
    /// Records by type, in type id order: "storetrace.syscall v1", count.
    public let countsByType: [(type: String, count: UInt64)]
    /// Records of types this storetrace does not know, by type id.
    public let skippedByType: [(id: UInt16, count: UInt64)]
    public let trailer: CaptureTrailer?
    public let tail: CaptureTail
    public let corruptions: [CaptureCorruption]
    /// The node snapshots, in order (the first at start, the last at the end).
    public internal(set) var snapshots: [NodeSnapshot]
    /// The clock samples, in order (the first, at creation, is the capture's clock).
    public let clockSamples: [CaptureClockSample]
    /// Its chunks, and how many of them were stored compressed.
    public let chunks: UInt64
    public let compressedChunks: UInt64
    /// Bytes of records (decoded) and what their chunks' payloads took in the file.
    public let recordBytes: UInt64
    public let storedBytes: UInt64
    /// What storetrace said as it started recording (`storetrace.notice`):
    /// sources the kernel refused, syscalls it could not trace. Each once,
    /// at most `noticeLimit`; as stored (escape them to show them).
    public let notices: [String]
    public static let noticeLimit = 64

    /// The notices of several files (a ring repeats them in each), each once, in order.
    public static func notices(of summaries: [CaptureSummary]) -> [String] {
        var all: [String] = []
        for notice in summaries.lazy.flatMap(\.notices) where !all.contains(notice) { all.append(notice) }
        return all
    }

    public init(path: String) throws(SessionError) {
        let reader: CaptureReader
        do {
            reader = try CaptureReader(path: path)
        } catch {
            throw .openCapture(error, path: path)
        }
        var first: UInt64 = .max, last: UInt64 = 0
        var counts: [UInt16: UInt64] = [:]
        var isNotice: [UInt16: Bool] = [:] // by type id: ids are bound to one schema per file
        var notices: [String] = []
        do {
            try reader.read { record in
                first = min(first, record.timestamp)
                last = max(last, record.timestamp)
                counts[record.type, default: 0] += 1
                let notice = isNotice[record.type] ?? {
                    let matches = CaptureRecordRole(reader.schemas[record.type]) == .notice
                    isNotice[record.type] = matches
                    return matches
                }()
                if notice, notices.count < Self.noticeLimit, let text = NoticeCodec.decode(record.payload),
                   !notices.contains(text) {
                    notices.append(text)
                }
            }
        } catch {
            throw .readCapture(path: path, reason: "\(error)")
        }
        header = reader.header
        clock = CaptureClock.offset(of: reader)
        span = first <= last ? (first, last) : nil
        countsByType = counts.sorted { $0.key < $1.key }.map { type, count in
            (reader.schemas[type].map { "\($0.name) v\($0.version)" } ?? "type \(type) (no schema)", count)
        }
        skippedByType = reader.stats.skippedRecords.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        trailer = reader.trailer
        tail = reader.tail
        corruptions = reader.corruptions
        snapshots = reader.hostSnapshots.compactMap { try? NodeSnapshot(json: $0) }
        clockSamples = reader.clockSamples
        chunks = reader.stats.chunks
        compressedChunks = reader.stats.encodedChunks
        recordBytes = reader.stats.recordBytes
        storedBytes = reader.stats.storedPayloadBytes
        self.notices = notices
    }
}
