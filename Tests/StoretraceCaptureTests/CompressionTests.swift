import Glibc
import Testing
@testable import StoretraceCapture

/// The stored payload (prefix, frame, padding) of `records` compressed by the writer's encoder.
private func encodedPayload(_ records: [UInt8]) throws -> [UInt8] {
    let encoder = try ChunkEncoder(level: 3, chunkCapacity: 64 << 10)
    let payload = try records.withUnsafeBytes { (b) throws(CaptureError) -> [UInt8]? in
        try encoder.encode(b) { (base, length) throws(CaptureError) in
            Array(UnsafeRawBufferPointer(start: base + CaptureFormat.chunkHeaderSize, count: length))
        }
    }
    return try #require(payload, "the records do not compress")
}

/// The records area of `records`, as a raw chunk stores it.
private func recordBytes(_ records: [Rec]) -> [UInt8] {
    Array(buildChunk(sequence: 0, records: records)[CaptureFormat.chunkHeaderSize...])
}

/// A chunk of a 2.0 file whose payload is `payload` as given (checksums right).
private func encodedChunk(sequence: UInt64, records: [Rec], payload: [UInt8], encoding: UInt16 = 1) -> [UInt8] {
    buildChunk(sequence: sequence, records: records, rawPayloadOverride: payload, encoding: encoding)
}

private func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

/// A prefix and `frame`, padded to a multiple of 8.
private func payload(decodedLength: UInt32, frame: [UInt8], frameLength: UInt32? = nil, padding: Int? = nil) -> [UInt8] {
    let pad = padding ?? (8 - (8 + frame.count) % 8) % 8
    return u32(decodedLength) + u32(frameLength ?? UInt32(frame.count)) + frame + [UInt8](repeating: 0, count: pad)
}

/// The zstd frame inside an encoded payload.
private func frame(of payload: [UInt8]) -> [UInt8] {
    let length = Int(payload[4]) | Int(payload[5]) << 8 | Int(payload[6]) << 16 | Int(payload[7]) << 24
    return Array(payload[8..<(8 + length)])
}

/// `frame` with its header's Frame_Content_Size field set to `size` (RFC 8878
/// 3.1.1.1: the field follows the descriptor, the window descriptor unless
/// single-segment, and the dictionary id). Handles the 2-byte field (256-65791).
private func withContentSize(_ frame: [UInt8], _ size: Int) -> [UInt8] {
    let descriptor = frame[4]
    precondition(descriptor >> 6 == 1, "a 2-byte content size field")
    let single = (descriptor >> 5) & 1 == 1
    let dictionaryBytes = [0, 1, 2, 4][Int(descriptor & 3)]
    let at = 5 + (single ? 0 : 1) + dictionaryBytes
    var out = frame
    out[at] = UInt8((size - 256) & 0xFF)
    out[at + 1] = UInt8((size - 256) >> 8)
    return out
}

private let schemaChunk = buildChunk(sequence: 0, records: [schemaRecord(1, "syscall")], flags: CaptureFormat.chunkFlagMetadata)

/// Records of type 1 that compress: 4096 bytes of records area in all (16 × 256).
private func typeOneRecords(from ts: UInt64) -> [Rec] {
    (0..<16).map { i in Rec(type: 1, timestamp: ts + UInt64(i), payload: [UInt8](repeating: UInt8(i), count: 240)) }
}

@Suite struct CompressionTests {
    @Test func compressedCapturesReadAsTheRawOnes() throws {
        var records = compressibleRecords(count: 5000, seed: 5)
        // Larger than the chunk buffer: a chunk of its own, compressed too.
        records.insert(Rec(type: 2, flags: 1, timestamp: records[2500].timestamp,
                           payload: (0..<10_000).map { UInt8(truncatingIfNeeded: $0 / 100) }), at: 2500)
        records.append(Rec(type: 7, timestamp: records.last!.timestamp + 1, payload: []))
        let snapshot = Array(#"{"hostname":"node-1","kernel":"6.8.0"}"#.utf8)
        var readers: [CaptureReader] = []
        var sizes: [UInt64] = []
        for compression in bothEncodings {
            let path = tempPath("compressed-\(compression)")
            defer { unlink(path) }
            let w = try writeCapture(path: path, records: records, chunkSize: 8192, flushEvery: 997, snapshot: snapshot,
                                     compression: compression)
            #expect(w.bytesWritten == fileSize(path))
            let reader = try CaptureReader(path: path)
            let (got, aligned) = try readRecordsCheckingAlignment(reader)
            #expect(got == records, "\(compression)")
            #expect(aligned)
            #expect(reader.tail == .complete(offset: fileSize(path)))
            #expect(reader.corruptions.isEmpty && reader.stats.undecodableChunks == 0)
            #expect(reader.trailer?.totalRecords == UInt64(records.count))
            #expect(reader.trailer?.totalChunks == reader.stats.chunks)
            #expect(reader.hostSnapshots == [snapshot])
            if compression != .none {
                let chunks = chunkMap(readFile(path))
                #expect(chunks.allSatisfy { $0.header.encoding == CaptureChunkEncoding.zstd.rawValue })
                #expect(chunks.contains { $0.header.recordCount == 1 && $0.header.payloadLength < 10_000 })
            }
            readers.append(reader)
            sizes.append(fileSize(path))
        }
        let (raw, zstd) = (readers[0], readers[1])
        #expect(raw.header.majorVersion == 1 && zstd.header.majorVersion == 2 && zstd.header.minorVersion == 0)
        #expect(raw.stats.encodedChunks == 0 && raw.stats.storedPayloadBytes == raw.stats.recordBytes)
        #expect(zstd.stats.encodedChunks == zstd.stats.chunks)
        #expect(zstd.stats.storedPayloadBytes * 5 < zstd.stats.recordBytes, "\(zstd.stats)")
        #expect(sizes[1] * 5 < sizes[0], "\(sizes)")
        #expect(raw.schemas == zstd.schemas)
    }

    @Test func chunksThatDoNotShrinkAreStoredRaw() throws {
        let path = tempPath("incompressible")
        defer { unlink(path) }
        let records = randomRecords(count: 500, seed: 6, maxPayload: 700)
        try writeCapture(path: path, records: records, compression: .zstd(level: 3))
        let bytes = readFile(path)
        let chunks = chunkMap(bytes)
        #expect(bytes[8] == 2)
        #expect(chunks.contains { $0.header.encoding == CaptureChunkEncoding.raw.rawValue && $0.dataRecords > 0 })
        let reader = try CaptureReader(bytes: bytes)
        #expect(try readRecords(reader) == records)
        #expect(reader.stats.encodedChunks < reader.stats.chunks)
        #expect(reader.tail == .complete(offset: UInt64(bytes.count)))
    }

    /// A 2.0 file: schemas, a good compressed chunk, the chunk under test
    /// (good checksums, payload `bad`), another good compressed chunk.
    private func fileWith(bad: [UInt8], encoding: UInt16 = 1) throws -> (bytes: [UInt8], badOffset: Int, good: [Rec]) {
        let first = typeOneRecords(from: 10), middle = typeOneRecords(from: 100), last = typeOneRecords(from: 200)
        let head = fileHeaderBytes(major: 2) + schemaChunk
            + encodedChunk(sequence: 1, records: first, payload: try encodedPayload(recordBytes(first)))
        let bytes = head + encodedChunk(sequence: 2, records: middle, payload: bad, encoding: encoding)
            + encodedChunk(sequence: 3, records: last, payload: try encodedPayload(recordBytes(last)))
        return (bytes, head.count, first + last)
    }

    /// Every way an encoded payload can be wrong with its checksums right:
    /// the chunk is damage at its own offset, named; the others are read;
    /// nothing was allocated for what the bad chunk declared.
    @Test func undecodablePayloadsAreDamageAtTheirChunk() throws {
        let records = recordBytes(typeOneRecords(from: 100))
        let good = try encodedPayload(records)
        let goodFrame = frame(of: good)
        let n = UInt32(records.count)  // 4096
        let bigger = try encodedPayload(records + records)
        let cases: [(name: String, payload: [UInt8], encoding: UInt16, reason: String)] = [
            ("unknown encoding", good, 7, "unknown chunk encoding 7"),
            ("no prefix", [], 1, "encoded payload of 0 bytes is shorter than its 8-byte prefix"),
            ("length not a multiple of 8", payload(decodedLength: n + 4, frame: goodFrame), 1, "decoded length 4100 is not a multiple of 8"),
            ("length above 64 MiB", payload(decodedLength: (64 << 20) + 8, frame: goodFrame), 1, "decoded length 67108872 is not a multiple of 8 in 8...67108864"),
            ("length over the expansion bound", payload(decodedLength: 64 << 20, frame: goodFrame), 1, "decoded length 67108864 is over 1024 times the"),
            ("frame past the payload", payload(decodedLength: n, frame: goodFrame, frameLength: UInt32(goodFrame.count + 9)), 1, "does not fill the"),
            ("padding of 8 or more", payload(decodedLength: n, frame: goodFrame, padding: 8 + (8 - (8 + goodFrame.count) % 8) % 8), 1, "does not fill the"),
            ("frame declares another size", payload(decodedLength: n, frame: withContentSize(goodFrame, Int(n) + 8)), 1, "zstd frame declares 4104 bytes, the prefix 4096"),
            ("two frames", payload(decodedLength: n, frame: goodFrame + goodFrame), 1, "are not one zstd frame"),
            ("cut frame", payload(decodedLength: n, frame: Array(goodFrame.dropLast(3))), 1, "are not one zstd frame"),
            // 8192 bytes of blocks in a frame that says 4096: decoding stops at 4096.
            ("decompression bomb", payload(decodedLength: n, frame: withContentSize(frame(of: bigger), Int(n))), 1, "zstd: "),
        ]
        for c in cases {
            let (bytes, badOffset, goodRecords) = try fileWith(bad: c.payload, encoding: c.encoding)
            let reader = try CaptureReader(bytes: bytes)
            #expect(try readRecords(reader) == goodRecords, "\(c.name)")
            #expect(reader.stats.undecodableChunks == 1, "\(c.name)")
            #expect(reader.stats.encodedChunks == 2, "\(c.name)")
            #expect(reader.corruptions.count == 1, "\(c.name)")
            let damage = try #require(reader.corruptions.first)
            #expect(damage.offset == UInt64(badOffset), "\(c.name)")
            #expect(damage.length == UInt64(CaptureFormat.chunkHeaderSize + c.payload.count), "\(c.name)")
            #expect(damage.reason.hasPrefix("chunk 2 not decoded: ") && damage.reason.contains(c.reason), "\(c.name): \(damage.reason)")
            #expect(reader.tail == .unclosed(offset: UInt64(bytes.count)), "\(c.name)")
            // The good chunks' 4096 bytes, rounded to 64 KiB: never the 64 MiB claimed.
            #expect(reader.decodedBufferCapacity == 64 << 10, "\(c.name)")
            #expect(!reader.integrity.isIntact)
            // The bare chunk walk of the fuzz harness decodes the same two.
            #expect(CaptureFuzz.parse(bytes: bytes).rawRecordBytes == Int(n) * 2 + schemaChunk.count - 48, "\(c.name)")
        }
    }

    /// In a 1.x file the field is reserved: a reader ignores it and takes the payload as records.
    @Test func theEncodingFieldIsReservedInFormatOne() throws {
        let records = typeOneRecords(from: 10)
        let bytes = fileHeaderBytes(major: 1) + schemaChunk
            + encodedChunk(sequence: 1, records: records, payload: recordBytes(records), encoding: 1)
        let reader = try CaptureReader(bytes: bytes)
        #expect(try readRecords(reader) == records)
        #expect(reader.stats.encodedChunks == 0 && reader.corruptions.isEmpty)
    }

    @Test func aMalformedRecordInACompressedChunkIsPlacedInTheChunk() throws {
        let records = typeOneRecords(from: 10)
        var area = recordBytes(records)
        area.withUnsafeMutableBytes { st32($0.baseAddress!, 256 + 4, 100_000) }  // the second record's length
        let bytes = fileHeaderBytes(major: 2) + schemaChunk
            + encodedChunk(sequence: 1, records: records, payload: try encodedPayload(area))
        let reader = try CaptureReader(bytes: bytes)
        #expect(try readRecords(reader) == [records[0]])
        #expect(reader.corruptions == [CaptureCorruption(
            offset: UInt64(64 + schemaChunk.count), length: 0,
            reason: "malformed record at byte 256 of chunk 1's 4096 decoded bytes (3840 skipped): record payload length 100000 overruns the chunk (3824 bytes left)")])
    }

    @Test func compressionSettings() throws {
        #expect(try CaptureCompression.parse("none") == .none)
        #expect(try CaptureCompression.parse("zstd") == .zstd(level: CaptureCompression.defaultZstdLevel))
        #expect(try CaptureCompression.parse("zstd:19") == .zstd(level: 19))
        #expect(throws: CaptureCompression.ParseError(description: "zstd level '0' is not a number from 1 to 19")) {
            try CaptureCompression.parse("zstd:0")
        }
        #expect(throws: CaptureCompression.ParseError(description: "zstd level 'x' is not a number from 1 to 19")) {
            try CaptureCompression.parse("zstd:x")
        }
        #expect(throws: CaptureCompression.ParseError(description: "'gzip' is not a compression: none, zstd or zstd:LEVEL (1 to 19)")) {
            try CaptureCompression.parse("gzip")
        }
        // A level zstd does not take leaves no file behind.
        let path = tempPath("level")
        #expect(throws: CaptureError.invalidArgument("zstd level 20 is not in 1...19")) {
            _ = try CaptureWriter(path: path, options: CaptureWriterOptions(compression: .zstd(level: 20)))
        }
        #expect(access(path, F_OK) != 0)
    }

    /// --max-size counts the file: compressed, far more records fit, and the
    /// file still stops below the limit (the buffered chunk counted raw, so
    /// at most one chunk buffer early).
    @Test func maxFileSizeCountsTheBytesOnDisk() throws {
        let limit: UInt64 = 20_000
        var appended: [Int] = []
        for compression in bothEncodings {
            let path = tempPath("maxsize-\(compression)")
            defer { unlink(path) }
            let w = try CaptureWriter(path: path, options: CaptureWriterOptions(chunkSize: 4096, maxFileSize: limit,
                                                                              syncOnFlush: false, compression: compression))
            try w.registerType(id: 1, name: "x", version: 1, schema: "")
            var count = 0
            while true {
                var payload = [UInt8](repeating: 0xAB, count: 100)
                payload.withUnsafeMutableBytes { st32($0.baseAddress!, 0, UInt32(count)) }
                do {
                    try w.append(type: 1, timestamp: UInt64(count), bytes: payload)
                    count += 1
                } catch {
                    guard case .sizeLimitReached = error else { throw error }
                    break
                }
            }
            try w.close()
            #expect(fileSize(path) < limit + 4096, "\(compression)")
            let r = try CaptureReader(path: path)
            try r.readAll()
            #expect(r.stats.recordsDelivered == UInt64(count))
            appended.append(count)
        }
        #expect(appended[1] > appended[0] * 3, "\(appended)")
    }
}
