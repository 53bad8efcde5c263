import StoretraceRecords

/// Merges records from several sources into time order. Each source is in
/// order on its own (or nearly: syscalls are emitted at exit but stamped at
/// entry), but they arrive interleaved by when their buffers were read. The
/// buffer holds copies of records for `window` nanoseconds and releases
/// them sorted by timestamp once the clock has passed them.
///
/// Memory is two preallocated arenas and one index array: no allocation per
/// record. A record later than the window (a syscall that ran longer than
/// it) is released at the next flush, slightly out of order, never dropped.
public final class ReorderBuffer {
    struct Entry {
        var timestamp: UInt64
        var source: SourceKind
        var cpu: UInt32
        var offset: Int
        var length: Int
    }

    public let window: UInt64
    private var arena: UnsafeMutableRawBufferPointer
    private var spare: UnsafeMutableRawBufferPointer
    private var used = 0
    private var entries: [Entry] = []
    private let maxEntries: Int

    public init(window: UInt64 = 100_000_000, arenaBytes: Int = 16 << 20, maxEntries: Int = 1 << 17) {
        self.window = window
        arena = .allocate(byteCount: arenaBytes, alignment: 16)
        spare = .allocate(byteCount: arenaBytes, alignment: 16)
        self.maxEntries = maxEntries
        entries.reserveCapacity(maxEntries)
    }

    deinit {
        arena.deallocate()
        spare.deallocate()
    }

    public var pending: Int { entries.count }

    public func insert(_ record: RawRecord, emit: (RawRecord) -> Void) {
        let length = record.bytes.count
        if length > arena.count / 2 {
            emit(record) // larger than any real record: pass it through
            return
        }
        if used + length > arena.count || entries.count == maxEntries {
            flush(upTo: .max, emit: emit) // full: release everything, in order
        }
        let offset = used
        if let base = record.bytes.baseAddress, length > 0 {
            arena.baseAddress!.advanced(by: offset).copyMemory(from: base, byteCount: length)
        }
        used += (length + 7) & ~7
        entries.append(Entry(timestamp: record.timestamp, source: record.source, cpu: record.cpu, offset: offset, length: length))
    }

    /// Releases, in timestamp order, every record stamped at or before `watermark`.
    public func flush(upTo watermark: UInt64, emit: (RawRecord) -> Void) {
        guard !entries.isEmpty else {
            used = 0
            return
        }
        sortByTimestamp()
        var released = 0
        while released < entries.count && entries[released].timestamp <= watermark {
            let entry = entries[released]
            emit(RawRecord(source: entry.source, timestamp: entry.timestamp, cpu: entry.cpu,
                           bytes: UnsafeRawBufferPointer(rebasing: arena[entry.offset..<(entry.offset + entry.length)])))
            released += 1
        }
        guard released > 0 else { return }
        // Keep the rest: copy their bytes to the spare arena and swap.
        var kept = 0
        var spareUsed = 0
        for index in released..<entries.count {
            var entry = entries[index]
            if entry.length > 0 {
                spare.baseAddress!.advanced(by: spareUsed)
                    .copyMemory(from: arena.baseAddress!.advanced(by: entry.offset), byteCount: entry.length)
            }
            entry.offset = spareUsed
            spareUsed += (entry.length + 7) & ~7
            entries[kept] = entry
            kept += 1
        }
        entries.removeLast(entries.count - kept)
        swap(&arena, &spare)
        used = spareUsed
    }

    /// Insertion sort: the entries are nearly sorted already (each source is
    /// in order), so this is close to linear, stable, and allocates nothing.
    private func sortByTimestamp() {
        guard entries.count > 1 else { return }
        for index in 1..<entries.count {
            let entry = entries[index]
            var position = index
            while position > 0 && entries[position - 1].timestamp > entry.timestamp {
                entries[position] = entries[position - 1]
                position -= 1
            }
            if position != index { entries[position] = entry }
        }
    }
}
