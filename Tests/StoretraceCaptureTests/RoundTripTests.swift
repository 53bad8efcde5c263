import Glibc
import Testing
@testable import StoretraceCapture

@Suite struct RoundTripTests {
    @Test func manyRecordsOfSeveralTypes() throws {
        let path = tempPath("roundtrip")
        defer { unlink(path) }
        var records = randomRecords(count: 5000, seed: 1, maxPayload: 700)
        // One record larger than the chunk buffer gets a chunk of its own.
        records.insert(Rec(type: 2, flags: 1, timestamp: records[2500].timestamp,
                           payload: (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }), at: 2500)
        records.append(Rec(type: 7, timestamp: records.last!.timestamp + 1, payload: []))
        let snapshot = Array(#"{"hostname":"node-1","kernel":"6.8.0"}"#.utf8)
        let w = try writeCapture(path: path, records: records, chunkSize: 4096, flushEvery: 997, snapshot: snapshot,
                                 trailer: CaptureTrailerInfo(drops: [CaptureDropCounter(source: "ringbuf", count: 12),
                                                                     CaptureDropCounter(source: "kmsg", count: 0)],
                                                             note: "SIGINT"))
        #expect(w.bytesWritten == fileSize(path))

        var st = stat()
        stat(path, &st)
        #expect(st.st_mode & 0o777 == 0o600)

        let reader = try CaptureReader(path: path)
        let (got, aligned) = try readRecordsCheckingAlignment(reader)
        #expect(got.count == records.count)
        #expect(got == records)
        #expect(aligned)
        #expect(reader.tail == .complete(offset: fileSize(path)))
        #expect(reader.corruptions.isEmpty)
        #expect(reader.stats.sequenceGaps == 0)
        #expect(reader.header.majorVersion == 1 && reader.header.minorVersion == 0)
        #expect(reader.header.headerLength == 64)

        #expect(reader.schemas.count == 3)
        #expect(reader.schemas[1]?.name == "syscall" && reader.schemas[1]?.version == 2)
        let fields = try #require(try reader.schemas[1]?.fields())
        #expect(fields.map(\.name) == ["pid", "tid", "nr", "args"])
        #expect(fields[3].size == nil && fields[2].offset == 8 && fields[2].type == "i64")

        // One at creation, one repeated before the trailer.
        #expect(reader.clockSamples.count == 2)
        let clock = try #require(reader.clockSamples.first)
        #expect(clock.realtimeOffsetNs > 0)
        #expect(clock.monotonicNs >= reader.header.creationMonotonicNs - 10_000_000)
        #expect(reader.hostSnapshots == [snapshot])

        let trailer = try #require(reader.trailer)
        #expect(trailer.totalRecords == UInt64(records.count))
        #expect(trailer.totalChunks == reader.stats.chunks)
        #expect(trailer.totalChunks == w.chunksWritten)
        for t in testTypes {
            #expect(trailer.recordsByType[t.id] == UInt64(records.filter { $0.type == t.id }.count))
        }
        #expect(trailer.drops == [CaptureDropCounter(source: "ringbuf", count: 12), CaptureDropCounter(source: "kmsg", count: 0)])
        #expect(trailer.note == "SIGINT")
        #expect(trailer.endRealtimeNs >= reader.header.creationRealtimeNs)

        // Chunk headers carry min/max timestamps of their records.
        for c in chunkMap(readFile(path)) where c.header.recordCount > 0 {
            #expect(c.header.minTimestamp <= c.header.maxTimestamp)
        }
    }

    @Test func inMemoryAndFileDescriptorReadersAgree() throws {
        let path = tempPath("fd")
        defer { unlink(path) }
        let records = randomRecords(count: 300, seed: 2)
        try writeCapture(path: path, records: records)
        let fromBytes = try readRecords(CaptureReader(bytes: readFile(path)))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let fromFD = try readRecords(CaptureReader(fd: fd))
        #expect(fromBytes == records)
        #expect(fromFD == records)
    }

    @Test func skipsRecordTypesTheReaderDoesNotKnow() throws {
        let path = tempPath("skip")
        defer { unlink(path) }
        let records = randomRecords(count: 1000, seed: 3)
        try writeCapture(path: path, records: records)
        let reader = try CaptureReader(path: path)
        // A reader that only knows syscall v<=2 and uevent.
        let got = try readRecords(reader) { s in
            (s.name == "syscall" && s.version <= 2) || s.name == "uevent"
        }
        #expect(got == records.filter { $0.type != 2 })
        #expect(reader.stats.skippedRecords == [2: UInt64(records.filter { $0.type == 2 }.count)])
        #expect(reader.tail == .complete(offset: fileSize(path)))
    }

    @Test func recordsWithoutSchemaAndUnknownMetadataAreSkippedAndCounted() throws {
        let a = Rec(type: 5, timestamp: 10, payload: [1, 2, 3])
        let orphan = Rec(type: 9, timestamp: 11, payload: [4, 5, 6, 7, 8, 9, 10, 11, 12])
        let futureMeta = Rec(type: 0xFF42, timestamp: 12, payload: [0xAA, 0xBB])
        // A clock record with extra trailing bytes (as a newer minor might write).
        var clock = CaptureClockSample(monotonicNs: 100, realtimeNs: 1_000_100, boottimeNs: 150, uncertaintyNs: 5).encoded()
        clock += [1, 2, 3, 4, 5, 6, 7, 8]
        let bytes = fileHeaderBytes()
            + buildChunk(sequence: 0, records: [schemaRecord(5, "known"), Rec(type: 0xFF01, timestamp: 1, payload: clock)],
                         flags: 1)
            + buildChunk(sequence: 1, records: [a, orphan, futureMeta, a])
        let reader = try CaptureReader(bytes: bytes)
        let got = try readRecords(reader)
        #expect(got == [a, a])
        #expect(reader.stats.recordsWithoutSchema == [9: 1])
        #expect(reader.stats.unknownMetadataRecords == 1)
        #expect(reader.clockSamples == [CaptureClockSample(monotonicNs: 100, realtimeNs: 1_000_100, boottimeNs: 150, uncertaintyNs: 5)])
        #expect(reader.clockSamples[0].realtimeOffsetNs == 1_000_000)
        #expect(reader.tail == .unclosed(offset: UInt64(bytes.count)))
        #expect(reader.trailer == nil)
    }

    @Test func metadataOnlyModeSkipsDataChunks() throws {
        let path = tempPath("meta")
        defer { unlink(path) }
        let records = randomRecords(count: 2000, seed: 4)
        try writeCapture(path: path, records: records, snapshot: [1, 2, 3])
        let reader = try CaptureReader(path: path, options: CaptureReaderOptions(metadataOnly: true))
        var n = 0
        try reader.read { _ in n += 1 }
        #expect(n == 0)
        #expect(reader.schemas.count == 3)
        #expect(reader.hostSnapshots == [[1, 2, 3]])
        #expect(reader.trailer?.totalRecords == 2000)
        #expect(reader.stats.unverifiedChunks > 0)
        #expect(reader.tail == .complete(offset: fileSize(path)))
    }

    @Test func readerResumesAfterMoreDataIsAppended() throws {
        let path = tempPath("resume")
        defer { unlink(path) }
        let records = randomRecords(count: 100, seed: 5)
        let w = try writeCapture(path: path, records: Array(records[..<50]), close: false)
        try w.flush()
        let reader = try CaptureReader(path: path)
        var got = try readRecords(reader)
        #expect(got == Array(records[..<50]))
        #expect(reader.tail == .unclosed(offset: fileSize(path)))
        for r in records[50...] { try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags) }
        try w.close()
        got += try readRecords(reader)
        #expect(got == records)
        #expect(reader.tail == .complete(offset: fileSize(path)))
    }

    @Test func schemaFieldText() throws {
        let f = try CaptureField.parseList("# comment\n\n  pid 0 4 u32 \n\tcomm\t4\t16\tchar[16]\nrest 20 * bytes\n")
        #expect(f == [CaptureField(name: "pid", offset: 0, size: 4, type: "u32"),
                      CaptureField(name: "comm", offset: 4, size: 16, type: "char[16]"),
                      CaptureField(name: "rest", offset: 20, size: nil, type: "bytes")])
        #expect(try CaptureField.parseList(CaptureField.render(f)) == f)
        #expect(throws: CaptureError.self) { try CaptureField.parseList("pid 0 4") }
        #expect(throws: CaptureError.self) { try CaptureField.parseList("9pid 0 4 u32") }
        #expect(throws: CaptureError.self) { try CaptureField.parseList("pid -1 4 u32") }
        #expect(throws: CaptureError.self) { try CaptureField.parseList("pid 0 x u32") }
        // Lines may end in CRLF (section 5.1); in Swift "\r\n" is one Character.
        #expect(try CaptureField.parseList("pid 0 4 u32\r\ncomm 4 16 char[16]\r\n")
                == [CaptureField(name: "pid", offset: 0, size: 4, type: "u32"),
                    CaptureField(name: "comm", offset: 4, size: 16, type: "char[16]")])
    }
}
