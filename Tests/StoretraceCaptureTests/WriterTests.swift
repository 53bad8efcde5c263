import Glibc
import Testing
@testable import StoretraceCapture

@Suite struct WriterTests {
    @Test func refusesToOverwriteUnlessAsked() throws {
        let path = tempPath("excl")
        defer { unlink(path) }
        try writeCapture(path: path, records: randomRecords(count: 5, seed: 1))
        #expect(throws: CaptureError.fileExists(path: path)) { _ = try CaptureWriter(path: path) }
        chmod(path, 0o644)
        let w = try CaptureWriter(path: path, options: CaptureWriterOptions(overwrite: true, syncOnFlush: false))
        try w.close()
        var st = stat()
        stat(path, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        let r = try CaptureReader(path: path)
        try r.readAll()
        #expect(r.trailer?.totalRecords == 0)
        #expect(r.tail == .complete(offset: fileSize(path)))
        #expect(throws: CaptureError.self) { _ = try CaptureWriter(path: "/nonexistent-dir/x.stcap") }
        #expect(throws: CaptureError.notRegularFile(path: "/dev/null")) {
            _ = try CaptureWriter(path: "/dev/null", options: CaptureWriterOptions(overwrite: true))
        }
    }

    @Test func argumentErrors() throws {
        let path = tempPath("args")
        defer { unlink(path) }
        #expect(throws: CaptureError.self) { _ = try CaptureWriter(path: path, options: CaptureWriterOptions(chunkSize: 100)) }
        let w = try CaptureWriter(path: path, options: CaptureWriterOptions(syncOnFlush: false))
        #expect(throws: CaptureError.self) { try w.registerType(id: 0xFF00, name: "x", version: 1, schema: "") }
        #expect(throws: CaptureError.self) { try w.registerType(id: 1, name: "", version: 1, schema: "") }
        #expect(throws: CaptureError.self) { try w.registerType(id: 1, name: "x", version: 1, schema: "bad line") }
        try w.registerType(id: 1, name: "x", version: 1, schema: "a 0 4 u32")
        try w.registerType(id: 1, name: "x", version: 1, schema: "a 0 4 u32")  // identical: no-op
        #expect(throws: CaptureError.self) { try w.registerType(id: 1, name: "y", version: 1, schema: "") }
        #expect(throws: CaptureError.typeNotRegistered(2)) { try w.append(type: 2, timestamp: 1, bytes: [1]) }
        #expect(throws: CaptureError.typeNotRegistered(0xFF03)) { try w.append(type: 0xFF03, timestamp: 1, bytes: [1]) }
        try w.append(type: 1, timestamp: 1, bytes: [1, 2, 3, 4])
        try w.close()
        #expect(throws: CaptureError.closed) { try w.append(type: 1, timestamp: 1, bytes: [1]) }
        #expect(throws: CaptureError.closed) { try w.flush() }
        let r = try CaptureReader(path: path)
        try r.readAll()
        #expect(r.schemas.count == 1 && r.stats.recordsDelivered == 1)
    }

    @Test func maxFileSizeStopsAppendsButCloseStillWorks() throws {
        let path = tempPath("maxsize")
        defer { unlink(path) }
        let limit: UInt64 = 20_000
        let w = try CaptureWriter(path: path, options: CaptureWriterOptions(maxFileSize: limit, syncOnFlush: false))
        try w.registerType(id: 1, name: "x", version: 1, schema: "")
        let payload = [UInt8](repeating: 0xAB, count: 100)
        var appended = 0
        while true {
            do {
                try w.append(type: 1, timestamp: UInt64(appended), bytes: payload)
                appended += 1
            } catch {
                guard case .sizeLimitReached(path, limit, let size) = error else { throw error }
                #expect(size <= limit)
                break
            }
        }
        #expect(w.projectedSize <= limit)
        #expect(appended > 100)
        try w.close(trailer: CaptureTrailerInfo(note: "max-size reached"))
        let r = try CaptureReader(path: path)
        try r.readAll()
        #expect(r.stats.recordsDelivered == UInt64(appended))
        #expect(r.trailer?.note == "max-size reached")
        #expect(fileSize(path) < limit + 4096)  // the trailer chunk may exceed the limit slightly
    }

    @Test(arguments: bothEncodings) func diskFullKeepsEarlierChunksAndCanBeRetried(compression: CaptureCompression) throws {
        let path = tempPath("enospc")
        defer { unlink(path) }
        let records = recordsFor(compression, count: 400, seed: 21)
        let w = try CaptureWriter(path: path, options: CaptureWriterOptions(chunkSize: 4096, syncOnFlush: false,
                                                                          compression: compression))
        for t in testTypes { try w.registerType(id: t.id, name: t.name, version: t.version, schema: t.schema) }
        for r in records[..<200] { try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags) }
        try w.flush()
        let good = w.bytesWritten
        #expect(fileSize(path) == good)

        // The disk fills up in the middle of the next chunk write.
        let real = w.pwriteImpl
        w.pwriteImpl = { fd, p, n, off in
            if n > 40 { return real(fd, p, n / 2, off) }
            return (-1, ENOSPC)
        }
        var appendedBeforeFailure = 200
        var failure: CaptureError?
        for r in records[200...] {
            do {
                try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags)
                appendedBeforeFailure += 1
            } catch {
                failure = error
                break
            }
        }
        #expect(failure == .diskFull(path: path, offset: good))
        #expect(failure?.description.contains("disk full while writing chunk at offset \(good)") == true)
        #expect(fileSize(path) == good)  // the partial chunk was truncated away
        #expect(w.bytesWritten == good)

        // A reader sees everything flushed before the failure.
        let r1 = try CaptureReader(path: path)
        #expect(try readRecords(r1) == Array(records[..<200]))
        #expect(r1.tail == .unclosed(offset: good))

        // Space comes back: the buffered records are written by a retried flush.
        w.pwriteImpl = real
        try w.flush()
        for r in records[appendedBeforeFailure...] {
            try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags)
        }
        try w.close()
        let r2 = try CaptureReader(path: path)
        #expect(try readRecords(r2) == records)
        #expect(r2.tail == .complete(offset: fileSize(path)))
        #expect(r2.stats.sequenceGaps == 0)
        if compression != .none { #expect(r2.stats.encodedChunks == r2.stats.chunks) }
    }

    @Test(arguments: bothEncodings) func diskFullDuringCloseCanBeRetried(compression: CaptureCompression) throws {
        let path = tempPath("enospc-close")
        defer { unlink(path) }
        let w = try writeCapture(path: path, records: recordsFor(compression, count: 10, seed: 3), close: false,
                                 compression: compression)
        let real = w.pwriteImpl
        w.pwriteImpl = { _, _, _, _ in (-1, EDQUOT) }
        #expect(throws: CaptureError.diskFull(path: path, offset: 64)) { try w.close() }
        w.pwriteImpl = real
        try w.close()
        let r = try CaptureReader(path: path)
        try r.readAll()
        #expect(r.stats.recordsDelivered == 10)
        #expect(r.tail == .complete(offset: fileSize(path)))
        #expect(r.trailer?.totalRecords == 10)
        #expect(r.stats.encodedChunks == (compression == .none ? 0 : r.stats.chunks))
    }

    @Test func otherWriteErrorsAreStickyFailures() throws {
        let path = tempPath("eio")
        defer { unlink(path) }
        let w = try writeCapture(path: path, records: randomRecords(count: 10, seed: 3), close: false)
        w.pwriteImpl = { _, _, _, _ in (-1, EIO) }
        #expect(throws: CaptureError.ioError(operation: "write", path: path, offset: 64, errno: EIO)) { try w.flush() }
        #expect(throws: CaptureError.writerFailed(.ioError(operation: "write", path: path, offset: 64, errno: EIO))) {
            try w.flush()
        }
    }

    @Test func schemasAreRepeatedSoDamageToTheFirstChunkIsSurvivable() throws {
        let path = tempPath("repeat")
        defer { unlink(path) }
        let records = randomRecords(count: 3000, seed: 8)
        let w = try CaptureWriter(path: path, options: CaptureWriterOptions(chunkSize: 4096, syncOnFlush: false,
                                                                          schemaRepeatInterval: 64 << 10))
        for t in testTypes { try w.registerType(id: t.id, name: t.name, version: t.version, schema: t.schema) }
        for r in records { try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags) }
        try w.flush()  // no close: no trailer copy of the schemas
        var bytes = readFile(path)
        let chunks = chunkMap(bytes)
        bytes[chunks[0].offset + 60] ^= 0xFF  // damage the chunk holding the original schemas
        let r = try CaptureReader(bytes: bytes)
        let got = try readRecords(r)
        #expect(got == Array(records[chunks[0].dataRecords...]))
        #expect(r.stats.schemasFoundAhead == 3)
        #expect(r.stats.recordsWithoutSchema.isEmpty)
        #expect(r.clockSamples.count > 3)
        #expect(r.corruptions.count == 1 && r.corruptions[0].offset == 64)
    }

    @Test func largeDefaultChunksWithSync() throws {
        // Default options (256 KiB chunks, fdatasync) on a real file.
        let path = tempPath("default")
        defer { unlink(path) }
        let w = try CaptureWriter(path: path)
        try w.registerType(id: 3, name: "kmsg", version: 1, schema: "line 0 * str")
        var rng = SplitMix(seed: 5)
        var expected: [Rec] = []
        for i in 0..<20_000 {
            let p = (0..<Int(rng.next() % 120)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let rec = Rec(type: 3, timestamp: UInt64(i), payload: p)
            expected.append(rec)
            try w.append(type: 3, timestamp: rec.timestamp, bytes: rec.payload)
            if i % 5000 == 0 { try w.flush() }
        }
        try w.appendHostSnapshot(Array(repeating: 0x7B, count: 300_000))  // larger than a chunk
        try w.close()
        let r = try CaptureReader(path: path)
        #expect(try readRecords(r) == expected)
        #expect(r.hostSnapshots.first?.count == 300_000)
        #expect(r.tail == .complete(offset: fileSize(path)))
        #expect(r.header.writerChunkSize == 256 << 10)
    }
}
