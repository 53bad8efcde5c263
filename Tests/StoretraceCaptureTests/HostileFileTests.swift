import Glibc
import Testing
@testable import StoretraceCapture

/// Files an unlucky or hostile user hands to `replay` and `record`.
@Suite struct HostileFileTests {
    /// A FIFO without a writer: open(2) without O_NONBLOCK waits for one
    /// forever. The reader refuses it at once. A helper thread opens the
    /// write end after 3 s to unblock a reader that waits; the reader must
    /// have answered before that.
    @Test func fifoIsRefusedWithoutWaitingForAWriter() throws {
        let path = tempPath("fifo")
        defer { unlink(path) }
        #expect(mkfifo(path, 0o600) == 0)
        let unblocked = Box(false)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box((path, unblocked))).toOpaque()
        pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box<(String, Box<Bool>)>>.fromOpaque(raw!).takeRetainedValue()
            sleep(3)
            box.value.1.value = true
            let fd = open(box.value.0, O_RDWR | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            return nil
        }, context)
        defer { pthread_join(thread, nil) }
        #expect(throws: CaptureError.notRegularFile(path: path)) { try CaptureReader(path: path) }
        #expect(!unblocked.value, "the reader waited for a writer")
        #expect(CaptureError.notRegularFile(path: path).description == "\(path): not a regular file; a capture must be one (a FIFO, a device or a directory is refused)")
    }

    @Test func directoryIsRefused() throws {
        #expect(throws: CaptureError.notRegularFile(path: tmpDir)) { try CaptureReader(path: tmpDir) }
    }

    /// A file header, then a 2 GiB hole (a sparse file: `truncate -s`), then
    /// a whole capture's chunks. The reader resyncs at the first chunk after
    /// the hole, reports the hole as one damaged range, and reads almost
    /// nothing of it (holes hold no chunk magic and are skipped by SEEK_DATA).
    @Test func twoGiBHoleIsSkippedNotScanned() throws {
        let source = tempPath("hole-source")
        let path = tempPath("hole")
        defer { unlink(source); unlink(path) }
        let records = randomRecords(count: 40, seed: 7, maxPayload: 64)
        try writeCapture(path: source, records: records, flushEvery: 9)
        let bytes = readFile(source)
        let hole: UInt64 = 2 << 30
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, 64, 0) } == 64)
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + 64, $0.count - 64, off_t(64 + hole)) } == bytes.count - 64)
        close(fd)

        let reader = try CaptureReader(path: path)
        #expect(try readRecords(reader) == records)
        #expect(reader.corruptions.count == 1)
        #expect(reader.corruptions.first?.offset == 64)
        #expect(reader.corruptions.first?.length == hole)
        #expect(reader.tail == .complete(offset: 64 + hole + UInt64(bytes.count - 64)))
        // The work: one window at the start of the damage and one where the
        // data begins, not 2 GiB.
        #expect(reader.stats.scanReadBytes <= 2 << 16, "\(reader.stats.scanReadBytes) bytes read while scanning")
        #expect(!reader.integrity.isIntact)
        #expect(reader.integrity.problems == ["1 damaged region skipped"])
    }

    /// The same resync over garbage that is not a hole (memory source, no
    /// SEEK_DATA): every byte is looked at, by windows, and the chunk after
    /// the garbage is found at its exact offset, also right behind an "S".
    @Test func garbageIsScannedForTheMagic() throws {
        let source = tempPath("garbage-source")
        defer { unlink(source) }
        let records = randomRecords(count: 20, seed: 8, maxPayload: 64)
        try writeCapture(path: source, records: records)
        let bytes = readFile(source)
        // 200 KiB of "STC" and "S" at every offset: magic prefixes, never the magic.
        var garbage = [UInt8]()
        while garbage.count < 200 << 10 { garbage += Array("STCSTSSTC\u{1}".utf8) }
        garbage = Array(garbage.prefix(200 << 10))
        let damaged = Array(bytes[..<64]) + garbage + Array(bytes[64...])
        let reader = try CaptureReader(bytes: damaged)
        #expect(try readRecords(reader) == records)
        #expect(reader.corruptions.map(\.offset) == [64])
        #expect(reader.corruptions.first?.length == UInt64(garbage.count))
        #expect(reader.stats.scanReadBytes >= UInt64(garbage.count))
        #expect(reader.integrity.isIntact == false)
    }

    @Test func integrityOfIntactCutAndUnclosedCaptures() throws {
        let path = tempPath("integrity")
        defer { unlink(path) }
        try writeCapture(path: path, records: randomRecords(count: 30, seed: 3), flushEvery: 10)
        #expect(try CaptureReader.verify(path: path) == CaptureIntegrity(damagedRegions: 0, recordsWithoutSchema: 0,
                                                                          tail: .complete(offset: fileSize(path))))
        #expect(try CaptureReader.verify(path: path).isIntact)
        let bytes = readFile(path)
        writeFile(path, Array(bytes.dropLast(10)))
        let cut = try CaptureReader.verify(path: path)
        #expect(!cut.isIntact && cut.isTornOrUnclosed && cut.damagedRegions == 0)
        try writeCapture(path: path + ".open", records: randomRecords(count: 5, seed: 4), close: false)
        defer { unlink(path + ".open") }
        let open = try CaptureReader.verify(path: path + ".open")
        #expect(!open.isIntact)
        guard case .unclosed = open.tail else { Issue.record("tail \(open.tail)"); return }
    }

    /// Two `record --force` on one path: the second writer must neither
    /// truncate nor write into the first's file.
    @Test func secondWriterOnTheSamePathIsRefused() throws {
        let path = tempPath("locked")
        defer { unlink(path) }
        let records = randomRecords(count: 25, seed: 5)
        let first = try writeCapture(path: path, records: Array(records.prefix(10)), close: false)
        try first.flush()
        let sizeBefore = fileSize(path)
        for overwrite in [true, false] {
            do {
                _ = try CaptureWriter(path: path, options: CaptureWriterOptions(overwrite: overwrite, syncOnFlush: false))
                Issue.record("a second writer opened \(path) (overwrite \(overwrite))")
            } catch {
                #expect(error == (overwrite ? .lockedByAnotherWriter(path: path) : .fileExists(path: path)))
            }
        }
        #expect(CaptureError.lockedByAnotherWriter(path: path).description
                == "\(path): another storetrace is recording into this file (it holds the file's lock); choose another path")
        #expect(fileSize(path) == sizeBefore)
        for r in records.dropFirst(10) { try first.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags) }
        try first.close()
        let reader = try CaptureReader(path: path)
        #expect(try readRecords(reader) == records)
        #expect(reader.integrity.isIntact)
        // Closed: the lock is gone, and --force may replace the file.
        let again = try CaptureWriter(path: path, options: CaptureWriterOptions(overwrite: true, syncOnFlush: false))
        try again.close()
        #expect(try CaptureReader.verify(path: path).isIntact)
    }
}
