import Glibc

public struct CaptureWriterOptions: Sendable {
    /// Chunk buffer size in bytes (48-byte chunk header + records). Multiple of 8,
    /// 4 KiB ... 64 MiB + 48. A record larger than the buffer gets a chunk of its own.
    public var chunkSize: Int
    /// Replace an existing file (truncated once locked) instead of failing (O_EXCL).
    public var overwrite: Bool
    /// If set, `append` throws `.sizeLimitReached` instead of letting the file (written
    /// plus buffered bytes) grow beyond this. Metadata records and the trailer are exempt.
    public var maxFileSize: UInt64?
    /// fdatasync after each chunk write (default true). Turn off only for tests/benchmarks.
    public var syncOnFlush: Bool
    /// The writer repeats all schema records and a fresh clock sample at the start of a
    /// chunk once this many bytes were written since the last repetition (and always
    /// before the trailer), so that damage to one chunk cannot make the types of the
    /// whole file unreadable. 0 disables periodic repetition.
    public var schemaRepeatInterval: UInt64
    /// Taken from every CLOCK_MONOTONIC and CLOCK_BOOTTIME reading the
    /// writer records (its clock samples, record stamps it makes, the
    /// trailer's end): the capture reads as written by a node booted this
    /// much later. For tests of several nodes on one machine; 0 otherwise.
    public var monotonicShift: UInt64 = 0
    /// What is done with each chunk's records before it is written:
    /// `.none` writes a format 1.0 file, `.zstd` a 2.0 file whose chunks
    /// are compressed each on its own (a chunk that would not shrink is
    /// written raw). `record` compresses by default; the library does not,
    /// so that a caller gets a file every storetrace reads unless it asks.
    public var compression: CaptureCompression = .none

    public init(chunkSize: Int = CaptureFormat.defaultChunkSize, overwrite: Bool = false,
                maxFileSize: UInt64? = nil, syncOnFlush: Bool = true, schemaRepeatInterval: UInt64 = 4 << 20,
                compression: CaptureCompression = .none) {
        self.compression = compression
        self.chunkSize = chunkSize
        self.overwrite = overwrite
        self.maxFileSize = maxFileSize
        self.syncOnFlush = syncOnFlush
        self.schemaRepeatInterval = schemaRepeatInterval
    }
}

/// Writes a capture file. Not thread-safe: use from one thread (or serialize calls).
///
/// Durability: a chunk is written with pwrite at the end of the file and then
/// fdatasync'd, so after `flush()` returns every record appended before it is on
/// disk. Compression happens on that same path, in memory, before the write:
/// a chunk is compressed whole or not written at all. Nothing already flushed is ever rewritten. If the writer is dropped without
/// `close(trailer:)` (or the process dies), buffered records are lost and the file
/// has no trailer; readers report it as not cleanly closed.
public final class CaptureWriter {
    public let path: String
    public let options: CaptureWriterOptions
    public let header: CaptureFileHeader
    /// The clock sample written first, at creation: the one readers take as
    /// the capture's clock (`CaptureReader.clockSamples.first`), so a
    /// writer that renders while it records prints the same times.
    public let initialClockSample: CaptureClockSample
    /// Bytes durably written (file size after the last successful chunk write).
    public private(set) var bytesWritten: UInt64
    public private(set) var chunksWritten: UInt64 = 0
    /// Data records appended (metadata records not counted).
    public private(set) var recordsAppended: UInt64 = 0
    /// Data records appended but not yet in a chunk on disk: what a disk
    /// that stays full loses.
    public private(set) var dataRecordsBuffered: UInt64 = 0
    /// Bytes waiting in the chunk buffer (including the chunk header), 0 if empty.
    public var bytesBuffered: Int { count == 0 ? 0 : CaptureFormat.chunkHeaderSize + used }
    /// File size if flushed now; with compression an upper bound (the
    /// buffered records count uncompressed), so `maxFileSize` and a ring's
    /// file size stop a file at most one chunk buffer early, never late.
    public var projectedSize: UInt64 { bytesWritten + UInt64(bytesBuffered) }
    public var isClosed: Bool { closed }

    private struct RegisteredType {
        var id: UInt16
        var name: String
        var version: UInt16
        var schema: String
        /// The schema record payload, encoded once.
        var encoded: [UInt8]
    }

    private var fd: Int32
    private let buf: UnsafeMutableRawPointer
    /// Compresses chunks (`options.compression`); nil writes them raw.
    private let encoder: ChunkEncoder?
    private let recordCapacity: Int
    private var used = 0
    private var count: UInt32 = 0
    private var minTs = UInt64.max
    private var maxTs: UInt64 = 0
    private var chunkFlags: UInt16 = 0
    private var nextSequence: UInt64 = 0
    /// typeId -> index+1 into `types` (0: not registered). 65536 entries.
    private let slotOf: UnsafeMutablePointer<UInt16>
    private var types: [RegisteredType] = []
    private var typeCounts: [UInt64] = []
    private var failure: CaptureError?
    private var closed = false
    private var trailerBuffered = false
    /// Metadata records repeated with the schema set (type, payload): what
    /// decoding the data needs besides the schemas (ftrace formats).
    private var repeated: [(type: UInt16, payload: [UInt8])] = []
    /// bytesWritten at which the schema set is repeated next.
    private var nextSchemaRepeat: UInt64 = .max

    /// pwrite(2) as used for chunk writes; replaceable by tests to inject failures.
    /// Returns (bytes written or -1, errno).
    var pwriteImpl: (Int32, UnsafeRawPointer, Int, UInt64) -> (Int, Int32) = { fd, p, n, off in
        let r = Glibc.pwrite(fd, p, n, off_t(off))
        return (r, r < 0 ? errno : 0)
    }

    /// Creates the capture file (mode 0600) and writes and syncs the file header.
    /// A clock sample is buffered as the first metadata record.
    public init(path: String, options: CaptureWriterOptions = .init()) throws(CaptureError) {
        guard options.chunkSize % 8 == 0, options.chunkSize >= CaptureFormat.minChunkSize,
              options.chunkSize <= CaptureFormat.chunkHeaderSize + CaptureFormat.maxChunkPayload else {
            throw .invalidArgument("chunkSize \(options.chunkSize) must be a multiple of 8 in \(CaptureFormat.minChunkSize)...\(CaptureFormat.chunkHeaderSize + CaptureFormat.maxChunkPayload)")
        }
        // Before the file exists: a level zstd refuses leaves nothing behind.
        var encoder: ChunkEncoder?
        if case .zstd(let level) = options.compression {
            encoder = try ChunkEncoder(level: level, chunkCapacity: options.chunkSize - CaptureFormat.chunkHeaderSize)
        }
        // O_NONBLOCK only matters for FIFOs (which are then rejected below instead of blocking open).
        // Overwriting truncates only once the lock is held: O_TRUNC would cut
        // the file of a storetrace still recording into it.
        var oflags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK
        if !options.overwrite { oflags |= O_EXCL }
        let fd = Glibc.open(path, oflags, 0o600)
        if fd < 0 {
            let e = errno
            if e == EEXIST { throw .fileExists(path: path) }
            throw .openFailed(path: path, errno: e)
        }
        let created = !options.overwrite
        var st = stat()
        if fstat(fd, &st) != 0 || (st.st_mode & S_IFMT) != S_IFREG {
            Glibc.close(fd)
            throw .notRegularFile(path: path)
        }
        // One writer per file, for the writer's lifetime (released by close(2),
        // also when the process dies): a second `record --force` on the same
        // path fails instead of interleaving its chunks with the first's.
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            Glibc.close(fd)
            if e == EWOULDBLOCK { throw .lockedByAnotherWriter(path: path) }
            throw .openFailed(path: path, errno: e)
        }
        if options.overwrite {
            if ftruncate(fd, 0) != 0 {
                let e = errno
                Glibc.close(fd)
                throw .ioError(operation: "truncate", path: path, offset: 0, errno: e)
            }
            _ = fchmod(fd, 0o600)
        }

        let clock = Self.sample(shift: options.monotonicShift)
        let version = options.compression.formatVersion
        let header = CaptureFileHeader(majorVersion: version.major, minorVersion: version.minor,
                                       creationRealtimeNs: clock.realtimeNs, creationMonotonicNs: clock.monotonicNs,
                                       writerChunkSize: UInt32(options.chunkSize))
        let hbytes = header.encoded()
        var err: Int32 = hbytes.withUnsafeBytes { Self.writeAll(fd, $0.baseAddress!, $0.count, 0) }
        if err == 0 && options.syncOnFlush && fdatasync(fd) != 0 { err = errno }
        if err != 0 {
            Glibc.close(fd)
            if created { unlink(path) }
            throw CaptureError.fromWriteErrno(err, operation: "write header", path: path, offset: 0)
        }
        if created && options.syncOnFlush { Self.syncParentDirectory(of: path) }

        self.path = path
        self.options = options
        self.header = header
        self.initialClockSample = clock
        self.fd = fd
        self.bytesWritten = UInt64(hbytes.count)
        self.recordCapacity = options.chunkSize - CaptureFormat.chunkHeaderSize
        self.buf = UnsafeMutableRawPointer.allocate(byteCount: options.chunkSize, alignment: 16)
        self.encoder = encoder
        self.slotOf = UnsafeMutablePointer<UInt16>.allocate(capacity: 65536)
        self.slotOf.initialize(repeating: 0, count: 65536)
        if options.schemaRepeatInterval > 0 { self.nextSchemaRepeat = bytesWritten + options.schemaRepeatInterval }
        // Fits in the empty buffer, cannot fail.
        let sample = clock.encoded()
        _ = try? withBytes(sample) { (b) throws(CaptureError) in
            try appendRecord(type: CaptureFormat.clockRecordType, flags: 0, timestamp: clock.monotonicNs,
                             payload: b, chunkFlag: CaptureFormat.chunkFlagMetadata)
        }
    }

    /// The clocks now, monotonic and boot time less `shift`.
    private static func sample(shift: UInt64) -> CaptureClockSample {
        var clock = Clock.sample()
        clock.monotonicNs &-= shift
        clock.boottimeNs &-= shift
        return clock
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        buf.deallocate()
        slotOf.deallocate()
    }

    // MARK: Public API

    /// Declares a record type used in this capture. Must be called before the first
    /// `append` of that type. `id` must be below 0xFF00. `schema` is the field
    /// description text (`name offset size type` per line, see `CaptureField`).
    /// Registering the same id again with identical arguments is a no-op.
    public func registerType(id: UInt16, name: String, version: UInt16, schema: String) throws(CaptureError) {
        try checkUsable()
        guard id < CaptureFormat.firstReservedType else {
            throw .invalidArgument("record type id \(id) is reserved (must be < 0xFF00)")
        }
        guard !name.isEmpty, name.utf8.count <= 255 else {
            throw .invalidArgument("record type name must be 1...255 bytes")
        }
        guard schema.utf8.count <= 1 << 20 else { throw .invalidArgument("schema text larger than 1 MiB") }
        _ = try CaptureField.parseList(schema)
        let existing = Int(slotOf[Int(id)])
        if existing != 0 {
            let t = types[existing - 1]
            if t.name == name && t.version == version && t.schema == schema { return }
            throw .invalidArgument("record type id \(id) already registered as \(t.name) v\(t.version)")
        }
        let rec = CaptureSchema(typeId: id, name: name, version: version, fieldText: schema).encoded()
        try withBytes(rec) { (b) throws(CaptureError) in
            try appendRecord(type: CaptureFormat.schemaRecordType, flags: 0, timestamp: Clock.monotonic() &- options.monotonicShift,
                             payload: b, chunkFlag: CaptureFormat.chunkFlagMetadata)
        }
        types.append(RegisteredType(id: id, name: name, version: version, schema: schema, encoded: rec))
        typeCounts.append(0)
        slotOf[Int(id)] = UInt16(types.count)
    }

    /// Convenience: registers a type from a field list.
    public func registerType(id: UInt16, name: String, version: UInt16, fields: [CaptureField]) throws(CaptureError) {
        try registerType(id: id, name: name, version: version, schema: CaptureField.render(fields))
    }

    /// Appends one record, copying `payload` into the chunk buffer. Flushes (write +
    /// fdatasync) first if the buffer is full. No heap allocation unless the record is
    /// larger than the chunk buffer. `timestamp` is CLOCK_MONOTONIC ns (by convention).
    /// On error the record is not appended and earlier records are unaffected.
    public func append(type: UInt16, timestamp: UInt64, payload: UnsafeRawBufferPointer,
                       flags: UInt16 = 0) throws(CaptureError) {
        try checkUsable()
        let slot = Int(slotOf[Int(type)])
        guard slot != 0 else { throw .typeNotRegistered(type) }
        let len = payload.count
        guard len <= CaptureFormat.maxRecordPayload else {
            throw .recordTooLarge(size: len, max: CaptureFormat.maxRecordPayload)
        }
        if let limit = options.maxFileSize {
            let after = projectedSize(adding: CaptureFormat.recordSize(payloadLength: len))
            if after > limit { throw .sizeLimitReached(path: path, limit: limit, size: projectedSize) }
        }
        try appendRecord(type: type, flags: flags, timestamp: timestamp, payload: payload, chunkFlag: 0)
        typeCounts[slot - 1] &+= 1
        recordsAppended &+= 1
        dataRecordsBuffered &+= 1
    }

    public func append(type: UInt16, timestamp: UInt64, bytes: [UInt8], flags: UInt16 = 0) throws(CaptureError) {
        try withBytes(bytes) { (b) throws(CaptureError) in
            try append(type: type, timestamp: timestamp, payload: b, flags: flags)
        }
    }

    /// Adds a host snapshot (opaque bytes, e.g. JSON) as a metadata record.
    public func appendHostSnapshot(_ bytes: UnsafeRawBufferPointer, timestamp: UInt64? = nil) throws(CaptureError) {
        try checkUsable()
        guard bytes.count <= CaptureFormat.maxRecordPayload else {
            throw .recordTooLarge(size: bytes.count, max: CaptureFormat.maxRecordPayload)
        }
        try appendRecord(type: CaptureFormat.hostSnapshotRecordType, flags: 0,
                         timestamp: timestamp ?? (Clock.monotonic() &- options.monotonicShift), payload: bytes,
                         chunkFlag: CaptureFormat.chunkFlagMetadata)
    }

    public func appendHostSnapshot(_ bytes: [UInt8], timestamp: UInt64? = nil) throws(CaptureError) {
        try withBytes(bytes) { (b) throws(CaptureError) in try appendHostSnapshot(b, timestamp: timestamp) }
    }

    /// Appends a metadata record of a registered type now and again each time
    /// the schema set is repeated, so that damage to one chunk cannot take
    /// away what decoding every later record needs (ftrace formats). Not a
    /// data record: not counted, and not refused by maxFileSize.
    public func appendRepeated(type: UInt16, timestamp: UInt64, bytes: [UInt8]) throws(CaptureError) {
        try checkUsable()
        guard slotOf[Int(type)] != 0 else { throw .typeNotRegistered(type) }
        guard bytes.count <= CaptureFormat.maxRecordPayload else {
            throw .recordTooLarge(size: bytes.count, max: CaptureFormat.maxRecordPayload)
        }
        try withBytes(bytes) { (b) throws(CaptureError) in
            try appendRecord(type: type, flags: 0, timestamp: timestamp, payload: b, chunkFlag: CaptureFormat.chunkFlagMetadata)
        }
        repeated.append((type, bytes))
    }

    /// Measures the clocks again and records the sample (one is recorded at creation).
    @discardableResult
    public func appendClockSample() throws(CaptureError) -> CaptureClockSample {
        try checkUsable()
        let s = Self.sample(shift: options.monotonicShift)
        try withBytes(s.encoded()) { (b) throws(CaptureError) in
            try appendRecord(type: CaptureFormat.clockRecordType, flags: 0, timestamp: s.monotonicNs,
                             payload: b, chunkFlag: CaptureFormat.chunkFlagMetadata)
        }
        return s
    }

    /// Writes buffered records as one chunk and fdatasyncs it. No-op if nothing is buffered.
    /// On `.diskFull` the buffered records are kept and `flush()` can be retried.
    public func flush() throws(CaptureError) {
        try checkUsable()
        try flushBuffer()
    }

    /// Appends the trailer (totals per type, caller's drop counters), flushes, and
    /// closes the file. If this throws `.diskFull`, it may be retried.
    public func close(trailer info: CaptureTrailerInfo = .init()) throws(CaptureError) {
        try checkUsable()
        if !trailerBuffered {
            // A second copy of the schemas (and a clock sample) near the end of the file.
            if !types.isEmpty { try appendSchemaSet() }
            var byType: [UInt16: UInt64] = [:]
            for (i, t) in types.enumerated() { byType[t.id] = typeCounts[i] }
            var trailer = CaptureTrailer(totalRecords: recordsAppended, totalChunks: 0,
                                         endMonotonicNs: Clock.monotonic() &- options.monotonicShift, endRealtimeNs: Clock.realtime(),
                                         recordsByType: byType, drops: info.drops, note: info.note)
            let size = CaptureFormat.recordSize(payloadLength: trailer.encoded().count)
            guard size - CaptureFormat.recordHeaderSize <= CaptureFormat.maxRecordPayload else {
                throw .invalidArgument("trailer too large")
            }
            // Make sure the trailer lands in the chunk numbered `nextSequence`.
            if count > 0 && used + size > recordCapacity { try flushBuffer() }
            trailer.totalChunks = nextSequence + 1
            try withBytes(trailer.encoded()) { (b) throws(CaptureError) in
                try appendRecord(type: CaptureFormat.trailerRecordType, flags: 0, timestamp: trailer.endMonotonicNs,
                                 payload: b,
                                 chunkFlag: CaptureFormat.chunkFlagMetadata | CaptureFormat.chunkFlagTrailer)
            }
            // An oversized trailer is written immediately by appendRecord; otherwise it is buffered.
            trailerBuffered = count > 0
        }
        if count > 0 { try flushBuffer() }
        trailerBuffered = false
        Glibc.close(fd)
        fd = -1
        closed = true
    }

    // MARK: Internals

    @inline(__always)
    private func checkUsable() throws(CaptureError) {
        if closed { throw .closed }
        if let f = failure { throw .writerFailed(f) }
    }

    /// Appends all schema records and a clock sample (repetition for robustness).
    private func appendSchemaSet() throws(CaptureError) {
        if options.schemaRepeatInterval > 0 { nextSchemaRepeat = bytesWritten &+ options.schemaRepeatInterval }
        for t in types {
            try withBytes(t.encoded) { (b) throws(CaptureError) in
                try appendRecord(type: CaptureFormat.schemaRecordType, flags: 0, timestamp: Clock.monotonic() &- options.monotonicShift,
                                 payload: b, chunkFlag: CaptureFormat.chunkFlagMetadata)
            }
        }
        let s = Self.sample(shift: options.monotonicShift)
        try withBytes(s.encoded()) { (b) throws(CaptureError) in
            try appendRecord(type: CaptureFormat.clockRecordType, flags: 0, timestamp: s.monotonicNs,
                             payload: b, chunkFlag: CaptureFormat.chunkFlagMetadata)
        }
        for record in repeated {
            try withBytes(record.payload) { (b) throws(CaptureError) in
                try appendRecord(type: record.type, flags: 0, timestamp: s.monotonicNs,
                                 payload: b, chunkFlag: CaptureFormat.chunkFlagMetadata)
            }
        }
    }

    private func projectedSize(adding recordSize: Int) -> UInt64 {
        let h = CaptureFormat.chunkHeaderSize
        if count == 0 { return bytesWritten + UInt64(h + recordSize) }
        if used + recordSize <= recordCapacity { return bytesWritten + UInt64(h + used + recordSize) }
        return bytesWritten + UInt64(h + used + h + recordSize)
    }

    @inline(__always)
    private static func storeRecord(at p: UnsafeMutableRawPointer, type: UInt16, flags: UInt16,
                                    timestamp: UInt64, payload: UnsafeRawBufferPointer, size: Int) {
        let len = payload.count
        st16(p, 0, type)
        st16(p, 2, flags)
        st32(p, 4, UInt32(len))
        st64(p, 8, timestamp)
        if len > 0, let src = payload.baseAddress {
            (p + CaptureFormat.recordHeaderSize).copyMemory(from: src, byteCount: len)
        }
        let pad = size - CaptureFormat.recordHeaderSize - len
        if pad > 0 { (p + CaptureFormat.recordHeaderSize + len).initializeMemory(as: UInt8.self, repeating: 0, count: pad) }
    }

    private func appendRecord(type: UInt16, flags: UInt16, timestamp: UInt64, payload: UnsafeRawBufferPointer,
                              chunkFlag: UInt16) throws(CaptureError) {
        let size = CaptureFormat.recordSize(payloadLength: payload.count)
        if used + size > recordCapacity {
            if count > 0 { try flushBuffer() }
            if size > recordCapacity {
                // Larger than the chunk buffer: a chunk of its own from a temporary buffer
                // (the only allocating path).
                let total = CaptureFormat.chunkHeaderSize + size
                let tmp = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 16)
                defer { tmp.deallocate() }
                Self.storeRecord(at: tmp + CaptureFormat.chunkHeaderSize, type: type, flags: flags,
                                 timestamp: timestamp, payload: payload, size: size)
                try writeChunk(base: tmp, payloadLength: size, recordCount: 1, minTs: timestamp, maxTs: timestamp,
                               flags: chunkFlag)
                return
            }
        }
        if count == 0 && bytesWritten >= nextSchemaRepeat {
            // Start of a chunk and the schema set is due (appendSchemaSet advances
            // nextSchemaRepeat first, so its own appends do not come back here).
            try appendSchemaSet()
            if used + size > recordCapacity { try flushBuffer() }
        }
        Self.storeRecord(at: buf + CaptureFormat.chunkHeaderSize + used, type: type, flags: flags,
                         timestamp: timestamp, payload: payload, size: size)
        used += size
        count += 1
        if timestamp < minTs { minTs = timestamp }
        if timestamp > maxTs { maxTs = timestamp }
        chunkFlags |= chunkFlag
    }

    private func flushBuffer() throws(CaptureError) {
        guard count > 0 else { return }
        try writeChunk(base: buf, payloadLength: used, recordCount: count, minTs: minTs, maxTs: maxTs, flags: chunkFlags)
        dataRecordsBuffered = 0
        used = 0
        count = 0
        minTs = .max
        maxTs = 0
        chunkFlags = 0
    }

    /// Writes the records at `base + 48` as the next chunk: compressed into
    /// the encoder's buffer when that stores fewer bytes, else as they are.
    private func writeChunk(base: UnsafeMutableRawPointer, payloadLength: Int, recordCount: UInt32,
                            minTs: UInt64, maxTs: UInt64, flags: UInt16) throws(CaptureError) {
        if let encoder {
            let records = UnsafeRawBufferPointer(start: base + CaptureFormat.chunkHeaderSize, count: payloadLength)
            let written: Void? = try encoder.encode(records) { (encoded, encodedLength) throws(CaptureError) in
                try writeStoredChunk(base: encoded, payloadLength: encodedLength, encoding: .zstd, recordCount: recordCount,
                                     minTs: minTs, maxTs: maxTs, flags: flags)
            }
            if written != nil { return }
        }
        try writeStoredChunk(base: base, payloadLength: payloadLength, encoding: .raw, recordCount: recordCount,
                             minTs: minTs, maxTs: maxTs, flags: flags)
    }

    /// Fills in the chunk header at `base` and writes header+payload with one pwrite
    /// (looping on short writes) at the end of the file, then fdatasyncs.
    private func writeStoredChunk(base: UnsafeMutableRawPointer, payloadLength: Int, encoding: CaptureChunkEncoding,
                                  recordCount: UInt32, minTs: UInt64, maxTs: UInt64, flags: UInt16) throws(CaptureError) {
        let h = CaptureChunkHeader(
            flags: flags, encoding: encoding.rawValue, sequence: nextSequence, payloadLength: UInt32(payloadLength),
            recordCount: recordCount, minTimestamp: minTs, maxTimestamp: maxTs,
            payloadCRC: CRC32C.checksum(UnsafeRawBufferPointer(start: base + CaptureFormat.chunkHeaderSize,
                                                               count: payloadLength)))
        h.encode(into: base)
        let total = CaptureFormat.chunkHeaderSize + payloadLength
        let offset = bytesWritten
        var done = 0
        while done < total {
            let (n, e) = pwriteImpl(fd, base + done, total - done, offset + UInt64(done))
            if n < 0 && e == EINTR { continue }
            if n <= 0 {
                // Remove the partial chunk so the file ends at a chunk boundary again.
                // Best effort: a reader treats leftovers as a torn tail anyway.
                _ = ftruncate(fd, off_t(offset))
                let err = CaptureError.fromWriteErrno(n < 0 ? e : EIO, operation: "write", path: path, offset: offset)
                if case .diskFull = err {} else { failure = err }
                throw err
            }
            done += n
        }
        if options.syncOnFlush && fdatasync(fd) != 0 {
            // After a failed fdatasync the page cache state is unknown: give up on this
            // file (sticky failure); chunks synced earlier are intact.
            let e = errno
            _ = ftruncate(fd, off_t(offset))
            let err = CaptureError.fromWriteErrno(e, operation: "fdatasync", path: path, offset: offset)
            failure = err
            throw err
        }
        bytesWritten = offset + UInt64(total)
        nextSequence += 1
        chunksWritten += 1
    }

    private static func writeAll(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int, _ offset: UInt64) -> Int32 {
        var done = 0
        while done < n {
            let r = Glibc.pwrite(fd, p + done, n - done, off_t(offset + UInt64(done)))
            if r < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if r == 0 { return EIO }
            done += r
        }
        return 0
    }

    private static func syncParentDirectory(of path: String) {
        var dir = "."
        if let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) {
            dir = slash == path.utf8.startIndex ? "/" : String(path[..<slash])
        }
        let dfd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            Glibc.close(dfd)
        }
    }
}
