import Glibc
import Testing
@testable import StoretraceCapture

/// A small capture: several chunks (flush every 7 records) plus a trailer
/// chunk; with compression, every chunk compressed (format 2.0).
private func smallCapture(_ compression: CaptureCompression = .none) throws -> (bytes: [UInt8], records: [Rec]) {
    let path = tempPath("small")
    defer { unlink(path) }
    let records = recordsFor(compression, count: 30, seed: 99, maxPayload: 40)
    try writeCapture(path: path, records: records, flushEvery: 7, snapshot: [9, 9], compression: compression)
    let bytes = readFile(path)
    if compression != .none {
        #expect(bytes[8] == 2 && chunkMap(bytes).allSatisfy { $0.header.encoding == CaptureChunkEncoding.zstd.rawValue })
    }
    return (bytes, records)
}

/// The crash-safety and damage tests run on raw and on compressed chunks.
let bothEncodings: [CaptureCompression] = [.none, .default]

@Suite struct RobustnessTests {
    @Test(arguments: bothEncodings) func truncationAtEveryByteOffset(compression: CaptureCompression) throws {
        let (bytes, records) = try smallCapture(compression)
        let chunks = chunkMap(bytes)
        #expect(chunks.count >= 5)
        for cut in 0...bytes.count {
            let prefix = Array(bytes[..<cut])
            if cut < 64 {
                do {
                    _ = try CaptureReader(bytes: prefix)
                    Issue.record("cut \(cut): header accepted")
                } catch {
                    #expect(error == .truncatedHeader(offset: 0, have: cut, need: cut < 16 ? 16 : 64))
                    #expect(error.description.hasPrefix("offset 0: truncated file header"))
                }
                continue
            }
            let reader = try CaptureReader(bytes: prefix)
            let got = try readRecords(reader)
            let complete = chunks.filter { $0.end <= cut }
            let boundary = complete.last?.end ?? 64
            let expected = Array(records.prefix(complete.reduce(0) { $0 + $1.dataRecords }))
            #expect(got == expected, "cut \(cut)")
            if cut == bytes.count {
                #expect(reader.tail == .complete(offset: UInt64(cut)))
            } else if cut == boundary {
                #expect(reader.tail == .unclosed(offset: UInt64(cut)), "cut \(cut)")
            } else {
                guard case .torn(let off, _) = reader.tail else {
                    Issue.record("cut \(cut): tail \(reader.tail)")
                    continue
                }
                #expect(off == UInt64(boundary), "cut \(cut)")
            }
            #expect(reader.corruptions.isEmpty, "cut \(cut)")
            #expect((reader.trailer != nil) == (cut == bytes.count))
        }
    }

    @Test(arguments: bothEncodings) func truncatedFileOnDisk(compression: CaptureCompression) throws {
        let (bytes, records) = try smallCapture(compression)
        let chunks = chunkMap(bytes)
        let cut = chunks[2].offset + 48 + 30  // inside chunk 2's payload
        #expect(cut < chunks[2].end)
        let path = tempPath("trunc")
        defer { unlink(path) }
        writeFile(path, Array(bytes[..<cut]))
        let reader = try CaptureReader(path: path)
        let got = try readRecords(reader)
        #expect(got == Array(records.prefix(chunks[0].dataRecords + chunks[1].dataRecords)))
        #expect(reader.tail == .torn(offset: UInt64(chunks[2].offset),
                                     reason: "incomplete chunk 2: \(chunks[2].header.totalLength) bytes expected, 78 present"))
        #expect(reader.tail.description.contains("torn tail at offset \(chunks[2].offset)"))
    }

    @Test(arguments: bothEncodings) func flippedByteAnywhereLosesOnlyThatChunk(compression: CaptureCompression) throws {
        let (bytes, records) = try smallCapture(compression)
        let chunks = chunkMap(bytes)
        for i in 0..<bytes.count {
            var damaged = bytes
            damaged[i] ^= 0x40
            if i < 64 {
                #expect(throws: CaptureError.self, "byte \(i)") { _ = try CaptureReader(bytes: damaged) }
                continue
            }
            let k = chunks.firstIndex { $0.offset <= i && i < $0.end }!
            let reader = try CaptureReader(bytes: damaged)
            let got = try readRecords(reader)
            let before = chunks[..<k].reduce(0) { $0 + $1.dataRecords }
            let expected = Array(records[..<before]) + Array(records[(before + chunks[k].dataRecords)...])
            #expect(got == expected, "byte \(i)")
            if k == chunks.count - 1 {
                // The last chunk (trailer) is damaged: torn tail at its offset.
                guard case .torn(let off, _) = reader.tail else {
                    Issue.record("byte \(i): tail \(reader.tail)")
                    continue
                }
                #expect(off == UInt64(chunks[k].offset))
                #expect(reader.trailer == nil)
            } else {
                #expect(reader.corruptions.count == 1, "byte \(i)")
                #expect(reader.corruptions.first?.offset == UInt64(chunks[k].offset), "byte \(i)")
                #expect(reader.corruptions.first?.length == chunks[k].header.totalLength, "byte \(i)")
                #expect(reader.tail == .complete(offset: UInt64(bytes.count)), "byte \(i)")
            }
        }
    }

    @Test func checksumErrorNamesTheChunkOffset() throws {
        let (bytes, _) = try smallCapture()
        let chunks = chunkMap(bytes)
        var payloadFlip = bytes
        payloadFlip[chunks[2].offset + 48 + 3] ^= 1
        var r = try CaptureReader(bytes: payloadFlip)
        try r.readAll()
        #expect(r.corruptions.count == 1)
        #expect(r.corruptions[0].reason.contains("payload checksum mismatch"))
        #expect(r.corruptions[0].description.hasPrefix("offset \(chunks[2].offset): chunk 2 payload checksum mismatch"))
        #expect(r.stats.sequenceGaps == 1)

        var headerFlip = bytes
        headerFlip[chunks[2].offset + 9] ^= 1  // sequence field
        r = try CaptureReader(bytes: headerFlip)
        try r.readAll()
        #expect(r.corruptions.count == 1)
        #expect(r.corruptions[0].reason.contains("chunk header checksum mismatch"))
        #expect(r.corruptions[0].offset == UInt64(chunks[2].offset))
        #expect(r.stats.corruptBytes == chunks[2].header.totalLength)
    }

    @Test(arguments: bothEncodings) func garbageBetweenChunksIsSkippedByResync(compression: CaptureCompression) throws {
        let (bytes, records) = try smallCapture(compression)
        let chunks = chunkMap(bytes)
        let garbage = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let damaged = Array(bytes[..<chunks[1].offset]) + garbage + Array(bytes[chunks[1].offset...])
        let reader = try CaptureReader(bytes: damaged)
        #expect(try readRecords(reader) == records)
        #expect(reader.corruptions == [CaptureCorruption(offset: UInt64(chunks[1].offset), length: 1000,
                                                         reason: reader.corruptions.first?.reason ?? "")])
        #expect(reader.tail == .complete(offset: UInt64(damaged.count)))
        // Zero-filled tail (e.g. after power loss with delayed allocation): torn at the first zero.
        let zeroTail = bytes + [UInt8](repeating: 0, count: 4096)
        let z = try CaptureReader(bytes: zeroTail)
        #expect(try readRecords(z) == records)
        guard case .torn(let off, let reason) = z.tail else { Issue.record("\(z.tail)"); return }
        #expect(off == UInt64(bytes.count))
        #expect(reason.contains("bad chunk magic"))
        #expect(z.trailer != nil)  // the trailer was read; junk follows it
    }

    @Test func hugeLengthFields() throws {
        let (bytes, records) = try smallCapture()
        let chunks = chunkMap(bytes)

        // Chunk payload length above the 64 MiB cap (with a valid header checksum).
        var huge = bytes
        setU32(&huge, chunks[1].offset + 16, 0xFFFF_FFF8)
        resealChunkHeader(&huge, at: chunks[1].offset)
        var r = try CaptureReader(bytes: huge)
        var got = try readRecords(r)
        #expect(got.count == records.count - chunks[1].dataRecords)
        #expect(r.corruptions.count == 1 && r.corruptions[0].offset == UInt64(chunks[1].offset))
        #expect(r.corruptions[0].reason.contains("exceeds the maximum"))

        // Length under the cap but beyond the end of the file: torn tail, no allocation attempted.
        var beyond = Array(bytes[..<chunks[2].end])
        setU32(&beyond, chunks[2].offset + 16, 60 << 20)
        resealChunkHeader(&beyond, at: chunks[2].offset)
        r = try CaptureReader(bytes: beyond)
        got = try readRecords(r)
        #expect(got.count == chunks[0].dataRecords + chunks[1].dataRecords)
        guard case .torn(let off, let reason) = r.tail else { Issue.record("\(r.tail)"); return }
        #expect(off == UInt64(chunks[2].offset))
        #expect(reason.contains("\(48 + (60 << 20)) bytes expected"))
        #expect(r.bufferCapacity <= 64 << 10)  // nothing was allocated for the 60 MiB claim

        // A record length overrunning its (checksum-valid) chunk.
        var rec = bytes
        let firstRecord = chunks[1].offset + 48
        setU32(&rec, firstRecord + 4, 0x7FFF_FFF0)
        resealChunk(&rec, at: chunks[1].offset)
        r = try CaptureReader(bytes: rec)
        got = try readRecords(r)
        #expect(got.count == records.count - chunks[1].dataRecords)
        #expect(r.corruptions.count == 1)
        #expect(r.corruptions[0].offset == UInt64(firstRecord))
        #expect(r.corruptions[0].reason.contains("malformed record"))
        #expect(r.tail == .complete(offset: UInt64(bytes.count)))

        // File header length field.
        var hdr = bytes
        setU32(&hdr, 12, 0xFFFF_FFF0)
        resealFileHeader(&hdr)
        #expect(throws: CaptureError.badHeader(offset: 12, reason: "header length 4294967280 is not a multiple of 8 in 64...4096")) {
            _ = try CaptureReader(bytes: hdr)
        }

        // Metadata records claiming huge counts/lengths.
        var trailer = [UInt8](repeating: 0, count: 48)
        setU32(&trailer, 32, 0xFFFF_FFFF)
        setU32(&trailer, 36, 0xFFFF_FFFF)
        setU32(&trailer, 40, 0xFFFF_FFFF)
        var schema = CaptureSchema(typeId: 3, name: "x", version: 1, fieldText: "").encoded()
        setU16(&schema, 4, 0xFFFF)
        setU32(&schema, 8, 0xFFFF_FFFF)
        let meta = fileHeaderBytes() + buildChunk(sequence: 0, records: [
            Rec(type: 0xFF03, timestamp: 1, payload: trailer),
            Rec(type: 0xFF00, timestamp: 1, payload: schema),
            Rec(type: 0xFF01, timestamp: 1, payload: [1, 2, 3]),
        ], flags: 1)
        r = try CaptureReader(bytes: meta)
        try r.readAll()
        #expect(r.stats.malformedMetadataRecords == 3)
        #expect(r.trailer == nil && r.schemas.isEmpty)
        #expect(r.tail == .unclosed(offset: UInt64(meta.count)))
    }

    @Test func retainedMetadataIsBounded() throws {
        var bytes = fileHeaderBytes()
        var seq: UInt64 = 0
        for _ in 0..<5 {
            bytes += buildChunk(sequence: seq, records: [Rec(type: 0xFF02, timestamp: 1, payload: Array(repeating: 1, count: 100))], flags: 1)
            bytes += Array(repeating: 0xEE, count: 16)  // garbage between chunks
            seq += 1
        }
        bytes += buildChunk(sequence: seq, records: [schemaRecord(1, "a")], flags: 1)
        let r = try CaptureReader(bytes: bytes, options: CaptureReaderOptions(maxHostSnapshotBytes: 250, maxCorruptionsKept: 2))
        try r.readAll()
        #expect(r.hostSnapshots.count == 2)
        #expect(r.stats.hostSnapshotsNotKept == 3)
        #expect(r.corruptions.count == 2)
        #expect(r.stats.corruptRegions == 5)
        #expect(r.stats.corruptBytes == 80)
        #expect(r.tail == .unclosed(offset: UInt64(bytes.count)))
    }

    @Test func recordCountMismatchIsReported() throws {
        let bytes = fileHeaderBytes() + buildChunk(sequence: 0, records: [schemaRecord(1, "a")], recordCountOverride: 5)
        let r = try CaptureReader(bytes: bytes)
        try r.readAll()
        #expect(r.corruptions.count == 1)
        #expect(r.corruptions[0].reason.contains("declares 5 records but holds 1"))
        #expect(r.schemas[1]?.name == "a")
    }

    @Test func wrongMagic() throws {
        let (bytes, _) = try smallCapture()
        var bad = bytes
        bad[1] = UInt8(ascii: "X")
        do {
            _ = try CaptureReader(bytes: bad)
            Issue.record("accepted")
        } catch {
            guard case .badMagic(0, _) = error else { Issue.record("\(error)"); return }
            #expect(error.description == "offset 0: not a storetrace capture (bad magic: 89 58 54 52 43 41 50 0a)")
        }
        #expect(throws: CaptureError.self) { _ = try CaptureReader(bytes: Array("hello, this is a text file\n".utf8)) }
        #expect(throws: CaptureError.truncatedHeader(offset: 0, have: 0, need: 16)) { _ = try CaptureReader(bytes: []) }
        var badCRC = bytes
        badCRC[20] ^= 1
        #expect(throws: CaptureError.self) { _ = try CaptureReader(bytes: badCRC) }
        do { _ = try CaptureReader(bytes: badCRC) } catch {
            #expect(error.description.hasPrefix("offset 60: file header checksum mismatch"))
        }
        // Nonexistent file.
        #expect(throws: CaptureError.openFailed(path: "/nonexistent/x", errno: ENOENT)) {
            _ = try CaptureReader(path: "/nonexistent/x")
        }
    }

    @Test func unknownMajorVersionIsRejected() throws {
        let (bytes, _) = try smallCapture()
        for major: UInt16 in [0, 3, 0xFFFF] {
            var b = bytes
            setU16(&b, 8, major)
            resealFileHeader(&b)
            do {
                _ = try CaptureReader(bytes: b)
                Issue.record("major \(major) accepted")
            } catch {
                #expect(error == .unsupportedVersion(offset: 8, major: major, minor: 0, supportedMajor: 2))
                #expect(error.description == "offset 8: unsupported capture format version \(major).0 (this reader reads major versions 1 to 2; a newer storetrace is needed)")
            }
        }
    }

    @Test func newerMinorVersionWithLongerHeaderIsAccepted() throws {
        let (bytes, records) = try smallCapture()
        // Minor 7 grew the header to 80 bytes; the checksum moves to its last 4 bytes.
        var header = Array(bytes[0..<60]) + [UInt8](repeating: 0xEE, count: 16) + [0, 0, 0, 0]
        setU16(&header, 10, 7)
        setU32(&header, 12, 80)
        resealFileHeader(&header, headerLength: 80)
        // Plus a metadata record type from the future, in its own chunk... with a sequence
        // number that does not fit (sequence numbers are informational: gap counted only).
        let file = header + Array(bytes[64...])
        let reader = try CaptureReader(bytes: file)
        #expect(reader.header.minorVersion == 7)
        #expect(reader.header.headerLength == 80)
        #expect(try readRecords(reader) == records)
        #expect(reader.tail == .complete(offset: UInt64(file.count)))
    }

    @Test(arguments: bothEncodings) func writerKilledMidWrite(compression: CaptureCompression) throws {
        let path = tempPath("killed")
        defer { unlink(path) }
        let records = recordsFor(compression, count: 200, seed: 11)
        let w = try writeCapture(path: path, records: Array(records[..<120]), flushEvery: 40, close: false,
                                 compression: compression)
        try w.flush()
        let flushedSize = fileSize(path)
        // Records 120..<200 were "being written" when the process died: half a
        // chunk on disk (the writer's own, compressed as it would have been).
        let rest = tempPath("killed-rest")
        defer { unlink(rest) }
        try writeCapture(path: rest, records: Array(records[120...]), chunkSize: 64 << 10, close: false, compression: compression).flush()
        let restBytes = readFile(rest)
        let partial = Array(restBytes[chunkMap(restBytes)[0].offset...])
        appendToFile(path, Array(partial[..<(partial.count / 2)]))
        let reader = try CaptureReader(path: path)
        #expect(try readRecords(reader) == Array(records[..<120]))
        guard case .torn(let off, _) = reader.tail else { Issue.record("\(reader.tail)"); return }
        #expect(off == flushedSize)
        #expect(reader.trailer == nil)
        // Only a partial chunk header.
        let path2 = tempPath("killed2")
        defer { unlink(path2) }
        writeFile(path2, Array(readFile(path)[..<Int(flushedSize + 20)]))
        let r2 = try CaptureReader(path: path2)
        #expect(try readRecords(r2) == Array(records[..<120]))
        #expect(r2.tail == .torn(offset: flushedSize, reason: "truncated chunk header: 20 of 48 bytes present"))
    }

    @Test(arguments: bothEncodings) func writerDroppedWithoutClose(compression: CaptureCompression) throws {
        let path = tempPath("dropped")
        defer { unlink(path) }
        let records = recordsFor(compression, count: 100, seed: 12)
        do {
            let w = try writeCapture(path: path, records: Array(records[..<60]), close: false, compression: compression)
            try w.flush()
            for r in records[60...] { try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags) }
            // w goes away without flush/close: buffered records are lost like in a crash.
        }
        let reader = try CaptureReader(path: path)
        let got = try readRecords(reader)
        #expect(got.count >= 60 && got == Array(records[..<got.count]))
        #expect(reader.tail == .unclosed(offset: fileSize(path)))
        #expect(!reader.closedCleanly)
    }

    @Test(arguments: bothEncodings) func fuzzEntryPointNeverTraps(compression: CaptureCompression) throws {
        let (bytes, _) = try smallCapture(compression)
        var rng = SplitMix(seed: 2024)
        let s = CaptureFuzz.parse(bytes: bytes)
        #expect(s.headerError == nil && s.records == 30 && s.corruptions == 0)
        #expect(s.rawRecordBytes == Int(s.recordBytes))
        // As a bare chunk stream: the file header is skipped 8 bytes at a time, then all chunks are found.
        #expect(s.rawChunks == chunkMap(bytes).count)
        for i in 0..<3000 {
            var b = bytes
            switch i % 4 {
            case 0:
                for _ in 0..<(1 + Int(rng.next() % 4)) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1:
                b = Array(b[..<Int(rng.next() % UInt64(b.count))])
            case 2:
                let at = Int(rng.next() % UInt64(b.count))
                b.insert(contentsOf: (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            default:
                // Plausible-looking huge values at a random 4-byte-aligned field.
                let at = Int(rng.next() % UInt64(b.count - 4)) & ~3
                setU32(&b, at, [0xFFFF_FFFF, 0x7FFF_FFFF, 64 << 20, (64 << 20) + 8, 0][Int(rng.next() % 5)])
                if rng.next() % 2 == 0, let c = chunkMap(bytes).last(where: { $0.offset <= at }) {
                    resealChunk(&b, at: c.offset)
                }
            }
            _ = CaptureFuzz.parse(bytes: b)
        }
        for len in [0, 1, 15, 16, 63, 64, 100, 5000] {
            _ = CaptureFuzz.parse(bytes: (0..<len).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            _ = CaptureFuzz.parse(bytes: fileHeaderBytes() + (0..<len).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
    }
}

/// A hostile file: after 8 bytes of garbage (the reader starts scanning), a
/// chunk header every 24 bytes, each with a valid header checksum, a payload
/// length of half the file and a wrong payload checksum. Checking each one
/// in full is quadratic (an hour for 64 MiB); the scan's checksum work is
/// bounded instead.
@Suite struct HostileScanTests {
    static func overlappingHeaders(size: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        let header = CaptureFileHeader(creationRealtimeNs: 1, creationMonotonicNs: 1, writerChunkSize: 4096).encoded()
        for index in 0..<64 { bytes[index] = header[index] }
        let length = UInt32((size / 2) & ~7)
        bytes.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            var pos = 72 // 64..<72: zeros, a bad magic
            st32(p, pos, CaptureFormat.chunkMagic); st64(p, pos + 8, 0); st32(p, pos + 16, length)
            // Header i+1 starts at byte 24 of header i: its magic, sequence and
            // length are header i's timestamps and payload checksum (all wrong
            // as such, which is the point); header i's own checksum lands in
            // header i+1's recordCount.
            while pos + 48 + 24 + Int(length) <= size && pos < size / 2 - 48 {
                let next = pos + 24
                st32(p, next, CaptureFormat.chunkMagic); st16(p, next + 4, 0); st16(p, next + 6, 0)
                st64(p, next + 8, 0); st32(p, next + 16, length)
                st32(p, pos + 44, CRC32C.checksum(UnsafeRawBufferPointer(start: p + pos, count: 44)))
                pos = next
            }
            st32(p, pos + 44, CRC32C.checksum(UnsafeRawBufferPointer(start: p + pos, count: 44)))
        }
        return bytes
    }

    @Test func checksumWorkOfAScanIsBounded() throws {
        let size = 256 << 10
        let bytes = Self.overlappingHeaders(size: size)
        // About 5,400 headers claim 128 KiB each: 700 MB checksummed without the bound.
        let reader = try CaptureReader(bytes: bytes)
        try reader.readAll()
        #expect(reader.stats.scanChecksummedBytes > 0, "the file does reach the scan")
        #expect(reader.stats.scanChecksummedBytes <= UInt64(CaptureFormat.maxChunkPayload + 16 * size))
        #expect(reader.stats.chunks == 0)
        if case .torn = reader.tail {} else { Issue.record("tail \(reader.tail)") }
    }
}
