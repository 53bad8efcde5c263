import Foundation
import Glibc
import StoretraceCapture
import StoretraceDecode
import StoretraceRecords
import Testing
@testable import StoretraceSession

/// ftrace formats are repeated with the schemas, so a damaged first chunk
/// costs only the events before the next repetition; a format that is
/// really not there is "schema missing", not "malformed".
@Suite struct FtraceFormatRepeatTests {
    /// A made-up tracepoint: the four common fields, then one int.
    static let format = """
        name: sample_event
        ID: 4242
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

        \tfield:int value;\toffset:8;\tsize:4;\tsigned:1;

        print fmt: "value=%d", REC->value

        """

    /// Payload of one sample_event: CPU header (u32 cpu, u32 0), then
    /// common_type 4242, flags 0, preempt 0, pid 0 (no task lookup), value.
    static func event(_ value: Int32) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
        bytes += withUnsafeBytes(of: UInt16(4242).littleEndian, Array.init) + [0, 0]
        bytes += withUnsafeBytes(of: Int32(0).littleEndian, Array.init)
        bytes += withUnsafeBytes(of: value.littleEndian, Array.init)
        return bytes
    }

    /// Eight chunks of one event each, every chunk starting with the schema
    /// set (repeat interval of one byte); with `withFormat`, the format once.
    static func capture(withFormat: Bool, damageChunkZero: Bool) throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/st-format-repeat-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).stcap"
        var options = CaptureWriterOptions(chunkSize: CaptureFormat.minChunkSize, syncOnFlush: false, schemaRepeatInterval: 1)
        options.overwrite = true
        let recorder = try CaptureRecorder(path: path, options: options, decoder: EventDecoder())
        if withFormat { recorder.appendFormat(system: "sample", formatText: format, timestamp: 1) }
        for number in 0..<8 {
            try recorder.writer.append(type: SourceKind.ftrace.rawValue, timestamp: UInt64(10 + number), bytes: event(Int32(number)))
            try recorder.writer.flush()
        }
        recorder.close(drops: [], note: "test")
        if damageChunkZero {
            // One flipped bit inside chunk 0's payload: its checksum fails.
            let fd = open(path, O_RDWR)
            defer { close(fd) }
            var byte: UInt8 = 0
            let at = off_t(CaptureFormat.fileHeaderSize + CaptureFormat.chunkHeaderSize + 20)
            #expect(pread(fd, &byte, 1, at) == 1)
            byte ^= 0x10
            #expect(pwrite(fd, &byte, 1, at) == 1)
        }
        return path
    }

    static func replay(_ path: String) throws -> ReplaySummary {
        defer { unlink(path) }
        var config = ReplayConfiguration(path: path)
        config.nullSink = true
        return try ReplaySession(configuration: config).run()
    }

    @Test func aDamagedFirstChunkCostsOnlyItsOwnEvents() throws {
        let intact = try Self.replay(Self.capture(withFormat: true, damageChunkZero: false))
        #expect(intact.counts.shown == 8)
        #expect(intact.counts.malformed == 0 && intact.counts.schemaMissing == 0)

        let damaged = try Self.replay(Self.capture(withFormat: true, damageChunkZero: true))
        #expect(damaged.corruptions.count == 1)
        #expect(damaged.counts.shown == 7, "every event after chunk 0 decodes: \(damaged.counts)")
        #expect(damaged.counts.malformed == 0 && damaged.counts.schemaMissing == 0)
    }

    @Test func aMissingFormatIsSchemaMissingNotMalformed() throws {
        let summary = try Self.replay(Self.capture(withFormat: false, damageChunkZero: false))
        #expect(summary.counts.shown == 0)
        #expect(summary.counts.received == 8)
        #expect(summary.counts.schemaMissing == 8)
        #expect(summary.counts.malformed == 0)
        #expect(summary.counts.filteredOut == 0)
    }
}
