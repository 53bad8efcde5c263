// Writes the hand-made seed inputs of Fuzz/corpus/capture-reader/ (deterministic:
// fixed timestamps, no clock, no writer), plus the 1.0 fixture and cuts of it.
// The corpus is committed; regenerate it only after a format change, with
//
//   scripts/fuzz --make-seeds
//
// Compiled into the StoretraceCapture module itself so it can use the internal
// metadata encoders (the same ones the writer uses).
import Glibc

private func u16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
private func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
private func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

private func record(_ type: UInt16, _ ts: UInt64, _ payload: [UInt8], flags: UInt16 = 0) -> [UInt8] {
    var out = u16(type) + u16(flags) + u32(UInt32(payload.count)) + u64(ts) + payload
    out += [UInt8](repeating: 0, count: (8 - payload.count % 8) % 8)
    return out
}

private func chunk(_ sequence: UInt64, _ records: [[UInt8]], flags: UInt16 = 0,
                   recordCount: UInt32? = nil, corruptPayloadCRC: Bool = false) -> [UInt8] {
    let payload = records.flatMap { $0 }
    var tss: [UInt64] = []
    var off = 0
    while off + 16 <= payload.count {
        tss.append(payload[(off + 8)..<(off + 16)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let len = Int(payload[(off + 4)..<(off + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        off += CaptureFormat.recordSize(payloadLength: len)
    }
    var crc = CRC32C.checksum(payload)
    if corruptPayloadCRC { crc ^= 0x5A5A_5A5A }
    let h = CaptureChunkHeader(flags: flags, sequence: sequence, payloadLength: UInt32(payload.count),
                               recordCount: recordCount ?? UInt32(records.count),
                               minTimestamp: tss.min() ?? 0, maxTimestamp: tss.max() ?? 0, payloadCRC: crc)
    var out = [UInt8](repeating: 0, count: CaptureFormat.chunkHeaderSize)
    out.withUnsafeMutableBytes { h.encode(into: $0.baseAddress!) }
    return out + payload
}

/// A 2.0 chunk: `records` compressed by the writer's encoder; a
/// `decodedLength` override makes a sound frame with a false prefix.
private func zchunk(_ sequence: UInt64, _ records: [[UInt8]], flags: UInt16 = 0, decodedLength: UInt32? = nil) -> [UInt8] {
    let raw = chunk(sequence, records, flags: flags)
    let header = CaptureChunkHeader.parse(raw.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[0..<48]) })
    guard case .ok(var h) = header, let encoder = try? ChunkEncoder(level: 3, chunkCapacity: 64 << 10) else {
        fatalError("zchunk")
    }
    let area = Array(raw[48...])
    var payload = area.withUnsafeBytes { b in
        (try? encoder.encode(b) { (base, length) throws(CaptureError) in
            Array(UnsafeRawBufferPointer(start: base + 48, count: length))
        }) ?? nil
    } ?? []
    precondition(!payload.isEmpty, "zchunk: the records do not compress")
    if let decodedLength { payload.withUnsafeMutableBytes { st32($0.baseAddress!, 0, decodedLength) } }
    h.encoding = CaptureChunkEncoding.zstd.rawValue
    h.payloadLength = UInt32(payload.count)
    h.payloadCRC = CRC32C.checksum(payload)
    var out = [UInt8](repeating: 0, count: CaptureFormat.chunkHeaderSize)
    out.withUnsafeMutableBytes { h.encode(into: $0.baseAddress!) }
    return out + payload
}

private let meta = CaptureFormat.chunkFlagMetadata
private let trailerFlags = CaptureFormat.chunkFlagMetadata | CaptureFormat.chunkFlagTrailer

private let fileHeader = CaptureFileHeader(creationRealtimeNs: 1_700_000_000_000_000_000,
                                           creationMonotonicNs: 5_000_000, writerChunkSize: 4096).encoded()
private let fileHeader2 = CaptureFileHeader(majorVersion: CaptureFormat.encodedMajorVersion,
                                            creationRealtimeNs: 1_700_000_000_000_000_000,
                                            creationMonotonicNs: 5_000_000, writerChunkSize: 4096).encoded()

private func clock(_ mono: UInt64) -> [UInt8] {
    record(CaptureFormat.clockRecordType, mono,
           CaptureClockSample(monotonicNs: mono, realtimeNs: 1_700_000_000_000_000_000 + mono,
                              boottimeNs: mono + 1000, uncertaintyNs: 70).encoded())
}

private let syscallSchema = CaptureSchema(typeId: 1, name: "syscall", version: 2,
                                          fieldText: "# struct syscall_event\npid 0 4 u32\ntid 4 4 u32\nnr 8 8 i64\nargs 16 * bytes")
private let kmsgSchema = CaptureSchema(typeId: 7, name: "kmsg", version: 1,
                                       fieldText: "prio 0 1 u8\r\ntext 8 * str\n\nseq 1 8 u64be\nname 16 16 char[16]")

private func schema(_ s: CaptureSchema, _ ts: UInt64) -> [UInt8] {
    record(CaptureFormat.schemaRecordType, ts, s.encoded())
}

private func syscallEvent(_ pid: UInt32, _ nr: Int64, _ ts: UInt64, args: Int = 16) -> [UInt8] {
    record(1, ts, u32(pid) + u32(pid) + u64(UInt64(bitPattern: nr)) + [UInt8](repeating: 0xA5, count: args), flags: 1)
}

private func trailer(records: UInt64, chunks: UInt64) -> [UInt8] {
    let t = CaptureTrailer(totalRecords: records, totalChunks: chunks, endMonotonicNs: 9_000_000,
                           endRealtimeNs: 1_700_000_000_009_000_000, recordsByType: [1: records],
                           drops: [CaptureDropCounter(source: "ringbuf", count: 3)], note: "SIGINT")
    return record(CaptureFormat.trailerRecordType, 9_000_000, t.encoded())
}

private func write(_ dir: String, _ name: String, _ bytes: [UInt8]) {
    let path = "\(dir)/\(name)"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    precondition(n == bytes.count, "short write to \(path)")
    close(fd)
    print("\(path): \(bytes.count) bytes")
}

private func readAll(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "cannot open \(path)")
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    var out = [UInt8](repeating: 0, count: Int(st.st_size))
    let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    precondition(n == out.count, "short read from \(path)")
    return out
}

@main
struct MakeSeeds {
    static func main() {
        let args = CommandLine.arguments
        guard args.count == 3 else {
            print("usage: make-seeds <capture-v1.0.stcap fixture> <corpus dir>")
            exit(2)
        }
        let fixture = readAll(args[1]), dir = args[2]

        // The real 1.0 capture (3 chunks, trailer) and cuts of it.
        write(dir, "fixture-v1.0.stcap", fixture)
        // Chunks 0 and 1 complete, chunk 2 (the trailer chunk) torn 1000 bytes into its payload.
        write(dir, "fixture-v1.0-torn.stcap", Array(fixture[..<(26192 + 48 + 1000)]))
        // File header plus half a chunk header.
        write(dir, "fixture-v1.0-cut-in-chunk-header.stcap", Array(fixture[..<(64 + 24)]))

        // A valid file header and nothing else (unclosed, no chunks).
        write(dir, "header-only.stcap", fileHeader)

        // A newer minor version with a 128-byte header (checksum in its last 4 bytes).
        var long = fileHeader
        long.withUnsafeMutableBytes { st16($0.baseAddress!, 10, 3); st32($0.baseAddress!, 12, 128) }
        long = Array(long[..<60]) + [UInt8](repeating: 0, count: 64)
        long += u32(CRC32C.checksum(long))
        write(dir, "header-minor3-128.stcap", long + chunk(0, [clock(5_000_000), schema(syscallSchema, 5_000_001),
                                                               syscallEvent(42, 165, 5_000_100)], flags: meta))

        // Header + one chunk: a whole clean capture (clock, schemas, records, host
        // snapshot, unknown metadata type, schema repeat, trailer).
        let c0: [[UInt8]] = [
            clock(5_000_000), schema(syscallSchema, 5_000_001), schema(kmsgSchema, 5_000_002),
            record(CaptureFormat.hostSnapshotRecordType, 5_000_003, Array(#"{"node":"n1"}"#.utf8)),
            syscallEvent(42, 165, 5_000_100), syscallEvent(43, 166, 5_000_050, args: 3),
            record(7, 5_000_200, [6] + [UInt8](repeating: 0, count: 7) + Array("hello\0".utf8)),
            record(0xFF7F, 5_000_300, [1, 2, 3]),
            schema(syscallSchema, 8_999_999), clock(8_999_999), trailer(records: 3, chunks: 1),
        ]
        write(dir, "one-chunk-closed.stcap", fileHeader + chunk(0, c0, flags: trailerFlags))

        // Two chunks, writer killed before close (ends at a chunk boundary, no trailer).
        let a = chunk(0, [clock(5_000_000), schema(syscallSchema, 5_000_001), syscallEvent(1, 0, 5_000_010)], flags: meta)
        let b = chunk(1, [syscallEvent(1, 1, 5_000_020), syscallEvent(2, 59, 5_000_030, args: 0)])
        write(dir, "two-chunks-unclosed.stcap", fileHeader + a + b)

        // Damage and resync: garbage after chunk 0, a chunk with a bad payload CRC,
        // a stale copy of chunk 0 (scan must reject it by sequence), then valid chunks.
        let c2 = chunk(2, [syscallEvent(3, 3, 5_000_040)])
        let c3 = chunk(3, [syscallEvent(4, 4, 5_000_050)], corruptPayloadCRC: true)
        let c4 = chunk(4, [schema(syscallSchema, 5_000_060), trailer(records: 4, chunks: 5)], flags: trailerFlags)
        write(dir, "resync.stcap", fileHeader + a + [UInt8](repeating: 0xEE, count: 24) + b
              + [UInt8](repeating: 0, count: 16) + a + c2 + c3 + c4)

        // A data record before its schema: the reader looks ahead in metadata chunks.
        let early = chunk(0, [clock(5_000_000), syscallEvent(9, 9, 5_000_001), record(5, 5_000_002, [0])], flags: meta)
        let later = chunk(1, [schema(syscallSchema, 5_000_003), syscallEvent(9, 10, 5_000_004)], flags: meta)
        write(dir, "schema-ahead.stcap", fileHeader + early + later)

        // Malformed record area (length overruns the chunk) and a recordCount mismatch.
        var bad = syscallEvent(5, 5, 5_000_001)
        bad.withUnsafeMutableBytes { st32($0.baseAddress!, 4, 4096) }
        let m0 = chunk(0, [clock(5_000_000), schema(syscallSchema, 5_000_001), bad], flags: meta)
        let m1 = chunk(1, [syscallEvent(5, 6, 5_000_002)], recordCount: 7)
        // Metadata records too short / inconsistent to decode.
        let m2 = chunk(2, [record(CaptureFormat.schemaRecordType, 1, u16(1) + u16(1) + u16(200)),
                           record(CaptureFormat.clockRecordType, 2, [1, 2, 3]),
                           record(CaptureFormat.trailerRecordType, 3, [UInt8](repeating: 0xFF, count: 48))], flags: meta)
        write(dir, "malformed-records.stcap", fileHeader + m0 + m1 + m2)

        // A bare chunk stream with no file header (CaptureFuzz.parseChunks path).
        write(dir, "chunk-stream.bin", a + b + c4)

        // Format 2.0: the clean capture with its chunk compressed; the resync
        // file's chunks compressed (damage, a stale copy, a bad payload CRC);
        // chunks whose prefix lies about the decoded size (more and less than
        // the frame declares, not a multiple of 8); a bare stream of
        // compressed chunks.
        // (Events with 256 bytes of arguments, so that each chunk compresses.)
        write(dir, "zstd-one-chunk-closed.stcap", fileHeader2 + zchunk(0, c0, flags: trailerFlags))
        let za = zchunk(0, [clock(5_000_000), schema(syscallSchema, 5_000_001), syscallEvent(1, 0, 5_000_010, args: 256)],
                        flags: meta)
        let zb = zchunk(1, [syscallEvent(1, 1, 5_000_020, args: 256), syscallEvent(2, 59, 5_000_030, args: 256)])
        var zc3 = zchunk(3, [syscallEvent(4, 4, 5_000_050, args: 256)])
        zc3[zc3.count - 1] ^= 0x5A
        let zc4 = zchunk(4, [schema(syscallSchema, 5_000_060), syscallEvent(5, 5, 5_000_059, args: 256),
                             trailer(records: 5, chunks: 5)], flags: trailerFlags)
        write(dir, "zstd-resync.stcap", fileHeader2 + za + [UInt8](repeating: 0xEE, count: 24) + zb
              + [UInt8](repeating: 0, count: 16) + za + zchunk(2, [syscallEvent(3, 3, 5_000_040, args: 256)]) + zc3 + zc4)
        let events = (1...3).map { syscallEvent(7, Int64($0), 5_000_000 + 100 * UInt64($0), args: 256) }
        write(dir, "zstd-undecodable.stcap", fileHeader2 + za
              + zchunk(1, events, decodedLength: 4096) + zchunk(2, events, decodedLength: 16)
              + zchunk(3, events, decodedLength: 20) + zchunk(4, events))
        write(dir, "zstd-chunk-stream.bin", za + zb + zc4)
    }
}
