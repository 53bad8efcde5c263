import Glibc
import Testing
@testable import StoretraceCapture

/// `attach-zstd.stcap` (Tests/StoretraceSessionTests/Fixtures) is the 1.0
/// fixture `attach.stcap` with each chunk compressed by the writer's encoder,
/// as `record` writes them: format 2.0, the same chunks, the same records.
/// GoldenReplayTests replays it to the same bytes as the 1.0 file, and
/// scripts/test reads it with the reference reader; these tests hold it to
/// its source. Remade (only after a format change) with
/// `STORETRACE_REMAKE_COMPRESSED_FIXTURE=1 swift test --filter CompressedFixtureTests`.
@Suite struct CompressedFixtureTests {
    /// Tests/StoretraceSessionTests/Fixtures, beside this file's directory.
    static let fixtures: String = {
        let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        return parts.dropLast(2).joined(separator: "/") + "/StoretraceSessionTests/Fixtures"
    }()
    static let source = fixtures + "/attach.stcap"
    static let compressed = fixtures + "/attach-zstd.stcap"

    /// Each chunk of a 1.0 capture compressed (kept raw if it would not
    /// shrink), everything else as it was; the header says 2.0.
    static func recompress(_ bytes: [UInt8]) throws -> [UInt8] {
        var header = Array(bytes[0..<CaptureFormat.fileHeaderSize])
        setU16(&header, 8, CaptureFormat.encodedMajorVersion)
        resealFileHeader(&header)
        var out = header
        let encoder = try ChunkEncoder(level: CaptureCompression.defaultZstdLevel, chunkCapacity: 64 << 10)
        for chunk in chunkMap(bytes) {
            let start = chunk.offset + CaptureFormat.chunkHeaderSize
            let records = Array(bytes[start..<chunk.end])
            let stored = try records.withUnsafeBytes { (b) throws(CaptureError) -> [UInt8]? in
                try encoder.encode(b) { (base, length) throws(CaptureError) in
                    Array(UnsafeRawBufferPointer(start: base + CaptureFormat.chunkHeaderSize, count: length))
                }
            }
            var h = chunk.header
            if let stored {
                h.encoding = CaptureChunkEncoding.zstd.rawValue
                h.payloadLength = UInt32(stored.count)
                h.payloadCRC = CRC32C.checksum(stored)
            }
            var encodedHeader = [UInt8](repeating: 0, count: CaptureFormat.chunkHeaderSize)
            encodedHeader.withUnsafeMutableBytes { h.encode(into: $0.baseAddress!) }
            out += encodedHeader + (stored ?? records)
        }
        return out
    }

    @Test func theCompressedFixtureHoldsTheChunksOfItsSource() throws {
        if getenv("STORETRACE_REMAKE_COMPRESSED_FIXTURE") != nil {
            writeFile(Self.compressed, try Self.recompress(readFile(Self.source)))
        }
        let source = readFile(Self.source), compressed = readFile(Self.compressed)
        #expect(compressed[8] == 2 && compressed[9] == 0 && source[8] == 1)
        #expect(Array(compressed[10..<60]) == Array(source[10..<60]))
        let original = chunkMap(source), recompressed = chunkMap(compressed)
        #expect(recompressed.count == original.count)
        #expect(recompressed.allSatisfy { $0.header.encoding == CaptureChunkEncoding.zstd.rawValue })
        let decoder = ChunkDecoder()
        for (a, b) in zip(original, recompressed) {
            var header = b.header
            header.encoding = a.header.encoding
            header.payloadLength = a.header.payloadLength
            header.payloadCRC = a.header.payloadCRC
            #expect(header == a.header)
            let records = try compressed.withUnsafeBytes { whole in
                Array(try decoder.decode(encoding: b.header.encoding,
                                         payload: UnsafeRawBufferPointer(rebasing: whole[(b.offset + 48)..<b.end])))
            }
            #expect(records == Array(source[(a.offset + 48)..<a.end]))
        }
        #expect(compressed.count * 4 < source.count)
    }
}
