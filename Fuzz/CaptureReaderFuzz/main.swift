// libFuzzer target for the capture-file reader (docs/capture-format.md, "Fuzzing").
//
// Not a SwiftPM target: scripts/fuzz compiles Sources/StoretraceCapture and this
// file with `swiftc -sanitize=fuzzer,address` into .build-fuzz/. libFuzzer
// provides main(), so this file is compiled with -parse-as-library.
//
// Each input is parsed twice with CaptureFuzz.parse (the real reader: file header,
// chunk resync, chunk decoding (zstd), records, metadata decoders, schema text;
// plus the bare chunk-stream parser):
//   1. as is, which mostly exercises header/checksum rejection and resync;
//   2. with every checksum repaired (see `resealed`), so that mutations inside chunk
//      payloads reach the record walker and the metadata decoders instead of
//      stopping at a CRC mismatch.
// A trap, hang (-timeout), leak, oversized allocation (-malloc_limit_mb), a broken
// invariant below, or the CRC-32C instruction disagreeing with the tables is a finding.
import StoretraceCapture

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    // The reader checksums with the CPU instruction where there is one (CStoretraceCRC);
    // it must agree with the table-driven form at every length and alignment. Both
    // have one loop for 8-byte words and one for the rest, so the first 4 KiB at
    // most (from an offset of 0 to 7) test that; the slow tables on a whole 64 KiB
    // input did not test more.
    if CRC32C.usesHardware {
        let skip = min(size > 0 ? Int(data[0] & 7) : 0, size)
        let part = UnsafeRawBufferPointer(rebasing: input[skip..<min(size, skip + 4096)])
        precondition(CRC32C.update(0x1234_5678, part) == CRC32C.software(0x1234_5678, part),
                     "CRC-32C instruction and tables disagree")
    }
    check(CaptureFuzz.parse(bytes: input), size: size)
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
    defer { copy.deallocate() }
    let bytes = UnsafeMutableRawBufferPointer(rebasing: copy[0..<size])
    if size > 0 { bytes.copyMemory(from: input) }
    if resealed(bytes) {
        check(CaptureFuzz.parse(bytes: UnsafeRawBufferPointer(bytes)), size: size)
    }
    return 0
}

/// Every chunk takes at least 48 bytes and every record 16, and neither reader
/// visits the same bytes twice as records: counts are bounded by the input size,
/// and records by the bytes walked, which a compressed chunk can make at most
/// 1024 times what it stores (CaptureFormat.maxDecodedExpansion).
private func check(_ s: CaptureFuzz.Summary, size: Int) {
    precondition(s.chunks <= UInt64(size / 48) && s.rawChunks <= size / 48, "more chunks than fit in the input")
    let expansion = CaptureFormat.maxDecodedExpansion
    precondition(s.recordBytes <= UInt64(expansion * size) && s.rawRecordBytes <= expansion * size,
                 "more bytes of records than the input can decode to")
    precondition(s.records <= s.recordBytes / 16 && s.rawRecords <= s.rawRecordBytes / 16,
                 "more records than fit in the bytes walked")
}

/// Rewrites the file-header checksum (if the header is otherwise plausible) and, at
/// every 8-aligned "STCK", the chunk's payload CRC (if the payload is present) and
/// header CRC. Returns true if anything changed.
private func resealed(_ b: UnsafeMutableRawBufferPointer) -> Bool {
    guard let p = b.baseAddress else { return false }
    let n = b.count
    func ld32(_ o: Int) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    func ld16(_ o: Int) -> UInt16 { UInt16(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    var changed = false
    func store(_ v: UInt32, at o: Int) {
        if ld32(o) != v {
            p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self)
            changed = true
        }
    }
    func crc(_ o: Int, _ count: Int) -> UInt32 { CRC32C.checksum(UnsafeRawBufferPointer(start: p + o, count: count)) }

    // File header: chunks start at headerLength; a bare chunk stream starts at 0.
    var pos = 0
    if n >= 16, CaptureFormat.fileMagic.indices.allSatisfy({ b[$0] == CaptureFormat.fileMagic[$0] }),
       CaptureFormat.readableMajorVersions.contains(ld16(8)) {
        let hlen = Int(ld32(12))
        if hlen >= CaptureFormat.fileHeaderSize, hlen <= CaptureFormat.maxFileHeaderSize, hlen % 8 == 0, hlen <= n {
            store(crc(0, hlen - 4), at: hlen - 4)
            pos = hlen
        }
    }
    let H = CaptureFormat.chunkHeaderSize
    while pos + H <= n {
        guard ld32(pos) == CaptureFormat.chunkMagic else {
            pos += 8
            continue
        }
        let plen = Int(ld32(pos + 16))
        let fits = plen <= CaptureFormat.maxChunkPayload && plen % 8 == 0 && plen <= n - pos - H
        if fits { store(crc(pos + H, plen), at: pos + 40) }
        store(crc(pos, 44), at: pos + 44)
        pos += fits ? H + plen : 8
    }
    return changed
}
