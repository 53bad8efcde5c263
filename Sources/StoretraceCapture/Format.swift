import StoretraceBytes

/// Constants of the capture file format. See docs/capture-format.md.
/// All multi-byte integers in the file are little-endian.
public enum CaptureFormat {
    /// File magic, bytes 0..7: "\x89STRCAP\n".
    public static let fileMagic: [UInt8] = [0x89, 0x53, 0x54, 0x52, 0x43, 0x41, 0x50, 0x0A]
    /// Major version of a file whose chunks are all raw (written without
    /// compression): every storetrace reads it.
    public static let rawMajorVersion: UInt16 = 1
    /// Major version of a file whose chunks may be encoded (compressed):
    /// a 1.x reader cannot read them, so it must refuse the file by its
    /// version instead of taking compressed bytes for records.
    public static let encodedMajorVersion: UInt16 = 2
    /// The majors this reader reads; it rejects others. Any minor of them is accepted.
    public static let readableMajorVersions: ClosedRange<UInt16> = 1...2
    /// Size of the file header written by this version.
    public static let fileHeaderSize = 64
    /// Largest header length a reader accepts (newer minors may grow the header).
    public static let maxFileHeaderSize = 4096

    /// Chunk magic, bytes "STCK" (0x53 0x54 0x43 0x4B); as a little-endian u32: 0x4B435453.
    public static let chunkMagic: UInt32 = 0x4B43_5453
    public static let chunkHeaderSize = 48
    /// Largest chunk payload (records area) a reader accepts: 64 MiB.
    public static let maxChunkPayload = 64 << 20
    public static let recordHeaderSize = 16
    /// Largest record payload: a record must fit alone in a chunk.
    public static let maxRecordPayload = maxChunkPayload - recordHeaderSize
    /// Default writer chunk size (header + records), 256 KiB.
    public static let defaultChunkSize = 256 << 10
    /// Smallest writer chunk size accepted.
    public static let minChunkSize = 4096

    /// Chunk flag: the chunk holds at least one metadata (reserved-type) record.
    public static let chunkFlagMetadata: UInt16 = 1 << 0
    /// Chunk flag: the chunk holds the end-of-capture trailer.
    public static let chunkFlagTrailer: UInt16 = 1 << 1
    /// Bytes before the zstd frame in an encoded chunk's payload: u32
    /// decodedLength, u32 frameLength (section 4.3).
    public static let encodedPrefixSize = 8
    /// An encoded chunk's records are at most this many times its stored
    /// payload: the writer stores a chunk raw rather than exceed it (real
    /// records, each with its own header and time, compress 30-40×), so a
    /// reader knows a declared size is false before allocating for it, and a
    /// small hostile file cannot make it allocate much.
    public static let maxDecodedExpansion = 1024

    /// Record type ids 0xFF00...0xFFFF are reserved for the format itself.
    public static let firstReservedType: UInt16 = 0xFF00
    public static let schemaRecordType: UInt16 = 0xFF00
    public static let clockRecordType: UInt16 = 0xFF01
    public static let hostSnapshotRecordType: UInt16 = 0xFF02
    public static let trailerRecordType: UInt16 = 0xFF03

    /// Payload byte order values in the file header.
    public static let byteOrderLittle: UInt8 = 1
    public static let byteOrderBig: UInt8 = 2

    /// Total bytes a record with `payloadLength` payload bytes occupies in a chunk.
    @inline(__always)
    public static func recordSize(payloadLength: Int) -> Int {
        recordHeaderSize + ((payloadLength + 7) & ~7)
    }
}

// MARK: - Little-endian writers (reads go through ByteReader)

@inline(__always) func st16(_ p: UnsafeMutableRawPointer, _ o: Int, _ v: UInt16) {
    p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt16.self)
}
@inline(__always) func st32(_ p: UnsafeMutableRawPointer, _ o: Int, _ v: UInt32) {
    p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self)
}
@inline(__always) func st64(_ p: UnsafeMutableRawPointer, _ o: Int, _ v: UInt64) {
    p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self)
}

// MARK: - File header

/// The file header (64 bytes in version 1.0; see the spec for the layout).
public struct CaptureFileHeader: Sendable, Equatable {
    public var majorVersion: UInt16
    public var minorVersion: UInt16
    /// Header length in bytes; the first chunk starts here.
    public var headerLength: UInt32
    /// CLOCK_REALTIME at creation, ns since the Unix epoch.
    public var creationRealtimeNs: UInt64
    /// CLOCK_MONOTONIC at creation, ns.
    public var creationMonotonicNs: UInt64
    /// Reserved, 0 in 1.0 and 2.0.
    public var flags: UInt32
    /// Byte order of the capturing host (CaptureFormat.byteOrderLittle/Big):
    /// record payloads are stored as delivered, i.e. in this byte order.
    public var payloadByteOrder: UInt8
    /// Chunk size the writer used (informational).
    public var writerChunkSize: UInt32

    public init(majorVersion: UInt16 = CaptureFormat.rawMajorVersion,
                minorVersion: UInt16 = 0,
                headerLength: UInt32 = UInt32(CaptureFormat.fileHeaderSize),
                creationRealtimeNs: UInt64, creationMonotonicNs: UInt64,
                flags: UInt32 = 0,
                payloadByteOrder: UInt8 = hostByteOrder,
                writerChunkSize: UInt32) {
        self.majorVersion = majorVersion
        self.minorVersion = minorVersion
        self.headerLength = headerLength
        self.creationRealtimeNs = creationRealtimeNs
        self.creationMonotonicNs = creationMonotonicNs
        self.flags = flags
        self.payloadByteOrder = payloadByteOrder
        self.writerChunkSize = writerChunkSize
    }

    public static var hostByteOrder: UInt8 {
        1.littleEndian == 1 ? CaptureFormat.byteOrderLittle : CaptureFormat.byteOrderBig
    }

    /// Encodes the 64-byte header of versions 1.0 and 2.0 (with checksum).
    /// `headerLength` is forced to 64.
    public func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: CaptureFormat.fileHeaderSize)
        out.withUnsafeMutableBytes { b in
            let p = b.baseAddress!
            for (i, m) in CaptureFormat.fileMagic.enumerated() { p.storeBytes(of: m, toByteOffset: i, as: UInt8.self) }
            st16(p, 8, majorVersion)
            st16(p, 10, minorVersion)
            st32(p, 12, UInt32(CaptureFormat.fileHeaderSize))
            st64(p, 16, creationRealtimeNs)
            st64(p, 24, creationMonotonicNs)
            st32(p, 32, flags)
            p.storeBytes(of: payloadByteOrder, toByteOffset: 36, as: UInt8.self)
            st32(p, 40, writerChunkSize)
            st32(p, 60, CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 60)))
        }
        return out
    }

    /// Parses a file header from the first bytes of a file. `bytes` may be shorter
    /// or longer than the header. Pure: no I/O, never traps.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(CaptureError) -> CaptureFileHeader {
        let n = bytes.count
        guard n >= 16, let p = bytes.baseAddress else {
            throw .truncatedHeader(offset: 0, have: n, need: 16)
        }
        let le = ByteReader(bytes, order: .little)
        for i in 0..<8 where p.load(fromByteOffset: i, as: UInt8.self) != CaptureFormat.fileMagic[i] {
            throw .badMagic(offset: 0, found: Array(UnsafeRawBufferPointer(start: p, count: 8)))
        }
        let major = le.field(UInt16.self, at: 8), minor = le.field(UInt16.self, at: 10)
        guard CaptureFormat.readableMajorVersions.contains(major) else {
            throw .unsupportedVersion(offset: 8, major: major, minor: minor,
                                      supportedMajor: CaptureFormat.readableMajorVersions.upperBound)
        }
        let hlen = le.field(UInt32.self, at: 12)
        guard hlen >= UInt32(CaptureFormat.fileHeaderSize), hlen <= UInt32(CaptureFormat.maxFileHeaderSize),
              hlen % 8 == 0 else {
            throw .badHeader(offset: 12, reason: "header length \(hlen) is not a multiple of 8 in 64...4096")
        }
        let h = Int(hlen)
        guard n >= h else { throw .truncatedHeader(offset: 0, have: n, need: h) }
        let stored = le.field(UInt32.self, at: h - 4)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: h - 4))
        guard stored == computed else {
            throw .headerChecksumMismatch(offset: UInt64(h - 4), stored: stored, computed: computed)
        }
        return CaptureFileHeader(majorVersion: major, minorVersion: minor, headerLength: hlen,
                                 creationRealtimeNs: le.field(UInt64.self, at: 16),
                                 creationMonotonicNs: le.field(UInt64.self, at: 24),
                                 flags: le.field(UInt32.self, at: 32), payloadByteOrder: le.field(UInt8.self, at: 36),
                                 writerChunkSize: le.field(UInt32.self, at: 40))
    }
}

// MARK: - Chunk header

/// A chunk header (48 bytes).
public struct CaptureChunkHeader: Sendable, Equatable {
    public var flags: UInt16
    /// How the payload stores the records (`CaptureChunkEncoding`), in a
    /// 2.x file; reserved in 1.x, where readers ignore it (`isEncoded(in:)`).
    public var encoding: UInt16
    /// 0 for the first chunk, +1 for each following chunk.
    public var sequence: UInt64
    /// Bytes of records following the header; multiple of 8, at most 64 MiB.
    public var payloadLength: UInt32
    public var recordCount: UInt32
    /// Smallest and largest record timestamp in the chunk (0, 0 if empty).
    public var minTimestamp: UInt64
    public var maxTimestamp: UInt64
    /// CRC-32C of the payload bytes.
    public var payloadCRC: UInt32

    public init(flags: UInt16, encoding: UInt16 = CaptureChunkEncoding.raw.rawValue, sequence: UInt64,
                payloadLength: UInt32, recordCount: UInt32,
                minTimestamp: UInt64, maxTimestamp: UInt64, payloadCRC: UInt32) {
        self.flags = flags
        self.encoding = encoding
        self.sequence = sequence
        self.payloadLength = payloadLength
        self.recordCount = recordCount
        self.minTimestamp = minTimestamp
        self.maxTimestamp = maxTimestamp
        self.payloadCRC = payloadCRC
    }

    /// Total chunk size in the file (header + payload).
    public var totalLength: UInt64 { UInt64(CaptureFormat.chunkHeaderSize) + UInt64(payloadLength) }

    /// Whether the payload must be decoded to get the records, in a file
    /// of major version `major` (1.x has no encodings: the field is reserved).
    public func isEncoded(inMajorVersion major: UInt16) -> Bool {
        major >= CaptureFormat.encodedMajorVersion && encoding != CaptureChunkEncoding.raw.rawValue
    }

    public enum ParseResult: Sendable, Equatable {
        case ok(CaptureChunkHeader)
        /// Fewer than 48 bytes available.
        case needMore
        /// Not a valid chunk header.
        case invalid(CaptureChunkProblem)
    }

    /// Writes the 48-byte header including its checksum at `p`.
    public func encode(into p: UnsafeMutableRawPointer) {
        st32(p, 0, CaptureFormat.chunkMagic)
        st16(p, 4, flags)
        st16(p, 6, encoding)
        st64(p, 8, sequence)
        st32(p, 16, payloadLength)
        st32(p, 20, recordCount)
        st64(p, 24, minTimestamp)
        st64(p, 32, maxTimestamp)
        st32(p, 40, payloadCRC)
        st32(p, 44, CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 44)))
    }

    /// Validates magic, header checksum and payload length. Pure, never traps.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ParseResult {
        guard bytes.count >= CaptureFormat.chunkHeaderSize, let p = bytes.baseAddress else { return .needMore }
        let le = ByteReader(bytes, order: .little)
        let magic = le.field(UInt32.self, at: 0)
        guard magic == CaptureFormat.chunkMagic else {
            return .invalid(.badMagic(magic))
        }
        let stored = le.field(UInt32.self, at: 44)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 44))
        guard stored == computed else {
            return .invalid(.headerChecksum(stored: stored, computed: computed))
        }
        let len = le.field(UInt32.self, at: 16)
        guard len <= UInt32(CaptureFormat.maxChunkPayload) else {
            return .invalid(.payloadTooLong(len))
        }
        guard len % 8 == 0 else {
            return .invalid(.payloadNotAligned(len))
        }
        return .ok(CaptureChunkHeader(flags: le.field(UInt16.self, at: 4), encoding: le.field(UInt16.self, at: 6),
                                      sequence: le.field(UInt64.self, at: 8),
                                      payloadLength: len, recordCount: le.field(UInt32.self, at: 20),
                                      minTimestamp: le.field(UInt64.self, at: 24),
                                      maxTimestamp: le.field(UInt64.self, at: 32),
                                      payloadCRC: le.field(UInt32.self, at: 40)))
    }
}

// MARK: - Pure chunk / record parsing

/// Why bytes are not a chunk: numbers, not text, because a reader resyncing
/// through damaged data asks at every 8 bytes; the one line is made only
/// when shown (`description`, without offset).
public enum CaptureChunkProblem: Sendable, Equatable, CustomStringConvertible {
    case badMagic(UInt32)
    case headerChecksum(stored: UInt32, computed: UInt32)
    case payloadTooLong(UInt32)
    case payloadNotAligned(UInt32)
    case payloadChecksum(stored: UInt32, computed: UInt32)

    public var description: String {
        switch self {
        case .badMagic(let magic): "bad chunk magic \(hex32(magic))"
        case .headerChecksum(let stored, let computed): "chunk header checksum mismatch (stored \(hex32(stored)), computed \(hex32(computed)))"
        case .payloadTooLong(let length): "chunk payload length \(length) exceeds the maximum \(CaptureFormat.maxChunkPayload)"
        case .payloadNotAligned(let length): "chunk payload length \(length) is not a multiple of 8"
        case .payloadChecksum(let stored, let computed): "chunk payload checksum mismatch (stored \(hex32(stored)), computed \(hex32(computed)))"
        }
    }
}

/// Pure, allocation-free parsing of chunks and records held in memory
/// (for tests and fuzzing; the file reader uses the same functions).
public enum CaptureChunk {
    public enum ParseResult: Sendable, Equatable {
        /// A valid chunk: header, and the payload's range within the input bytes.
        case ok(CaptureChunkHeader, payload: Range<Int>)
        /// The input ends inside the chunk; `need` is the chunk's full size if known.
        case needMore(need: Int?)
        case invalid(CaptureChunkProblem)
    }

    /// Parses and checksums one chunk at the start of `bytes`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ParseResult {
        switch CaptureChunkHeader.parse(bytes) {
        case .needMore: return .needMore(need: nil)
        case .invalid(let r): return .invalid(r)
        case .ok(let h):
            let total = CaptureFormat.chunkHeaderSize + Int(h.payloadLength)
            guard bytes.count >= total else { return .needMore(need: total) }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[CaptureFormat.chunkHeaderSize..<total])
            let crc = CRC32C.checksum(payload)
            guard crc == h.payloadCRC else {
                return .invalid(.payloadChecksum(stored: h.payloadCRC, computed: crc))
            }
            return .ok(h, payload: CaptureFormat.chunkHeaderSize..<total)
        }
    }

    /// Result of walking the records of a chunk payload.
    public struct WalkResult: Sendable, Equatable {
        /// Records visited (including the one at which `body` asked to stop).
        public var records: Int
        /// Offset within the payload of the first malformed record, if any.
        public var malformedOffset: Int?
        public var malformedReason: String?
    }

    /// Calls `body(offsetInPayload, type, flags, timestamp, payload)` for each record
    /// of a chunk payload, stopping at the first malformed record. `body` returns
    /// false to stop early. Pure, never traps.
    @discardableResult
    public static func walkRecords(
        _ payload: UnsafeRawBufferPointer,
        _ body: (Int, UInt16, UInt16, UInt64, UnsafeRawBufferPointer) throws -> Bool
    ) rethrows -> WalkResult {
        var result = WalkResult(records: 0)
        guard let base = payload.baseAddress else { return result }
        let le = ByteReader(payload, order: .little)
        let len = payload.count
        var off = 0
        while off < len {
            let rem = len - off
            guard rem >= CaptureFormat.recordHeaderSize else {
                result.malformedOffset = off
                result.malformedReason = "record header truncated (\(rem) bytes left in chunk)"
                return result
            }
            let p = base + off
            let plen = Int(le.field(UInt32.self, at: off + 4))
            let size = CaptureFormat.recordSize(payloadLength: plen)  // plen < 2^32: no overflow
            guard size <= rem else {
                result.malformedOffset = off
                result.malformedReason = "record payload length \(plen) overruns the chunk (\(rem - CaptureFormat.recordHeaderSize) bytes left)"
                return result
            }
            let recPayload = UnsafeRawBufferPointer(start: p + CaptureFormat.recordHeaderSize, count: plen)
            result.records += 1
            if try !body(off, le.field(UInt16.self, at: off), le.field(UInt16.self, at: off + 2),
                         le.field(UInt64.self, at: off + 8), recPayload) { return result }
            off += size
        }
        return result
    }
}

/// `Array.withUnsafeBytes` with a typed-throwing body.
@inline(__always)
func withBytes<R>(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CaptureError) -> R) throws(CaptureError) -> R {
    let r: Result<R, CaptureError> = a.withUnsafeBytes { b in
        Result { () throws(CaptureError) -> R in try body(b) }
    }
    return try r.get()
}
