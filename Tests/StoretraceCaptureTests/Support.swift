import Glibc
import StoretraceBytes
@testable import StoretraceCapture

/// Deterministic PRNG (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct Rec: Equatable, CustomStringConvertible {
    var type: UInt16
    var flags: UInt16 = 0
    var timestamp: UInt64
    var payload: [UInt8]
    var description: String { "Rec(\(type), ts \(timestamp), \(payload.count)B, crc \(CRC32C.checksum(payload)))" }
}

let tmpDir: String = {
    let d = "/tmp/storetrace-capture-tests-\(getpid())"
    mkdir(d, 0o700)
    return d
}()

nonisolated(unsafe) private var pathCounter = 0
nonisolated(unsafe) private let pathLock: UnsafeMutablePointer<pthread_mutex_t> = {
    let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    pthread_mutex_init(m, nil)
    return m
}()

func tempPath(_ name: String) -> String {
    pthread_mutex_lock(pathLock)
    pathCounter += 1
    let n = pathCounter
    pthread_mutex_unlock(pathLock)
    let p = "\(tmpDir)/\(name)-\(n).stcap"
    unlink(p)
    return p
}

func readFile(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "open \(path)")
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    var out = [UInt8](repeating: 0, count: Int(st.st_size))
    let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    precondition(n == out.count)
    return out
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0)
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    precondition(n == bytes.count)
}

func appendToFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_APPEND)
    precondition(fd >= 0)
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    precondition(n == bytes.count)
}

func fileSize(_ path: String) -> UInt64 {
    var st = stat()
    stat(path, &st)
    return UInt64(st.st_size)
}

let testTypes: [(id: UInt16, name: String, version: UInt16, schema: String)] = [
    (1, "syscall", 2, "pid 0 4 u32\ntid 4 4 u32\nnr 8 8 i64\nargs 16 * bytes"),
    (2, "ftrace", 1, "# raw ftrace record\ncommon_type 0 2 u16\ncommon_pid 4 4 i32\ndata 8 * bytes"),
    (7, "uevent", 1, "text 0 * str"),
]

func randomRecords(count: Int, seed: UInt64, maxPayload: Int = 300) -> [Rec] {
    var rng = SplitMix(seed: seed)
    var ts: UInt64 = 1_000_000
    var out: [Rec] = []
    for _ in 0..<count {
        let t = testTypes[Int(rng.next() % UInt64(testTypes.count))].id
        let len = Int(rng.next() % UInt64(maxPayload + 1))
        var p = [UInt8](repeating: 0, count: len)
        for i in 0..<len { p[i] = UInt8(truncatingIfNeeded: rng.next()) }
        ts += rng.next() % 5000
        out.append(Rec(type: t, flags: UInt16(truncatingIfNeeded: rng.next() % 4), timestamp: ts, payload: p))
    }
    return out
}

/// Records as a tracer writes them: each type's payload has one length and
/// differs from the one before in a few bytes (a counter, a random byte),
/// so that chunks of them compress as real captures do (random payloads
/// do not compress, and the writer stores such chunks raw).
func compressibleRecords(count: Int, seed: UInt64) -> [Rec] {
    var rng = SplitMix(seed: seed)
    var ts: UInt64 = 1_000_000
    var out: [Rec] = []
    for i in 0..<count {
        let t = testTypes[Int(rng.next() % UInt64(testTypes.count))].id
        var p = [UInt8](repeating: UInt8(t) &* 17, count: 20 + Int(t) * 9)
        p.withUnsafeMutableBytes { st32($0.baseAddress!, 0, UInt32(i)) }
        p[5] = UInt8(truncatingIfNeeded: rng.next() % 3)
        ts += rng.next() % 5000
        out.append(Rec(type: t, flags: UInt16(truncatingIfNeeded: rng.next() % 2), timestamp: ts, payload: p))
    }
    return out
}

/// The records a capture test writes: random ones raw, compressible ones
/// when compressing (so that the chunks are compressed indeed).
func recordsFor(_ compression: CaptureCompression, count: Int, seed: UInt64, maxPayload: Int = 300) -> [Rec] {
    compression == .none ? randomRecords(count: count, seed: seed, maxPayload: maxPayload)
                         : compressibleRecords(count: count, seed: seed)
}

/// Writes a capture with the real writer; flushes every `flushEvery` records.
@discardableResult
func writeCapture(path: String, records: [Rec], chunkSize: Int = 4096, flushEvery: Int? = nil,
                  snapshot: [UInt8]? = nil, close: Bool = true, compression: CaptureCompression = .none,
                  trailer: CaptureTrailerInfo = CaptureTrailerInfo(drops: [CaptureDropCounter(source: "ringbuf", count: 3)], note: "test")) throws -> CaptureWriter {
    let w = try CaptureWriter(path: path, options: CaptureWriterOptions(chunkSize: chunkSize, syncOnFlush: false,
                                                                      compression: compression))
    for t in testTypes { try w.registerType(id: t.id, name: t.name, version: t.version, schema: t.schema) }
    if let s = snapshot { try w.appendHostSnapshot(s) }
    for (i, r) in records.enumerated() {
        try w.append(type: r.type, timestamp: r.timestamp, bytes: r.payload, flags: r.flags)
        if let f = flushEvery, (i + 1) % f == 0 { try w.flush() }
    }
    if close { try w.close(trailer: trailer) }
    return w
}

/// The records a read delivers, and whether every payload was 8-byte aligned.
func readRecordsCheckingAlignment(_ reader: CaptureReader) throws -> (records: [Rec], aligned: Bool) {
    var aligned = true
    var got: [Rec] = []
    try reader.read { r in
        if let b = r.payload.baseAddress, UInt(bitPattern: b) % 8 != 0 { aligned = false }
        got.append(Rec(type: r.type, flags: r.flags, timestamp: r.timestamp, payload: Array(r.payload)))
    }
    return (got, aligned)
}

func readRecords(_ reader: CaptureReader, accept: (CaptureSchema) -> Bool = { _ in true }) throws -> [Rec] {
    var out: [Rec] = []
    try reader.read(accept: accept) { r in
        out.append(Rec(type: r.type, flags: r.flags, timestamp: r.timestamp, payload: Array(r.payload)))
    }
    return out
}

struct ChunkInfo {
    var offset: Int
    var header: CaptureChunkHeader
    var end: Int { offset + Int(header.totalLength) }
    var dataRecords: Int
}

/// Walks the chunks of a valid capture with the pure parsers (and the
/// reader's decoder for the compressed chunks of a 2.x file).
func chunkMap(_ bytes: [UInt8]) -> [ChunkInfo] {
    let major = UInt16(bytes[8]) | UInt16(bytes[9]) << 8
    let decoder = ChunkDecoder()
    return bytes.withUnsafeBytes { b in
        var off = CaptureFormat.fileHeaderSize
        var out: [ChunkInfo] = []
        while off < b.count {
            guard case .ok(let h, let range) = CaptureChunk.parse(UnsafeRawBufferPointer(rebasing: b[off...])) else {
                fatalError("chunkMap: invalid chunk at \(off)")
            }
            var n = 0
            var records = UnsafeRawBufferPointer(rebasing: b[(off + range.lowerBound)..<(off + range.upperBound)])
            if h.isEncoded(inMajorVersion: major) {
                guard let decoded = try? decoder.decode(encoding: h.encoding, payload: records) else {
                    fatalError("chunkMap: chunk at \(off) does not decode")
                }
                records = decoded
            }
            CaptureChunk.walkRecords(records) {
                _, type, _, _, _ in
                if type < CaptureFormat.firstReservedType { n += 1 }
                return true
            }
            out.append(ChunkInfo(offset: off, header: h, dataRecords: n))
            off += Int(h.totalLength)
        }
        return out
    }
}

/// Builds a chunk from raw records (for hand-made test files).
func buildChunk(sequence: UInt64, records: [Rec], flags: UInt16 = 0,
                rawPayloadOverride: [UInt8]? = nil, recordCountOverride: UInt32? = nil,
                payloadLengthOverride: UInt32? = nil, encoding: UInt16 = 0) -> [UInt8] {
    var payload: [UInt8] = []
    for r in records {
        var h = [UInt8](repeating: 0, count: 16)
        h.withUnsafeMutableBytes { p in
            st16(p.baseAddress!, 0, r.type)
            st16(p.baseAddress!, 2, r.flags)
            st32(p.baseAddress!, 4, UInt32(r.payload.count))
            st64(p.baseAddress!, 8, r.timestamp)
        }
        payload += h + r.payload
        payload += [UInt8](repeating: 0, count: (8 - r.payload.count % 8) % 8)
    }
    if let o = rawPayloadOverride { payload = o }
    let header = CaptureChunkHeader(flags: flags, encoding: encoding, sequence: sequence,
                                    payloadLength: payloadLengthOverride ?? UInt32(payload.count),
                                    recordCount: recordCountOverride ?? UInt32(records.count),
                                    minTimestamp: records.map(\.timestamp).min() ?? 0,
                                    maxTimestamp: records.map(\.timestamp).max() ?? 0,
                                    payloadCRC: CRC32C.checksum(payload))
    var out = [UInt8](repeating: 0, count: CaptureFormat.chunkHeaderSize)
    out.withUnsafeMutableBytes { header.encode(into: $0.baseAddress!) }
    return out + payload
}

func fileHeaderBytes(major: UInt16 = 1, minor: UInt16 = 0) -> [UInt8] {
    CaptureFileHeader(majorVersion: major, minorVersion: minor, creationRealtimeNs: 1_700_000_000_000_000_000,
                      creationMonotonicNs: 5_000, writerChunkSize: 4096).encoded()
}

func schemaRecord(_ id: UInt16, _ name: String, version: UInt16 = 1, text: String = "x 0 4 u32") -> Rec {
    Rec(type: CaptureFormat.schemaRecordType, timestamp: 1,
        payload: CaptureSchema(typeId: id, name: name, version: version, fieldText: text).encoded())
}

/// Recomputes the header CRC of the chunk at `offset` (after a deliberate edit).
func resealChunkHeader(_ bytes: inout [UInt8], at offset: Int) {
    bytes.withUnsafeMutableBytes { b in
        let p = b.baseAddress! + offset
        st32(p, 44, CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 44)))
    }
}

/// Recomputes the payload CRC and header CRC of the chunk at `offset`.
func resealChunk(_ bytes: inout [UInt8], at offset: Int) {
    bytes.withUnsafeMutableBytes { b in
        let p = b.baseAddress! + offset
        let len = min(Int(ByteReader(UnsafeRawBufferPointer(b), order: .little).field(UInt32.self, at: offset + 16)),
                      b.count - offset - 48)  // clamp: tests seal deliberately bad lengths too
        st32(p, 40, CRC32C.checksum(UnsafeRawBufferPointer(start: p + 48, count: len)))
    }
    resealChunkHeader(&bytes, at: offset)
}

func setU32(_ bytes: inout [UInt8], _ offset: Int, _ v: UInt32) {
    bytes.withUnsafeMutableBytes { st32($0.baseAddress!, offset, v) }
}
func setU16(_ bytes: inout [UInt8], _ offset: Int, _ v: UInt16) {
    bytes.withUnsafeMutableBytes { st16($0.baseAddress!, offset, v) }
}
func resealFileHeader(_ bytes: inout [UInt8], headerLength: Int = 64) {
    let crc = CRC32C.checksum(Array(bytes[0..<(headerLength - 4)]))
    setU32(&bytes, headerLength - 4, crc)
}

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}
