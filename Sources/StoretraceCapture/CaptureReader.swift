import Glibc
import StoretraceBytes

/// One data record, as passed to the reader's callback.
public struct CaptureRecord {
    /// Record type id (file-local; look up `CaptureReader.schemas[type]` for name/version).
    public let type: UInt16
    /// Caller-defined record flags, as appended.
    public let flags: UInt16
    /// Timestamp as appended (CLOCK_MONOTONIC ns by convention).
    public let timestamp: UInt64
    /// Payload bytes exactly as appended; 8-byte aligned. Valid only during the callback.
    public let payload: UnsafeRawBufferPointer
    /// File offset of the chunk that holds the record.
    public let chunkOffset: UInt64
    /// Offset of the record's 16-byte header among the chunk's records
    /// (decoded, if the chunk is compressed; after the 48-byte chunk header if not).
    public let offsetInChunk: Int
}

/// How the readable part of a capture ends.
public enum CaptureTail: Sendable, Equatable, CustomStringConvertible {
    /// Reading has not reached the end (not started, or stopped early).
    case notReached
    /// The trailer was read and the file ends right after its chunk, at `offset`.
    case complete(offset: UInt64)
    /// The file ends exactly at a chunk boundary (`offset`) but has no trailer:
    /// the writer did not close it (killed, crashed, or still writing).
    case unclosed(offset: UInt64)
    /// Bytes from `offset` to the end of the file are not a complete, valid chunk
    /// (partial chunk from an interrupted write, or a bad checksum with no valid
    /// chunk after it). Everything before `offset` was read.
    case torn(offset: UInt64, reason: String)

    public var description: String {
        switch self {
        case .notReached: return "end of capture not reached"
        case .complete(let o): return "complete: closed cleanly, ends at offset \(o)"
        case .unclosed(let o): return "not closed cleanly: no trailer, data ends at chunk boundary offset \(o)"
        case .torn(let o, let r): return "torn tail at offset \(o): \(r)"
        }
    }
}

/// A region that was skipped because it did not hold a valid chunk, or a
/// malformed record area inside a valid chunk; reading continued after it.
public struct CaptureCorruption: Sendable, Equatable, CustomStringConvertible {
    public var offset: UInt64
    /// Bytes skipped.
    public var length: UInt64
    public var reason: String
    public var description: String { "offset \(offset): \(reason) (\(length) bytes skipped)" }
}

public struct CaptureReadStats: Sendable, Equatable {
    /// Valid chunks read (or skipped unverified in metadata-only mode).
    public var chunks: UInt64 = 0
    /// Payload bytes checksummed while scanning damaged data for the next
    /// chunk: bounded per scan (64 MiB plus 16 per byte scanned).
    public var scanChecksummedBytes: UInt64 = 0
    /// Bytes read while scanning damaged data for the next chunk magic (holes
    /// of a sparse file are skipped unread).
    public var scanReadBytes: UInt64 = 0
    /// Chunks skipped without checksum verification (metadata-only mode).
    public var unverifiedChunks: UInt64 = 0
    /// Data records passed to the callback.
    public var recordsDelivered: UInt64 = 0
    /// Records whose type has a schema but that `accept` rejected, per type id.
    public var skippedRecords: [UInt16: UInt64] = [:]
    /// Records whose type id has no schema record before them, per type id (skipped).
    public var recordsWithoutSchema: [UInt16: UInt64] = [:]
    /// Metadata records with a reserved type id this reader does not know (skipped).
    public var unknownMetadataRecords: UInt64 = 0
    /// Metadata records that could not be decoded (skipped).
    public var malformedMetadataRecords: UInt64 = 0
    /// Times the chunk sequence number was not previous + 1 (first chunk: not 0).
    public var sequenceGaps: UInt64 = 0
    /// Damaged regions found (`corruptions` keeps only the first ones).
    public var corruptRegions: UInt64 = 0
    /// Bytes in damaged regions.
    public var corruptBytes: UInt64 = 0
    /// Host snapshots not kept because of `maxHostSnapshotBytes`.
    public var hostSnapshotsNotKept: UInt64 = 0
    /// Schemas taken from later in the file because a record's schema was missing
    /// (its chunk was damaged).
    public var schemasFoundAhead: UInt64 = 0
    /// Valid chunks whose records were stored encoded (compressed), and decoded.
    public var encodedChunks: UInt64 = 0
    /// Valid chunks whose checksums were good but whose payload did not
    /// decode (reported as damage at the chunk; its records skipped).
    public var undecodableChunks: UInt64 = 0
    /// Payload bytes of the valid chunks read, as stored in the file.
    public var storedPayloadBytes: UInt64 = 0
    /// The records of the same chunks, in bytes, as decoded: what
    /// compression saved is the difference with `storedPayloadBytes`.
    public var recordBytes: UInt64 = 0
}

public struct CaptureReaderOptions: Sendable {
    /// Only process chunks flagged as holding metadata; other chunks are skipped
    /// by their header (payload neither read nor verified). Records are not delivered.
    public var metadataOnly: Bool
    /// Follow mode: how long to sleep at end of file before looking again.
    public var pollIntervalNs: UInt64
    /// Host snapshots are kept in memory up to this many bytes in total; further
    /// ones are counted in `stats.hostSnapshotsNotKept` (bounds memory on hostile input).
    public var maxHostSnapshotBytes: Int
    /// At most this many entries are kept in `corruptions`; all are counted in
    /// `stats.corruptRegions`.
    public var maxCorruptionsKept: Int

    public init(metadataOnly: Bool = false, pollIntervalNs: UInt64 = 50_000_000,
                maxHostSnapshotBytes: Int = 64 << 20, maxCorruptionsKept: Int = 1000) {
        self.metadataOnly = metadataOnly
        self.pollIntervalNs = pollIntervalNs
        self.maxHostSnapshotBytes = maxHostSnapshotBytes
        self.maxCorruptionsKept = maxCorruptionsKept
    }
}

/// Streaming capture reader. Memory use is bounded by the largest chunk
/// (at most 64 MiB + a 64 KiB scan window) regardless of file size.
///
/// Chunk-level damage is never an error: it is reported through `tail`,
/// `corruptions` and `stats`. Only file-header problems (thrown by the
/// initializers) and I/O errors are thrown.
///
/// Reading is resumable: `read` and `follow` continue where the previous call
/// stopped, so calling `read` again later picks up newly appended chunks.
public final class CaptureReader {
    public let header: CaptureFileHeader
    public let options: CaptureReaderOptions
    /// Schemas by type id, as read so far.
    public private(set) var schemas: [UInt16: CaptureSchema] = [:]
    public private(set) var clockSamples: [CaptureClockSample] = []
    public private(set) var hostSnapshots: [[UInt8]] = []
    /// The end-of-capture trailer; nil if the capture was not closed cleanly (or not read yet).
    public private(set) var trailer: CaptureTrailer?
    public private(set) var tail: CaptureTail = .notReached
    public private(set) var corruptions: [CaptureCorruption] = []
    public private(set) var stats = CaptureReadStats()
    /// Next file offset the reader will examine.
    public var offset: UInt64 { pos }
    public var closedCleanly: Bool { trailer != nil }

    fileprivate enum Source {
        case file(fd: Int32, owned: Bool, name: String)
        case memory(UnsafeRawBufferPointer, owned: Bool)
    }

    private let source: Source
    private var pos: UInt64
    private var scanning = false
    private var corruptStart: UInt64?
    private var corruptReason = ""
    private var lastSequence: UInt64?
    private var trailerEnd: UInt64?
    private var following = false
    private var stopRequested = false
    /// `readChunk`: return after one valid chunk.
    private var oneChunk = false
    private var checksumRetryAt: UInt64?
    private var lookedAhead = false
    private var retainedSnapshotBytes = 0
    /// Where the current resync scan began, and the payload bytes it has
    /// checksummed so far (bounded: see step 4 of `run`).
    private var scanStart: UInt64 = 0
    private var scanChecked: UInt64 = 0

    private var buf: UnsafeMutableRawPointer
    private var bufCap: Int
    /// Where compressed chunks are decoded (its buffer grows only for one).
    private let decoder = ChunkDecoder()
    private let headerBuf: UnsafeMutableRawPointer
    private static let windowSize = 64 << 10
    private var window: UnsafeMutableRawPointer?
    private var windowStart: UInt64 = 0
    private var windowLen = 0
    /// Per type id: 0 undecided, 1 deliver, 2 skip.
    private let acceptTable: UnsafeMutablePointer<UInt8>
    /// Whether `acceptTable` holds a decision: only then does a new read
    /// clear its 64 KiB (a reader made for one read, as replay and the
    /// schema look-ahead make, never needs to).
    private var acceptTableUsed = false

    // MARK: Opening

    /// Opens a capture file and validates its header.
    public convenience init(path: String, options: CaptureReaderOptions = .init()) throws(CaptureError) {
        // O_NONBLOCK: opening a FIFO without a writer would block forever.
        // Only regular files are read (pread, and a size to follow).
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .openFailed(path: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            throw .notRegularFile(path: path)
        }
        let source = Source.file(fd: fd, owned: true, name: path)
        let header: CaptureFileHeader
        do { header = try Self.readHeader(source) } catch {
            Glibc.close(fd)
            throw error
        }
        self.init(source: source, header: header, options: options)
    }

    /// Reads from an open, seekable file descriptor (pread; the file position is not used).
    /// The descriptor is closed on deinit only if `takeOwnership` is true.
    public convenience init(fd: Int32, takeOwnership: Bool = false, options: CaptureReaderOptions = .init()) throws(CaptureError) {
        let source = Source.file(fd: fd, owned: takeOwnership, name: "fd \(fd)")
        let header: CaptureFileHeader
        do { header = try Self.readHeader(source) } catch {
            if takeOwnership { Glibc.close(fd) }
            throw error
        }
        self.init(source: source, header: header, options: options)
    }

    /// Reads a capture held in memory (the bytes are copied). Pure: no file I/O.
    public convenience init(bytes: UnsafeRawBufferPointer, options: CaptureReaderOptions = .init()) throws(CaptureError) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        if bytes.count > 0 { copy.copyMemory(from: bytes) }
        try self.init(ownedMemory: copy, options: options)
    }

    public convenience init(bytes: [UInt8], options: CaptureReaderOptions = .init()) throws(CaptureError) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { b in if b.count > 0 { copy.copyMemory(from: b) } }
        try self.init(ownedMemory: copy, options: options)
    }

    private convenience init(ownedMemory copy: UnsafeMutableRawBufferPointer, options: CaptureReaderOptions) throws(CaptureError) {
        let source = Source.memory(UnsafeRawBufferPointer(copy), owned: true)
        let header: CaptureFileHeader
        do { header = try Self.readHeader(source) } catch {
            copy.deallocate()
            throw error
        }
        self.init(source: source, header: header, options: options)
    }

    private init(source: Source, header: CaptureFileHeader, options: CaptureReaderOptions) {
        self.source = source
        self.header = header
        self.options = options
        self.pos = UInt64(header.headerLength)
        self.bufCap = 64 << 10
        self.buf = UnsafeMutableRawPointer.allocate(byteCount: bufCap, alignment: 16)
        self.headerBuf = UnsafeMutableRawPointer.allocate(byteCount: CaptureFormat.chunkHeaderSize, alignment: 16)
        self.acceptTable = UnsafeMutablePointer<UInt8>.allocate(capacity: 65536)
        self.acceptTable.initialize(repeating: 0, count: 65536)
    }

    deinit {
        switch source {
        case .file(let fd, let owned, _): if owned { Glibc.close(fd) }
        case .memory(let b, let owned): if owned { b.deallocate() }
        }
        buf.deallocate()
        headerBuf.deallocate()
        window?.deallocate()
        acceptTable.deallocate()
    }

    private static func readHeader(_ source: Source) throws(CaptureError) -> CaptureFileHeader {
        let size = try source.size()
        let n = Int(min(size, UInt64(CaptureFormat.maxFileHeaderSize)))
        let tmp = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 16)
        defer { tmp.deallocate() }
        let got = try source.read(into: tmp, count: n, at: 0)
        return try CaptureFileHeader.parse(UnsafeRawBufferPointer(start: tmp, count: got))
    }

    // MARK: Reading

    /// Reads to the current end of the file, calling `body` for each data record of an
    /// accepted type (`accept` is asked once per type; default: all types with a schema).
    /// Metadata is collected into `schemas`, `clockSamples`, `hostSnapshots`, `trailer`.
    /// Sets `tail` when the end is reached. Errors thrown by `body` propagate (the
    /// reader then resumes at the next chunk).
    public func read(accept: (CaptureSchema) -> Bool = { _ in true },
                     _ body: (CaptureRecord) throws -> Void) throws {
        try run(follow: false, until: { true }, accept: accept, body: body)
    }

    /// Reads all metadata (and counts records) without a callback.
    public func readAll() throws {
        try read { _ in }
    }

    /// Like `read`, but at the end of the file (or inside a partially written chunk)
    /// sleeps `pollIntervalNs` and retries, until the trailer has been read or
    /// `shouldStop()` (checked at every wait) returns true.
    public func follow(accept: (CaptureSchema) -> Bool = { _ in true },
                       until shouldStop: () -> Bool,
                       _ body: (CaptureRecord) throws -> Void) throws {
        try run(follow: true, until: shouldStop, accept: accept, body: body)
    }

    /// Reads up to and including the next valid chunk (damaged regions before
    /// it are skipped and reported as `read` does), calling `body` for its
    /// data records of accepted types. Returns false, with `tail` set, once
    /// the end is reached. The payloads of that chunk's records stay valid
    /// until the next call on this reader: a merge of several captures holds
    /// one chunk of each and takes records from whichever is earliest.
    public func readChunk(accept: (CaptureSchema) -> Bool = { _ in true },
                          _ body: (CaptureRecord) throws -> Void) throws -> Bool {
        oneChunk = true
        defer { oneChunk = false }
        try run(follow: false, until: { true }, accept: accept, body: body)
        return tail == .notReached
    }

    /// Stops the current `read`/`follow` after the current record (call from the callback).
    /// Remaining records of the current chunk are not delivered; `tail` stays `.notReached`.
    public func requestStop() {
        stopRequested = true
    }

    private func run(follow: Bool, until shouldStop: () -> Bool, accept: (CaptureSchema) -> Bool,
                     body: (CaptureRecord) throws -> Void) throws {
        stopRequested = false
        lookedAhead = false
        following = follow && trailer == nil
        if acceptTableUsed {
            acceptTable.update(repeating: 0, count: 65536)
            acceptTableUsed = false
        }
        tail = .notReached
        invalidateWindow()
        let H = UInt64(CaptureFormat.chunkHeaderSize)
        var size = try source.size()

        while !stopRequested {
            // 1. Is there room for a chunk header?
            if size <= pos || size - pos < H {
                if try waitForMore(&size, shouldStop) { continue }
                finish(size: size)
                return
            }
            // 2. Chunk header.
            let h: CaptureChunkHeader
            switch try readChunkHeader(at: pos, size: size) {
            case .ok(let parsed):
                h = parsed
            case .invalid(let reason):
                // Follow mode: data at the very end might still be in flight; look once more.
                if following && !scanning && checksumRetryAt != pos {
                    checksumRetryAt = pos
                    if try waitForMore(&size, shouldStop) { continue }
                }
                if !scanning {
                    beginCorruption(at: pos, reason: reason.description)
                    scanning = true
                    scanStart = pos
                    scanChecked = 0
                }
                // Chunks start at multiples of 8: resync at the next chunk magic.
                pos = try nextMagic(from: pos + 8, size: size)
                continue
            case .needMore:  // short read: the file shrank under us
                if try waitForMore(&size, shouldStop) { continue }
                finish(size: size, tornAt: pos, reason: "short read inside chunk header")
                return
            }
            if scanning, let last = lastSequence, h.sequence <= last {
                pos = try nextMagic(from: pos + 8, size: size) // a stale copy (e.g. embedded in a payload), not the next chunk
                continue
            }
            // 3. Whole chunk present?
            let total = h.totalLength
            if size - pos < total {
                if try waitForMore(&size, shouldStop) { continue }
                if scanning {
                    pos = try nextMagic(from: pos + 8, size: size)
                    continue
                }
                finish(size: size, tornAt: pos,
                       reason: "incomplete chunk \(h.sequence): \(total) bytes expected, \(size - pos) present")
                return
            }
            if options.metadataOnly && !scanning && (h.flags & CaptureFormat.chunkFlagMetadata) == 0 {
                acceptChunk(h, at: pos)
                stats.unverifiedChunks += 1
                pos += total
                continue
            }
            // 4. Payload and checksum.
            let plen = Int(h.payloadLength)  // <= 64 MiB and present in the file: safe to allocate
            if scanning {
                // A hostile file can hold a valid chunk header every 24 bytes, each
                // claiming a large payload with a wrong checksum: checking them all
                // is quadratic (a 64 MiB file would take an hour). Bound one scan's
                // checksum work to 64 MiB plus 16 bytes per byte scanned.
                let allowance = UInt64(CaptureFormat.maxChunkPayload) + 16 * (pos - scanStart)
                if scanChecked + UInt64(plen) > allowance {
                    pos = try nextMagic(from: pos + 8, size: size)
                    continue
                }
                scanChecked += UInt64(plen)
                stats.scanChecksummedBytes += UInt64(plen)
            }
            ensureCapacity(plen)
            let got = try source.read(into: buf, count: plen, at: pos + H)
            if got < plen {  // file shrank under us
                size = pos + H + UInt64(got)
                continue
            }
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: buf, count: plen))
            if crc != h.payloadCRC {
                if scanning {
                    pos = try nextMagic(from: pos + 8, size: size)
                    continue
                }
                // Follow mode: the last chunk might still be in flight; look once more.
                if following && pos + total == size && checksumRetryAt != pos {
                    checksumRetryAt = pos
                    if try waitForMore(&size, shouldStop) { continue }
                }
                beginCorruption(at: pos, reason: "chunk \(h.sequence) payload checksum mismatch (stored \(hex32(h.payloadCRC)), computed \(hex32(crc)))")
                pos += total  // the header checksum was valid, so trust its length
                continue
            }
            // 5. A valid chunk: its records, decoded if it is compressed.
            let chunkStart = pos
            acceptChunk(h, at: chunkStart)
            pos += total
            let stored = UnsafeRawBufferPointer(start: buf, count: plen)
            var records = stored
            if h.isEncoded(inMajorVersion: header.majorVersion) {
                do {
                    records = try decoder.decode(encoding: h.encoding, payload: stored)
                } catch {
                    // Its checksums were good: the payload is as written, and is not
                    // one this reader can decode. Damage at the chunk, not beyond it.
                    stats.undecodableChunks += 1
                    report(CaptureCorruption(offset: chunkStart, length: total, reason: "chunk \(h.sequence) not decoded: \(error)"))
                    if oneChunk { return }
                    continue
                }
                stats.encodedChunks += 1
            }
            stats.storedPayloadBytes += UInt64(plen)
            stats.recordBytes += UInt64(records.count)
            try processRecords(chunkStart: chunkStart, header: h, records: records, accept: accept, body: body)
            if oneChunk { return }
        }
    }

    /// In follow mode: waits one poll interval and refreshes `size`; returns false
    /// (and leaves follow mode) if not following or the caller wants to stop.
    private func waitForMore(_ size: inout UInt64, _ shouldStop: () -> Bool) throws(CaptureError) -> Bool {
        guard following else { return false }
        if shouldStop() {
            following = false
            return false
        }
        Clock.sleep(ns: options.pollIntervalNs)
        invalidateWindow()
        size = try source.size()
        return true
    }

    /// `reason` is built only for the first damage of a run (resync asks at every 8 bytes).
    private func beginCorruption(at offset: UInt64, reason: @autoclosure () -> String) {
        if corruptStart == nil {
            corruptStart = offset
            corruptReason = reason()
        }
    }

    private func acceptChunk(_ h: CaptureChunkHeader, at offset: UInt64) {
        if let start = corruptStart {
            report(CaptureCorruption(offset: start, length: offset - start, reason: corruptReason))
            corruptStart = nil
        }
        scanning = false
        checksumRetryAt = nil
        if let last = lastSequence {
            if h.sequence != last &+ 1 { stats.sequenceGaps += 1 }
        } else if h.sequence != 0 {
            stats.sequenceGaps += 1
        }
        lastSequence = h.sequence
        stats.chunks += 1
    }

    private func report(_ c: CaptureCorruption) {
        stats.corruptRegions += 1
        stats.corruptBytes += c.length
        if corruptions.count < options.maxCorruptionsKept { corruptions.append(c) }
    }

    private func finish(size: UInt64, tornAt: UInt64? = nil, reason: String = "") {
        if let start = corruptStart {
            tail = .torn(offset: start, reason: corruptReason + "; no valid chunk follows")
        } else if let t = tornAt {
            tail = .torn(offset: t, reason: reason)
        } else if pos < size {
            tail = .torn(offset: pos, reason: "truncated chunk header: \(size - pos) of \(CaptureFormat.chunkHeaderSize) bytes present")
        } else if let end = trailerEnd, end == pos {
            tail = .complete(offset: pos)
        } else {
            tail = .unclosed(offset: pos)
        }
    }

    private func processRecords(chunkStart: UInt64, header h: CaptureChunkHeader, records: UnsafeRawBufferPointer,
                                accept: (CaptureSchema) -> Bool, body: (CaptureRecord) throws -> Void) throws {
        let plen = records.count
        let encoded = h.isEncoded(inMajorVersion: header.majorVersion)
        let chunkEnd = chunkStart + h.totalLength
        let deliver = !options.metadataOnly
        let result = try CaptureChunk.walkRecords(records) {
            off, type, flags, ts, payload in
            if type >= CaptureFormat.firstReservedType {
                handleMetadata(type: type, payload: payload, chunkEnd: chunkEnd)
                return true
            }
            guard deliver else { return true }
            var decision = acceptTable[Int(type)]
            if decision == 0 {
                if schemas[type] == nil && !lookedAhead { lookAheadForSchemas() }
                guard let schema = schemas[type] else {
                    stats.recordsWithoutSchema[type, default: 0] += 1
                    return true
                }
                decision = accept(schema) ? 1 : 2
                acceptTable[Int(type)] = decision
                acceptTableUsed = true
            }
            if decision == 2 {
                stats.skippedRecords[type, default: 0] += 1
                return true
            }
            stats.recordsDelivered += 1
            try body(CaptureRecord(type: type, flags: flags, timestamp: ts, payload: payload,
                                   chunkOffset: chunkStart, offsetInChunk: off))
            return !stopRequested
        }
        if let bad = result.malformedOffset {
            // A raw chunk's record has a file offset; a compressed one's only
            // a place among the decoded records of the chunk at its offset.
            let payloadOffset = chunkStart + UInt64(CaptureFormat.chunkHeaderSize)
            report(encoded
                ? CaptureCorruption(offset: chunkStart, length: 0,
                                    reason: "malformed record at byte \(bad) of chunk \(h.sequence)'s \(plen) decoded bytes (\(plen - bad) skipped): \(result.malformedReason ?? "")")
                : CaptureCorruption(offset: payloadOffset + UInt64(bad), length: UInt64(plen - bad),
                                    reason: "malformed record in chunk \(h.sequence): \(result.malformedReason ?? "")"))
        } else if !stopRequested && result.records != Int(h.recordCount) {
            report(CaptureCorruption(offset: chunkStart, length: 0,
                                     reason: "chunk \(h.sequence) declares \(h.recordCount) records but holds \(result.records)"))
        }
    }

    /// A record's type has no schema yet (normally impossible: the writer puts schema
    /// records before the first record of their type; happens when the chunk holding the
    /// schema was damaged). Type ids are bound to one schema for the whole file and the
    /// writer repeats the schema set periodically and before the trailer, so scan the
    /// metadata chunks of the rest of the file for it (once per read call).
    private func lookAheadForSchemas() {
        lookedAhead = true
        let helper = CaptureReader(source: source.borrowed, header: header,
                                   options: CaptureReaderOptions(metadataOnly: true))
        helper.pos = pos
        try? helper.readAll()
        for (id, s) in helper.schemas where schemas[id] == nil {
            schemas[id] = s
            stats.schemasFoundAhead += 1
        }
    }

    private func handleMetadata(type: UInt16, payload: UnsafeRawBufferPointer, chunkEnd: UInt64) {
        switch type {
        case CaptureFormat.schemaRecordType:
            if let s = CaptureSchema.decode(payload), s.typeId < CaptureFormat.firstReservedType {
                schemas[s.typeId] = s
                acceptTable[Int(s.typeId)] = 0
            } else {
                stats.malformedMetadataRecords += 1
            }
        case CaptureFormat.clockRecordType:
            if let c = CaptureClockSample.decode(payload) { clockSamples.append(c) } else { stats.malformedMetadataRecords += 1 }
        case CaptureFormat.hostSnapshotRecordType:
            if retainedSnapshotBytes + payload.count <= options.maxHostSnapshotBytes {
                retainedSnapshotBytes += payload.count
                hostSnapshots.append(Array(payload))
            } else {
                stats.hostSnapshotsNotKept += 1
            }
        case CaptureFormat.trailerRecordType:
            if let t = CaptureTrailer.decode(payload) {
                trailer = t
                trailerEnd = chunkEnd
                following = false  // the writer writes nothing after the trailer
            } else {
                stats.malformedMetadataRecords += 1
            }
        default:
            stats.unknownMetadataRecords += 1
        }
    }

    // MARK: Buffers and I/O

    /// Current chunk buffer size (tests check that hostile lengths do not inflate it).
    var bufferCapacity: Int { bufCap }
    /// The same for the buffer compressed chunks are decoded into.
    var decodedBufferCapacity: Int { decoder.capacity }

    private func ensureCapacity(_ n: Int) {
        guard n > bufCap else { return }
        buf.deallocate()
        bufCap = (n + 0xFFFF) & ~0xFFFF
        buf = UnsafeMutableRawPointer.allocate(byteCount: bufCap, alignment: 16)
    }

    private func invalidateWindow() {
        windowLen = 0
    }

    /// Scanning damaged data: the first offset at or after `start`, on the
    /// 8-byte grid of `start`, that holds the chunk magic "STCK"; `size` (or
    /// the last offsets, too short for a header) when there is none. Reads
    /// 64 KiB windows and looks for the magic's first byte with memchr, and
    /// skips the holes of a sparse file (zeros hold no magic) without reading
    /// them, so a 2 GiB hole costs a few system calls, not 2 GiB of reads.
    /// lseek's SEEK_DATA (Linux 3.1+), which Glibc's module hides behind _GNU_SOURCE.
    private static let seekData: Int32 = 3

    private func nextMagic(from start: UInt64, size: UInt64) throws(CaptureError) -> UInt64 {
        let H = UInt64(CaptureFormat.chunkHeaderSize)
        if window == nil { window = UnsafeMutableRawPointer.allocate(byteCount: Self.windowSize, alignment: 16) }
        let w = window!
        var off = start
        while off < size && size - off >= H {
            // Only a descriptor of our own: SEEK_DATA moves the file position.
            if case .file(let fd, true, _) = source {
                let data = lseek(fd, off_t(off), Self.seekData)
                if data < 0 && errno == ENXIO { return size } // only a hole up to the end
                if data > 0 && UInt64(data) > off {
                    off += (UInt64(data) - off + 7) & ~7 // the magic is data: at or after it
                    continue
                }
            }
            let want = Int(min(UInt64(Self.windowSize), size - off))
            windowLen = try source.read(into: w, count: want, at: off)
            windowStart = off
            stats.scanReadBytes += UInt64(windowLen)
            guard windowLen >= 4 else { return size }
            let le = ByteReader(UnsafeRawBufferPointer(start: w, count: windowLen), order: .little)
            var index = 0
            while index + 4 <= windowLen {
                guard let hit = memchr(w + index, 0x53, windowLen - 3 - index) else { break } // "S"
                let at = w.distance(to: hit)
                if at & 7 == 0 && le.peek(UInt32.self, at: at) == CaptureFormat.chunkMagic {
                    return off + UInt64(at)
                }
                index = at + 1
            }
            // The window is a multiple of 8 long (or the end): no magic straddles it.
            off += UInt64(windowLen) & ~7
            if windowLen < want { return size }
        }
        return off
    }

    private func readChunkHeader(at off: UInt64, size: UInt64) throws(CaptureError) -> CaptureChunkHeader.ParseResult {
        let H = CaptureFormat.chunkHeaderSize
        if !scanning {
            let got = try source.read(into: headerBuf, count: H, at: off)
            return CaptureChunkHeader.parse(UnsafeRawBufferPointer(start: headerBuf, count: got))
        }
        // Scanning: serve headers from the read-ahead window `nextMagic` filled.
        if window == nil { window = UnsafeMutableRawPointer.allocate(byteCount: Self.windowSize, alignment: 16) }
        let w = window!
        if !(off >= windowStart && off - windowStart + UInt64(H) <= UInt64(windowLen)) {
            let want = Int(min(UInt64(Self.windowSize), size - off))
            windowLen = try source.read(into: w, count: want, at: off)
            windowStart = off
        }
        let start = Int(off - windowStart)
        guard windowLen - start >= H else { return .needMore }
        return CaptureChunkHeader.parse(UnsafeRawBufferPointer(start: w + start, count: H))
    }
}

extension CaptureReader.Source {
    /// The same source, not owned (for a helper reader that must not close/free it).
    var borrowed: CaptureReader.Source {
        switch self {
        case .file(let fd, _, let name): return .file(fd: fd, owned: false, name: name)
        case .memory(let b, _): return .memory(b, owned: false)
        }
    }

    var name: String {
        switch self {
        case .file(_, _, let name): return name
        case .memory: return "<memory>"
        }
    }

    func size() throws(CaptureError) -> UInt64 {
        switch self {
        case .memory(let b, _):
            return UInt64(b.count)
        case .file(let fd, _, let name):
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw .ioError(operation: "fstat", path: name, offset: 0, errno: errno) }
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notRegularFile(path: name) }
            return UInt64(max(0, st.st_size))
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    func read(into dst: UnsafeMutableRawPointer, count: Int, at offset: UInt64) throws(CaptureError) -> Int {
        switch self {
        case .memory(let b, _):
            guard offset < UInt64(b.count), count > 0 else { return 0 }
            let n = min(count, b.count - Int(offset))
            dst.copyMemory(from: b.baseAddress! + Int(offset), byteCount: n)
            return n
        case .file(let fd, _, let name):
            var done = 0
            while done < count {
                let r = pread(fd, dst + done, count - done, off_t(offset + UInt64(done)))
                if r < 0 {
                    if errno == EINTR { continue }
                    throw .ioError(operation: "read", path: name, offset: offset + UInt64(done), errno: errno)
                }
                if r == 0 { break }
                done += r
            }
            return done
        }
    }
}

/// Whether what a reader read of a capture is all there was, for scripts
/// (`replay --strict`): no damaged region skipped, no record without its
/// schema, and an end that the writer closed. Reading that stopped early
/// (`tail == .notReached`, e.g. `--follow` ended by Ctrl-C) says nothing
/// about the rest and is not damage.
public struct CaptureIntegrity: Sendable, Equatable {
    /// Regions skipped: bytes between chunks that were not a valid chunk,
    /// payloads with a wrong checksum, malformed record areas.
    public var damagedRegions: UInt64
    /// Records skipped because their type's schema was never found.
    public var recordsWithoutSchema: UInt64
    public var tail: CaptureTail

    public init(damagedRegions: UInt64, recordsWithoutSchema: UInt64, tail: CaptureTail) {
        self.damagedRegions = damagedRegions
        self.recordsWithoutSchema = recordsWithoutSchema
        self.tail = tail
    }

    public var isTornOrUnclosed: Bool {
        switch tail {
        case .torn, .unclosed: return true
        case .complete, .notReached: return false
        }
    }

    public var isIntact: Bool { damagedRegions == 0 && recordsWithoutSchema == 0 && !isTornOrUnclosed }

    /// One phrase per problem, for a message: empty when intact.
    public var problems: [String] {
        var out: [String] = []
        if damagedRegions > 0 { out.append("\(damagedRegions) damaged region\(damagedRegions == 1 ? "" : "s") skipped") }
        if recordsWithoutSchema > 0 { out.append("\(recordsWithoutSchema) record\(recordsWithoutSchema == 1 ? "" : "s") without a schema") }
        if isTornOrUnclosed { out.append(tail.description) }
        return out
    }
}

extension CaptureReader {
    /// What has been read so far, judged (see `CaptureIntegrity`).
    public var integrity: CaptureIntegrity {
        CaptureIntegrity(damagedRegions: stats.corruptRegions,
                         recordsWithoutSchema: stats.recordsWithoutSchema.values.reduce(0, +), tail: tail)
    }

    /// Reads the whole capture at `path` once, checksums only (no callback),
    /// and judges it.
    public static func verify(path: String) throws -> CaptureIntegrity {
        let reader = try CaptureReader(path: path)
        try reader.readAll()
        return reader.integrity
    }
}
