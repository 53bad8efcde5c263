import CStoretraceABI
import Testing
@testable import StoretraceDecode

/// struct st_claim_event, byte by byte: python3 (pid 812, tid 813) in the
/// initial mount namespace claimed /dev/loop0 (7:0) exclusively, and the
/// kernel granted it.
let grantedClaim: [UInt8] =
    le16(1)                                  // kind: ST_CLAIM_PREPARE
    + le16(64)                               // size: the whole struct
    + le32(7 << 20 | 0)                      // dev: 7:0 in the kernel's encoding (major << 20 | minor)
    + le32(812)                              // pid
    + le32(813)                              // tid
    + le32(4_026_531_832)                    // mntns: the initial namespace's inode
    + le32(0)                                // uid
    + le64(2_000_000_000)                    // ts_ns: CLOCK_MONOTONIC at the claim's return
    + le64(0xffff_8881_03c4_e400)            // holder: the cookie (the O_EXCL open's struct file)
    + le64(0)                                // ret: 0, granted
    + ascii("python3") + [UInt8](repeating: 0, count: 9) // comm[16], NUL-padded

@Suite struct ClaimRecordTests {
    @Test func layoutIsTheHeaders() {
        typealias Event = st_claim_event
        #expect(MemoryLayout<Event>.size == ClaimLayout.size)
        #expect(MemoryLayout<Event>.offset(of: \.dev) == ClaimLayout.dev)
        #expect(MemoryLayout<Event>.offset(of: \.pid) == ClaimLayout.pid)
        #expect(MemoryLayout<Event>.offset(of: \.tid) == ClaimLayout.tid)
        #expect(MemoryLayout<Event>.offset(of: \.mntns) == ClaimLayout.mntns)
        #expect(MemoryLayout<Event>.offset(of: \.uid) == ClaimLayout.uid)
        #expect(MemoryLayout<Event>.offset(of: \.ts_ns) == ClaimLayout.timestamp)
        #expect(MemoryLayout<Event>.offset(of: \.holder) == ClaimLayout.holder)
        #expect(MemoryLayout<Event>.offset(of: \.ret) == ClaimLayout.ret)
        #expect(MemoryLayout<Event>.offset(of: \.comm) == ClaimLayout.comm)
    }

    @Test func decodesAGrantedClaim() throws {
        #expect(grantedClaim.count == 64)
        try grantedClaim.withUnsafeBytes { bytes in
            let claim = try ClaimRecord(validating: bytes)
            #expect(claim.major == 7 && claim.minor == 0)
            #expect(claim.pid == 812 && claim.tid == 813 && claim.uid == 0)
            #expect(claim.mountNamespace == 4_026_531_832)
            #expect(claim.timestamp == 2_000_000_000)
            #expect(ClaimRecord.timestamp(of: bytes) == 2_000_000_000)
            #expect(claim.holder == 0xffff_8881_03c4_e400)
            #expect(claim.returnValue == 0 && claim.errno == nil)
            #expect(text(claim.comm) == "python3")
        }
    }

    /// mount(8) asking for the same device: refused with -EBUSY (-16), and
    /// a minor above 255 (259:65536 style numbers use all 20 bits).
    @Test func decodesARefusedClaimAndWideMinors() throws {
        var bytes = grantedClaim
        bytes.replaceSubrange(4..<8, with: le32(259 << 20 | 0x10001)) // dev: 259:65537
        bytes.replaceSubrange(40..<48, with: le64(UInt64(bitPattern: -16))) // ret: -EBUSY
        bytes.replaceSubrange(48..<64, with: ascii("mount") + [UInt8](repeating: 0, count: 11))
        try bytes.withUnsafeBytes { raw in
            let claim = try ClaimRecord(validating: raw)
            #expect(claim.major == 259 && claim.minor == 65537)
            #expect(claim.returnValue == -16 && claim.errno == 16)
            #expect(text(claim.comm) == "mount")
        }
    }

    @Test func shortWrongSizeAndUnknownKindAreErrors() {
        func decode(_ bytes: [UInt8]) -> ClaimRecordError? {
            bytes.withUnsafeBytes { (raw) -> ClaimRecordError? in
                do throws(ClaimRecordError) { _ = try ClaimRecord(validating: raw); return nil } catch { return error }
            }
        }
        #expect(decode(Array(grantedClaim.prefix(63))) == .short(have: 63, need: 64))
        #expect(decode([]) == .short(have: 0, need: 64))
        var larger = grantedClaim + [0, 0, 0, 0, 0, 0, 0, 0]
        larger.replaceSubrange(2..<4, with: le16(72))
        #expect(decode(larger) == .sizeMismatch(declared: 72))
        var unknown = grantedClaim
        unknown.replaceSubrange(0..<2, with: le16(9))
        #expect(decode(unknown) == .unknownKind(9))
        #expect(ClaimRecordError.unknownKind(9).description == "claim: unknown kind 9")
        // A full comm has no NUL: all 16 bytes are the name.
        var full = grantedClaim
        full.replaceSubrange(48..<64, with: ascii("abcdefghijklmnop"))
        full.withUnsafeBytes { raw in #expect(text(try? ClaimRecord(validating: raw).comm) == "abcdefghijklmnop") }
    }
}
