import CZstd

/// How the records of a chunk are stored: the chunk header's `encoding`
/// (offset 6) in format 2.x, reserved and zero in 1.x
/// (docs/capture-format.md, section 4.3).
public enum CaptureChunkEncoding: UInt16, Sendable {
    /// The records as they are: 1.x's only layout.
    case raw = 0
    /// An 8-byte prefix (u32 decodedLength, u32 frameLength), one zstd
    /// frame holding the records, zero padding to a multiple of 8.
    case zstd = 1
}

/// What the writer does with a chunk's records before writing them.
/// `.none` writes a format 1.0 file (every storetrace reads it); `.zstd`
/// writes 2.0, whose chunks are compressed each on its own, so that any
/// one of them can be read (and damage resynced past) without the others.
public enum CaptureCompression: Sendable, Equatable, CustomStringConvertible {
    case none
    case zstd(level: Int32)

    /// The fastest: on the copy_file_range storm level 3 stored as much
    /// (about 7 bytes an event) for more than twice level 1's added CPU, and
    /// on mixed captures 1-2 % less (BENCHMARKS.md, "Compressed captures").
    public static let defaultZstdLevel: Int32 = 1
    /// zstd's levels without its "ultra" ones, which need far more memory.
    public static let zstdLevels: ClosedRange<Int32> = 1...19
    public static let `default` = CaptureCompression.zstd(level: defaultZstdLevel)

    /// Why a `--compress` value was refused: one line.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// `none`, `zstd` or `zstd:LEVEL`, as `record --compress` takes it.
    public static func parse(_ text: String) throws(ParseError) -> CaptureCompression {
        if text == "none" { return .none }
        if text == "zstd" { return .default }
        let levels = "\(zstdLevels.lowerBound) to \(zstdLevels.upperBound)"
        if text.hasPrefix("zstd:") {
            let digits = text.dropFirst(5)
            if let level = Int32(digits), zstdLevels.contains(level) { return .zstd(level: level) }
            throw ParseError(description: "zstd level '\(digits)' is not a number from \(levels)")
        }
        throw ParseError(description: "'\(text)' is not a compression: none, zstd or zstd:LEVEL (\(levels))")
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .zstd(let level): "zstd:\(level)"
        }
    }

    /// The file format version a writer with this setting writes.
    var formatVersion: (major: UInt16, minor: UInt16) {
        switch self {
        case .none: (CaptureFormat.rawMajorVersion, 0)
        case .zstd: (CaptureFormat.encodedMajorVersion, 0)
        }
    }
}

/// Why the records of a chunk whose checksums are good could not be
/// recovered from its encoded payload. Reported as damage at the chunk's
/// offset; the other chunks are unaffected.
public enum CaptureDecodeProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// An encoding this reader does not know (a new one needs a new major version).
    case unknownEncoding(UInt16)
    /// The payload is shorter than the 8-byte prefix.
    case prefixTruncated(payloadLength: Int)
    /// decodedLength is 0, not a multiple of 8, or above 64 MiB.
    case badDecodedLength(UInt32)
    /// decodedLength is more than 1024 times the stored payload.
    case expansionTooLarge(decodedLength: UInt32, payloadLength: Int)
    /// The frame does not fill the payload up to its last 0-7 bytes of padding.
    case badFrameLength(frameLength: UInt32, payloadLength: Int)
    /// The frame's header does not say how many bytes it holds.
    case frameSizeUndeclared
    /// The frame's header gives another size than the prefix.
    case frameSizeMismatch(declared: UInt64, decodedLength: UInt32)
    /// frameLength bytes are not exactly one zstd frame.
    case notOneFrame(frameLength: UInt32, frameBytes: Int)
    /// The decompressor refused the frame: its error name. "Destination
    /// buffer is too small" is a frame that would produce more than it
    /// declared (a decompression bomb): decoding stops at the declared size.
    case zstd(String)
    /// The frame produced fewer bytes than it declared.
    case shortOutput(got: Int, decodedLength: UInt32)

    public var description: String {
        switch self {
        case .unknownEncoding(let e): "unknown chunk encoding \(e) (this reader knows 0 raw and 1 zstd)"
        case .prefixTruncated(let n): "encoded payload of \(n) bytes is shorter than its 8-byte prefix"
        case .badDecodedLength(let n): "decoded length \(n) is not a multiple of 8 in 8...\(CaptureFormat.maxChunkPayload)"
        case .expansionTooLarge(let n, let p): "decoded length \(n) is over \(CaptureFormat.maxDecodedExpansion) times the \(p)-byte payload"
        case .badFrameLength(let f, let p): "frame length \(f) does not fill the \(p)-byte payload (prefix 8, padding under 8)"
        case .frameSizeUndeclared: "zstd frame does not declare its decompressed size"
        case .frameSizeMismatch(let declared, let n): "zstd frame declares \(declared) bytes, the prefix \(n)"
        case .notOneFrame(let f, let b): "the \(f) frame bytes are not one zstd frame (its frame is \(b) bytes)"
        case .zstd(let name): "zstd: \(name)"
        case .shortOutput(let got, let n): "zstd frame decoded to \(got) bytes, \(n) declared"
        }
    }
}

/// The 8-byte prefix of a zstd chunk's payload, validated against the
/// payload before any decoding (docs/capture-format.md 4.3). Pure.
struct EncodedPayload {
    var decodedLength: UInt32
    var frame: UnsafeRawBufferPointer

    static func parse(_ payload: UnsafeRawBufferPointer) throws(CaptureDecodeProblem) -> EncodedPayload {
        let prefix = CaptureFormat.encodedPrefixSize
        guard payload.count >= prefix, let base = payload.baseAddress else {
            throw .prefixTruncated(payloadLength: payload.count)
        }
        let decoded = UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let frameLength = UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard decoded > 0, decoded % 8 == 0, decoded <= UInt32(CaptureFormat.maxChunkPayload) else {
            throw .badDecodedLength(decoded)
        }
        guard Int(decoded) <= CaptureFormat.maxDecodedExpansion * payload.count else {
            throw .expansionTooLarge(decodedLength: decoded, payloadLength: payload.count)
        }
        // The writer pads the frame to the next multiple of 8, no more.
        let framed = prefix + Int(frameLength)
        guard frameLength > 0, framed <= payload.count, payload.count - framed < 8 else {
            throw .badFrameLength(frameLength: frameLength, payloadLength: payload.count)
        }
        return EncodedPayload(decodedLength: decoded, frame: UnsafeRawBufferPointer(start: base + prefix, count: Int(frameLength)))
    }
}

/// Turns encoded chunk payloads back into records, into a buffer of its
/// own: grown to the largest decoded length met, which is checked (at
/// most 64 MiB, and what the frame itself declares) before anything is
/// allocated, and never written past (zstd stops at the buffer's end).
final class ChunkDecoder {
    private var context: OpaquePointer?
    private var buffer: UnsafeMutableRawPointer?
    private(set) var capacity = 0

    deinit {
        if let context { ZSTD_freeDCtx(context) }
        buffer?.deallocate()
    }

    /// The records of a chunk stored with `encoding`; valid until the next call.
    func decode(encoding: UInt16, payload: UnsafeRawBufferPointer) throws(CaptureDecodeProblem) -> UnsafeRawBufferPointer {
        guard encoding == CaptureChunkEncoding.zstd.rawValue else { throw .unknownEncoding(encoding) }
        let encoded = try EncodedPayload.parse(payload)
        let frame = encoded.frame
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        // ZSTD_CONTENTSIZE_UNKNOWN (-1) and ZSTD_CONTENTSIZE_ERROR (-2): C macros Swift does not import.
        if declared == UInt64.max || declared == UInt64.max - 1 { throw .frameSizeUndeclared }
        guard declared == UInt64(encoded.decodedLength) else {
            throw .frameSizeMismatch(declared: declared, decodedLength: encoded.decodedLength)
        }
        let frameBytes = ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count)
        guard ZSTD_isError(frameBytes) == 0, frameBytes == frame.count else {
            throw .notOneFrame(frameLength: UInt32(frame.count), frameBytes: ZSTD_isError(frameBytes) != 0 ? 0 : frameBytes)
        }
        if context == nil { context = ZSTD_createDCtx() }
        guard let context else { throw .zstd("cannot allocate a decompression context") }
        let n = Int(encoded.decodedLength)
        let out = ensureCapacity(n)
        let got = ZSTD_decompressDCtx(context, out, n, frame.baseAddress, frame.count)
        if ZSTD_isError(got) != 0 { throw .zstd(String(cString: ZSTD_getErrorName(got))) }
        guard got == n else { throw .shortOutput(got: got, decodedLength: encoded.decodedLength) }
        return UnsafeRawBufferPointer(start: out, count: n)
    }

    private func ensureCapacity(_ n: Int) -> UnsafeMutableRawPointer {
        if let buffer, n <= capacity { return buffer }
        buffer?.deallocate()
        capacity = (n + 0xFFFF) & ~0xFFFF
        let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        buffer = grown
        return grown
    }
}

/// Compresses a chunk's records for the writer, on its flush path (no
/// thread: on the copy_file_range storm, level 1 added 0.05-0.09 s of the
/// tracer's CPU per million events, level 3 0.11-0.21 s; BENCHMARKS.md). One zstd context, reused, and an output buffer for the
/// chunk buffer's size; a larger (single-record) chunk gets a temporary one.
final class ChunkEncoder {
    let level: Int32
    private let context: OpaquePointer
    private let output: UnsafeMutableRawPointer
    private let outputCapacity: Int

    /// `chunkCapacity`: the writer's record area, the most one chunk buffer holds.
    init(level: Int32, chunkCapacity: Int) throws(CaptureError) {
        guard CaptureCompression.zstdLevels.contains(level) else {
            throw .invalidArgument("zstd level \(level) is not in \(CaptureCompression.zstdLevels)")
        }
        guard let context = ZSTD_createCCtx() else { throw .invalidArgument("cannot allocate a zstd compression context") }
        // No frame checksum: the chunk's payload CRC covers the stored bytes.
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0)
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1)
        self.level = level
        self.context = context
        outputCapacity = Self.encodedCapacity(chunkCapacity)
        output = UnsafeMutableRawPointer.allocate(byteCount: outputCapacity, alignment: 16)
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    /// Chunk header, prefix, the largest frame of `records` bytes, padding.
    private static func encodedCapacity(_ records: Int) -> Int {
        CaptureFormat.chunkHeaderSize + CaptureFormat.encodedPrefixSize + ((ZSTD_compressBound(records) + 7) & ~7)
    }

    /// A chunk of `records` (a whole number of records, 8-byte aligned)
    /// encoded: `body` gets the buffer with room for the chunk header at
    /// its start, the encoded payload after it, and the payload's length.
    /// Returns nil, without calling `body`, when encoding would not store
    /// fewer bytes (the writer then writes the records raw).
    func encode<R>(_ records: UnsafeRawBufferPointer,
                   _ body: (UnsafeMutableRawPointer, Int) throws(CaptureError) -> R) throws(CaptureError) -> R? {
        let needed = Self.encodedCapacity(records.count)
        let temporary = needed > outputCapacity ? UnsafeMutableRawPointer.allocate(byteCount: needed, alignment: 16) : nil
        defer { temporary?.deallocate() }
        let base = temporary ?? output
        let prefix = CaptureFormat.encodedPrefixSize
        let frameStart = base + CaptureFormat.chunkHeaderSize + prefix
        let frameCapacity = needed - CaptureFormat.chunkHeaderSize - prefix
        let frameLength = ZSTD_compress2(context, frameStart, frameCapacity, records.baseAddress, records.count)
        // An error here is zstd's (its context is sound and the bound was given): write raw.
        guard ZSTD_isError(frameLength) == 0 else { return nil }
        let payloadLength = (prefix + frameLength + 7) & ~7
        guard payloadLength < records.count,
              records.count <= CaptureFormat.maxDecodedExpansion * payloadLength else { return nil }
        let payload = base + CaptureFormat.chunkHeaderSize
        st32(payload, 0, UInt32(records.count))
        st32(payload, 4, UInt32(frameLength))
        let padding = payloadLength - prefix - frameLength
        if padding > 0 { (frameStart + frameLength).initializeMemory(as: UInt8.self, repeating: 0, count: padding) }
        return try body(base, payloadLength)
    }
}
