/// Entry points for fuzzing (libFuzzer) and "bytes in" testing: parse arbitrary
/// bytes with the real reader code, without files. Must never trap, hang, or
/// allocate more than a small multiple of the input size.
public enum CaptureFuzz {
    public struct Summary: Sendable, Equatable {
        /// Set if the input is not a capture (file header rejected).
        public var headerError: CaptureError?
        public var chunks: UInt64 = 0
        public var records: UInt64 = 0
        public var corruptions: Int = 0
        public var tail: CaptureTail = .notReached
        /// Bytes of records the reader walked: what compressed chunks decoded
        /// to, plus raw chunks' payloads.
        public var recordBytes: UInt64 = 0
        /// Chunks found by `parseChunks` (raw chunk stream, no file header).
        public var rawChunks: Int = 0
        public var rawRecords: Int = 0
        public var rawRecordBytes: Int = 0
    }

    /// Parses `bytes` as a whole capture file (header, chunks, records, metadata)
    /// and, independently, as a bare chunk stream starting at offset 0.
    @discardableResult
    public static func parse(bytes: UnsafeRawBufferPointer) -> Summary {
        var s = Summary()
        do {
            let reader = try CaptureReader(bytes: bytes)
            var sink: UInt64 = 0
            try reader.read { rec in
                sink &+= rec.timestamp &+ UInt64(rec.payload.count)
                if let b = rec.payload.first { sink &+= UInt64(b) }
            }
            s.chunks = reader.stats.chunks
            s.records = reader.stats.recordsDelivered
            s.corruptions = reader.corruptions.count
            s.tail = reader.tail
            s.recordBytes = reader.stats.recordBytes
            for schema in reader.schemas.values { _ = try? schema.fields() }
        } catch let e as CaptureError {
            s.headerError = e
        } catch {}
        let walked = parseChunks(bytes: bytes)
        s.rawChunks = walked.chunks
        s.rawRecords = walked.records
        s.rawRecordBytes = walked.recordBytes
        return s
    }

    public static func parse(bytes: [UInt8]) -> Summary {
        bytes.withUnsafeBytes { parse(bytes: $0) }
    }

    /// Walks a bare chunk stream with the pure parsers (`CaptureChunk.parse`,
    /// the chunk decoder, `CaptureChunk.walkRecords`, metadata decoders),
    /// resyncing 8 bytes at a time after invalid data. Chunks are read as a
    /// 2.x file's: an `encoding` other than raw is decoded (bounded by its
    /// checked declared size, as the reader's). Returns the valid chunks, their
    /// records, and the bytes of records walked (decoded).
    public static func parseChunks(bytes: UnsafeRawBufferPointer) -> (chunks: Int, records: Int, recordBytes: Int) {
        var off = 0, chunks = 0, records = 0, checked = 0, recordBytes = 0
        let decoder = ChunkDecoder()
        while off < bytes.count {
            // Too short for a chunk header: the end (what `CaptureChunk.parse` says).
            guard bytes.count - off >= CaptureFormat.chunkHeaderSize else { return (chunks, records, recordBytes) }
            // No chunk magic here: the next 8 bytes, without parsing a header
            // (a header parse at every 8 bytes was most of a fuzz input's cost).
            guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: off, as: UInt32.self)) == CaptureFormat.chunkMagic else {
                off += 8
                continue
            }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[off...])
            // The reader's bound on checksum work (hostile overlapping headers).
            if case .ok(let h) = CaptureChunkHeader.parse(rest), Int(h.payloadLength) <= rest.count - CaptureFormat.chunkHeaderSize {
                if checked + Int(h.payloadLength) > CaptureFormat.maxChunkPayload + 16 * off {
                    off += 8
                    continue
                }
                checked += Int(h.payloadLength)
            }
            switch CaptureChunk.parse(rest) {
            case .needMore:
                return (chunks, records, recordBytes)
            case .invalid:
                off += 8
            case .ok(let h, let range):
                chunks += 1
                var payload = UnsafeRawBufferPointer(rebasing: rest[range])
                if h.isEncoded(inMajorVersion: CaptureFormat.encodedMajorVersion) {
                    guard let decoded = try? decoder.decode(encoding: h.encoding, payload: payload) else {
                        off += Int(h.totalLength)
                        continue
                    }
                    payload = decoded
                }
                recordBytes += payload.count
                let r = CaptureChunk.walkRecords(payload) { _, type, _, _, p in
                    switch type {
                    case CaptureFormat.schemaRecordType: _ = try? CaptureSchema.decode(p)?.fields()
                    case CaptureFormat.clockRecordType: _ = CaptureClockSample.decode(p)
                    case CaptureFormat.trailerRecordType: _ = CaptureTrailer.decode(p)
                    default: break
                    }
                    return true
                }
                records += r.records
                off += Int(h.totalLength)
            }
        }
        return (chunks, records, recordBytes)
    }
}
