import Dispatch
import Glibc
import Testing
@testable import StoretraceCapture

@Suite struct FollowTests {
    @Test(arguments: bothEncodings) func followsAFileAnotherThreadIsWriting(compression: CaptureCompression) throws {
        let path = tempPath("follow")
        defer { unlink(path) }
        let records = recordsFor(compression, count: 2000, seed: 31)
        let writer = Box(try CaptureWriter(path: path, options: CaptureWriterOptions(chunkSize: 8192, syncOnFlush: false,
                                                                                   compression: compression)))
        for t in testTypes { try writer.value.registerType(id: t.id, name: t.name, version: t.version, schema: t.schema) }
        let done = DispatchSemaphore(value: 0)
        let recs = Box(records)
        let writerError = Box<CaptureError?>(nil)
        DispatchQueue.global().async {
            do {
                let w = writer.value
                for (i, r) in recs.value.enumerated() {
                    try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags)
                    if i % 100 == 99 {
                        try w.flush()
                        usleep(3000)
                    }
                }
                try w.close()
            } catch {
                writerError.value = error as? CaptureError ?? .invalidArgument("\(error)")
            }
            done.signal()
        }
        let reader = try CaptureReader(path: path, options: CaptureReaderOptions(pollIntervalNs: 2_000_000))
        let deadline = Clock.monotonic() + 20_000_000_000
        var got: [Rec] = []
        try reader.follow(until: { Clock.monotonic() > deadline }) { r in
            got.append(Rec(type: r.type, flags: r.flags, timestamp: r.timestamp, payload: Array(r.payload)))
        }
        done.wait()
        #expect(writerError.value == nil)
        #expect(got == records)
        #expect(reader.tail == .complete(offset: fileSize(path)))
        #expect(reader.trailer?.totalRecords == 2000)
        #expect(reader.stats.encodedChunks == (compression == .none ? 0 : reader.stats.chunks))
    }

    @Test func followWaitsForAPartiallyWrittenChunk() throws {
        let path = tempPath("follow-partial")
        defer { unlink(path) }
        let a = Rec(type: 1, timestamp: 5, payload: Array(repeating: 1, count: 1000))
        let b = Rec(type: 1, timestamp: 6, payload: Array(repeating: 2, count: 3))
        let chunk0 = buildChunk(sequence: 0, records: [schemaRecord(1, "t"), a], flags: 1)
        let chunk1 = buildChunk(sequence: 1, records: [b])
        let trailer = CaptureTrailer(totalRecords: 2, totalChunks: 3, endMonotonicNs: 9, endRealtimeNs: 9,
                                     recordsByType: [1: 2], drops: [], note: "")
        let chunk2 = buildChunk(sequence: 2, records: [Rec(type: 0xFF03, timestamp: 9, payload: trailer.encoded())], flags: 3)
        writeFile(path, fileHeaderBytes())
        // The "writer" produces chunk 0 in three pieces, then the rest.
        let pieces = [Array(chunk0[..<20]), Array(chunk0[20..<500]), Array(chunk0[500...]), chunk1, chunk2]
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for p in pieces {
                usleep(20_000)
                appendToFile(path, p)
            }
            done.signal()
        }
        let reader = try CaptureReader(path: path, options: CaptureReaderOptions(pollIntervalNs: 1_000_000))
        var got: [Rec] = []
        let deadline = Clock.monotonic() + 10_000_000_000
        try reader.follow(until: { Clock.monotonic() > deadline }) { r in
            got.append(Rec(type: r.type, flags: r.flags, timestamp: r.timestamp, payload: Array(r.payload)))
        }
        done.wait()
        #expect(got == [a, b])
        #expect(reader.corruptions.isEmpty)
        #expect(reader.tail == .complete(offset: fileSize(path)))
    }

    @Test func followStopsWhenTheCallerSaysSo() throws {
        let path = tempPath("follow-stop")
        defer { unlink(path) }
        let w = try writeCapture(path: path, records: randomRecords(count: 50, seed: 4), close: false)
        try w.flush()
        let reader = try CaptureReader(path: path, options: CaptureReaderOptions(pollIntervalNs: 1_000_000))
        var polls = 0
        var n = 0
        try reader.follow(until: { polls += 1; return polls > 3 }) { _ in n += 1 }
        #expect(n == 50)
        #expect(polls == 4)
        #expect(reader.tail == .unclosed(offset: fileSize(path)))
        // More data later; a new follow call continues where the last one stopped.
        for r in randomRecords(count: 10, seed: 5) {
            try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload)
        }
        try w.close()
        try reader.follow(until: { false }) { _ in n += 1 }
        #expect(n == 60)
        #expect(reader.tail == .complete(offset: fileSize(path)))
    }

    @Test func requestStopFromTheCallback() throws {
        let path = tempPath("stop")
        defer { unlink(path) }
        try writeCapture(path: path, records: randomRecords(count: 100, seed: 6))
        let reader = try CaptureReader(path: path)
        var n = 0
        try reader.read { _ in
            n += 1
            if n == 10 { reader.requestStop() }
        }
        #expect(n == 10)
        #expect(reader.tail == .notReached)
    }
}
